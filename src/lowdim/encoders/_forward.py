"""Forward passes of a loaded sentence-transformers model over texts padded batch by batch.

:class:`~lowdim.encoders.TextEncoder` tokenizes all texts once (:func:`token_ids`, unpadded), then
runs them longest first in batches (:func:`forward_batch` pads each batch to its own longest text);
the sentence output reads ``sentence_embedding`` from the features, the token output
``token_embeddings`` and ``attention_mask``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ._text import _Loaded

__all__ = ["forward_batch", "token_ids"]


def token_ids(loaded: _Loaded, texts: list[str]) -> list[list[int]]:
    """Token ids of every text (n lists): special tokens added, truncated at ``max_seq_length``, unpadded."""
    if not texts:
        return []
    ids: list[list[int]] = loaded.tokenizer(
        texts,
        add_special_tokens=True,
        truncation=True,
        max_length=loaded.max_len,
        padding=False,
        return_attention_mask=False,
        return_token_type_ids=False,
    )["input_ids"]
    return ids


def forward_batch(loaded: _Loaded, ids: list[list[int]], rows: np.ndarray) -> dict[str, Any]:
    """Run the texts ``rows`` (b,) of ``ids`` through every module, padded to their longest.

    Returns the modules' features (torch tensors): ``attention_mask`` (b, width),
    ``token_embeddings`` (b, width, d), ``sentence_embedding`` (b, dim). Call it under
    ``torch.inference_mode()``.
    """
    import torch

    width = max(len(ids[i]) for i in rows)
    input_ids = np.full((len(rows), width), loaded.pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for r, i in enumerate(rows):
        seq = ids[i]
        if loaded.pad_left:
            input_ids[r, width - len(seq) :] = seq
            mask[r, width - len(seq) :] = 1
        else:
            input_ids[r, : len(seq)] = seq
            mask[r, : len(seq)] = 1
    features: dict[str, Any] = {
        "input_ids": torch.from_numpy(input_ids).to(loaded.device),
        "attention_mask": torch.from_numpy(mask).to(loaded.device),
    }
    for module in loaded.modules:
        features = module(features)
    return features
