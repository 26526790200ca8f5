"""Per-token output vectors of a text encoder (``TextEncoder(output="tokens")``), packed as CSR.

A late-interaction (multi-vector) document is one vector per token. The token vectors here are
the model's last-layer outputs before pooling, exactly as sentence-transformers'
``encode(..., output_value="token_embeddings")`` gives them: ``[CLS]`` and ``[SEP]`` kept,
padding dropped, texts truncated like the sentence output, each row L2-normalised when the
encoder normalises. This is how ``shared/data/wordnet-minilm/tokens`` was built.

The result is :class:`TokenVectors`, a ``(rows, offsets)`` named tuple: the encoders part may
not import :mod:`lowdim.multivector`, and a pair is one of the forms its functions accept
(``check_token_sets(enc.encode(texts))`` or ``TokenSets.from_csr(*enc.encode(texts))``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .._atomic import write_atomic
from ..exceptions import FileFormatError

__all__ = ["OUTPUTS", "TokenVectors", "assemble_tokens", "offsets_path"]

#: the values of TextEncoder's ``output`` parameter
OUTPUTS = ("sentence", "tokens")

#: ``forward(rows)`` runs texts ``rows`` (b,) padded to their longest and returns
#: ``(token outputs (b, width, d) float, attention mask (b, width) 0/1)``
Forward = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def offsets_path(rows_path: str | os.PathLike[str]) -> Path:
    """Where :meth:`TokenVectors.save` puts the offsets by default: ``X.npy`` → ``X.offsets.npy``.

    Examples
    --------
    >>> offsets_path("docs.npy").name
    'docs.offsets.npy'
    """
    path = Path(rows_path)
    stem = path.name[: -len(".npy")] if path.name.endswith(".npy") else path.name
    return path.with_name(stem + ".offsets.npy")


class TokenVectors(NamedTuple):
    """The token vectors of n texts in CSR form.

    Attributes
    ----------
    rows : ndarray of shape (N, d), float32
        Every token vector of every text, text after text (N tokens in all).
    offsets : ndarray of shape (n + 1,), int64
        ``offsets[0] == 0``, ``offsets[-1] == N``; text ``i`` has the rows
        ``rows[offsets[i]:offsets[i + 1]]`` (at least 2: ``[CLS]`` and ``[SEP]``).

    A plain pair, so ``TokenSets.from_csr(*tv)`` and every function of
    :mod:`lowdim.multivector` that takes ``(rows, offsets)`` accept it as it is.

    Examples
    --------
    >>> tv = TokenVectors(np.ones((5, 3), np.float32), np.array([0, 2, 5]))
    >>> len(tv.offsets) - 1, tv.lengths.tolist(), tv[1].tolist()
    (2, [2, 3], [0, 2, 5])
    """

    rows: np.ndarray
    offsets: np.ndarray

    @property
    def lengths(self) -> np.ndarray:
        """(n,) int64: tokens per text."""
        return np.diff(self.offsets)

    def save(self, rows_path: str | os.PathLike[str], offsets_file: str | os.PathLike[str] | None = None) -> Path:
        """Write ``rows`` and ``offsets`` as two ``.npy`` files (each all or nothing); return the offsets' path.

        ``offsets_file`` defaults to :func:`offsets_path` of ``rows_path`` (``X.npy`` → ``X.offsets.npy``).

        Examples
        --------
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> TokenVectors(np.ones((3, 2), np.float32), np.array([0, 3])).save(folder / "t.npy").name
        't.offsets.npy'
        """
        target = Path(offsets_file) if offsets_file is not None else offsets_path(rows_path)
        write_atomic(rows_path, lambda fh: np.save(fh, self.rows, allow_pickle=False))
        write_atomic(target, lambda fh: np.save(fh, self.offsets, allow_pickle=False))
        return target


def assemble_tokens(
    ids: Sequence[Sequence[int]],
    forward: Forward,
    *,
    dim: int,
    batch_size: int,
    normalize: bool,
    on_batch: Callable[[int], None] | None = None,
) -> TokenVectors:
    """Run every text through ``forward`` in batches and pack the unpadded token outputs as CSR.

    Parameters
    ----------
    ids : sequence of n token-id lists
        The tokenizer's output per text, special tokens included, already truncated;
        ``len(ids[i])`` is how many vectors text ``i`` gets.
    forward : callable
        ``forward(rows)`` → ``(tokens (b, width, dim), mask (b, width))`` for the texts ``rows``;
        the rows of ``tokens`` where ``mask`` is 1 are the text's tokens, in order.
    dim : int
        Token width d (the result's width also when n is 0).
    batch_size : int
        Texts per ``forward`` call.
    normalize : bool
        L2-normalise every token vector.
    on_batch : callable, optional
        Called with the number of texts after every ``forward``.

    Returns
    -------
    TokenVectors
        ``rows`` (N, dim) float32 in text order, ``offsets`` (n + 1,) int64.

    Examples
    --------
    >>> def forward(rows):  # a fake model: token j of every text is [j, 1]
    ...     width = 3
    ...     tokens = np.stack([np.arange(width), np.ones(width)], axis=1)[None].repeat(len(rows), 0)
    ...     mask = np.array([[1] * len(ids[r]) + [0] * (width - len(ids[r])) for r in rows])
    ...     return tokens, mask
    >>> ids = [[101, 102], [101, 7, 102]]
    >>> tv = assemble_tokens(ids, forward, dim=2, batch_size=8, normalize=False)
    >>> tv.offsets.tolist(), tv.rows[:, 0].tolist()
    ([0, 2, 5], [0.0, 1.0, 0.0, 1.0, 2.0])
    """
    n = len(ids)
    lengths = np.fromiter((len(row) for row in ids), dtype=np.int64, count=n)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    rows = np.empty((int(offsets[-1]), dim), dtype=np.float32)
    # Longest first, batched: the least padding (padding changes nothing: attention is masked).
    order = np.argsort(-lengths, kind="stable")
    for start in range(0, n, batch_size):
        batch = order[start : start + batch_size]
        tokens, mask = forward(batch)
        if tokens.ndim != 3 or tokens.shape[2] != dim:
            raise FileFormatError(f"the model's token output has shape {tokens.shape}; expected (batch, seq, {dim})")
        keep = np.asarray(mask).astype(bool)
        for r, i in enumerate(batch):
            got = np.asarray(tokens[r][keep[r]], dtype=np.float32)
            if len(got) != lengths[i]:  # the tokenizer and the model disagree: never silently misalign
                raise FileFormatError(f"text {int(i)} has {int(lengths[i])} tokens but the model returned {len(got)} outputs")
            rows[offsets[i] : offsets[i + 1]] = got
        if on_batch is not None:
            on_batch(len(batch))
    if normalize:
        for start in range(0, len(rows), 1 << 16):
            block = rows[start : start + (1 << 16)]
            block /= np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-12)
    return TokenVectors(rows, offsets)
