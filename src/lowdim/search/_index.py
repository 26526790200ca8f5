"""Search over compact codes, with optional exact rerank from full vectors on disk."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..arrays import gather_rows, prepare_rows, to_float32
from ..exceptions import DimensionError, ParameterError
from ..validation import check_embeddings, check_k
from ._topk import pad_value, topk

__all__ = ["SearchResult", "CodeIndex", "search", "rerank_exact"]


@dataclass(frozen=True)
class SearchResult:
    """Fixed-shape search results.

    Attributes
    ----------
    scores : ndarray (n_queries, k) float32
        Higher is better for cosine/ip; squared L2 distance (lower is better) for l2.
        Padding is -inf (cosine/ip) or +inf (l2).
    ids : ndarray (n_queries, k) int64
        Row numbers (or the caller's ids), -1 where fewer than k results exist.

    ``scores, ids = result`` unpacks it.
    """

    scores: np.ndarray
    ids: np.ndarray

    def __iter__(self) -> Iterator[np.ndarray]:
        yield self.scores
        yield self.ids


def rerank_exact(
    queries: np.ndarray,
    candidates: np.ndarray,
    vectors: Any,
    k: int,
    *,
    metric: str,
    chunk: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """Rescore candidate rows exactly against the float ``vectors`` and keep the best ``k``.

    Parameters
    ----------
    queries : (nq, d) float32, already normalised for cosine
    candidates : (nq, c) int64 row numbers into ``vectors``, -1 for none
    vectors : (n, d) array or ``np.memmap`` (float16/float32); only candidate rows are read
    metric : "cosine", "ip" or "l2"

    Returns ``(scores (nq, k) float32, ids (nq, k) int64)``.
    """
    largest = metric != "l2"
    nq = len(queries)
    out_s = np.full((nq, k), pad_value(largest), np.float32)
    out_i = np.full((nq, k), -1, np.int64)
    if nq <= FEW_QUERIES:  # one query at a time: a handful of numpy calls each (the batched path costs ~5x more)
        for qi in range(nq):
            _rerank_one(queries[qi], candidates[qi], vectors, k, metric, out_s[qi], out_i[qi])
        return out_s, out_i
    for start in range(0, nq, chunk):
        cand = candidates[start : start + chunk]
        q = queries[start : start + chunk]
        valid = cand >= 0
        if not valid.any():
            continue
        uniq, inverse = np.unique(cand[valid], return_inverse=True)
        rows = prepare_rows(gather_rows(vectors, uniq), metric, copy=False)  # a fresh gather of sorted ids (sequential reads)
        pos = np.zeros(cand.shape, np.int64)
        pos[valid] = inverse
        # one small product per query over its own candidates (a full q @ rows.T would waste chunk-fold work)
        S = np.matmul(rows[pos], q[:, :, None])[..., 0]
        if metric == "l2":
            S = (q * q).sum(1)[:, None] - 2 * S + (rows * rows).sum(1)[pos]
        ids = np.where(valid, cand, -1)
        s, i = topk(S, k, largest=largest, ids=ids)
        out_s[start : start + chunk] = s
        out_i[start : start + chunk] = i
    return out_s, out_i


#: up to this many queries, :func:`rerank_exact` scores each query's candidates on their own
FEW_QUERIES = 4


def _rerank_one(q: np.ndarray, cand: np.ndarray, vectors: Any, k: int, metric: str, out_s: np.ndarray, out_i: np.ndarray) -> None:
    """Rescore one query's candidates (distinct, read in row order) into ``out_s``/``out_i`` (ties to the lower id)."""
    ids = np.unique(cand[cand >= 0])
    if not len(ids):
        return
    rows = to_float32(gather_rows(vectors, ids))
    s = rows @ q
    if metric != "ip":  # cosine: divide the scores by the norms rather than normalising the rows (zero rows score 0)
        sq = np.einsum("ij,ij->i", rows, rows)
        s = float(q @ q) - 2 * s + sq if metric == "l2" else s / np.where(sq > 0, np.sqrt(sq), 1.0)
    key = s if metric == "l2" else -s
    kk = min(k, len(ids))
    if kk < len(ids):
        part = np.argpartition(key, kk - 1)[:kk]
        order = part[np.lexsort((ids[part], key[part]))]
    else:
        order = np.lexsort((ids, key))
    out_s[:kk] = s[order]
    out_i[:kk] = ids[order]


class CodeIndex:
    """Codes of one fitted :class:`~lowdim.spec.Pipeline`, searchable by float queries.

    Parameters
    ----------
    codec : Pipeline
        Fitted; its metric and ``+rerank`` factor apply.
    codes : (n, code_size) uint8, optional
        Initial codes (more can be added with :meth:`add`).
    vectors : (n, d) array or np.memmap, optional
        Full-precision vectors in the same row order, read only to rerank candidates.

    Examples
    --------
    >>> import numpy as np
    >>> from lowdim.spec import Pipeline
    >>> X = np.random.default_rng(0).normal(size=(500, 32)).astype(np.float32)
    >>> p = Pipeline("int8+rerank2").fit(X)
    >>> scores, ids = CodeIndex(p, p.encode(X), vectors=X).search(X[:3], 5)
    >>> ids[:, 0].tolist()
    [0, 1, 2]
    """

    def __init__(self, codec: Any, codes: np.ndarray | None = None, *, vectors: Any = None) -> None:
        codec._check_fitted()
        self.codec = codec
        self.vectors = vectors
        self.scanner = codec.make_scanner()
        if codes is not None:
            self.add(codes)

    def __len__(self) -> int:
        return self.scanner.ntotal

    @property
    def codes(self) -> np.ndarray:
        return self.scanner.codes

    def add(self, codes: np.ndarray) -> None:
        """Append (n, code_size) uint8 codes (rows continue the numbering)."""
        codes = self.codec.quantizer._check_codes(codes)
        self.scanner.add(codes)

    def search(
        self,
        queries: Any,
        k: int = 10,
        *,
        rerank: int | None = None,
        subset: np.ndarray | None = None,
    ) -> SearchResult:
        """Top-``k`` rows for each query.

        Parameters
        ----------
        queries : (nq, d) float
        k : int
        rerank : int, optional
            Fetch ``rerank * k`` candidates from the codes and rescore them exactly with
            ``vectors``. Defaults to the spec's ``+rerank<N>``; 0 disables it.
        subset : (m,) int, optional
            Only these row numbers are searched (results are still row numbers).

        Returns
        -------
        SearchResult with scores and ids of shape (nq, k).
        """
        k = check_k(k)
        d = self.codec.n_features_in_
        Q = check_embeddings(queries, n_features=d, name="queries", what=f"this {self.codec.to_spec()} index")
        factor = self.codec.rerank if rerank is None else rerank
        if factor is not None and (isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or factor < 0):
            raise ParameterError(f"The 'rerank' parameter must be an integer >= 0. Got {factor!r}.")
        Qt = self.codec.transform(Q, name="queries")
        if not factor:
            D, I = self.scanner.search(Qt, k, subset=subset)
            return SearchResult(D, I)
        if self.vectors is None:
            raise ParameterError(
                f"rerank={factor} needs the full-precision vectors: pass vectors= (an array or np.memmap of shape (n, {d}))"
            )
        if self.vectors.shape[1] != d:
            raise DimensionError(f"vectors have {self.vectors.shape[1]} features, but this index expects {d}")
        _, cand = self.scanner.search(Qt, k * int(factor), subset=subset)
        Qn = self.codec.prepare(Q)
        D, I = rerank_exact(Qn, cand, self.vectors, k, metric=self.codec.metric)
        return SearchResult(D, I)


def search(
    codes: np.ndarray,
    queries: Any,
    k: int = 10,
    *,
    codec: Any,
    vectors: Any = None,
    rerank: int | None = None,
) -> SearchResult:
    """One-shot search of ``queries`` over ``codes`` made by ``codec``.

    See :class:`CodeIndex` (build one to search the same codes repeatedly).

    Examples
    --------
    >>> import numpy as np
    >>> from lowdim.spec import Pipeline
    >>> X = np.random.default_rng(0).normal(size=(300, 16)).astype(np.float32)
    >>> p = Pipeline("f16").fit(X)
    >>> search(p.encode(X), X[:2], 3, codec=p).ids[:, 0].tolist()
    [0, 1]
    """
    return CodeIndex(codec, codes, vectors=vectors).search(queries, k, rerank=rerank)
