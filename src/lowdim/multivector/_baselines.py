"""The two single-vector first stages MUVERA is judged against: token-level search and pooled vectors.

- :class:`TokenLevelIndex`: every document token in a FAISS flat inner-product index; each
  query token fetches its nearest document tokens and the documents they belong to are the
  candidates (ColBERT v1's end-to-end retrieval), ordered by their best token similarity.
- :func:`pooled_vectors`: one vector per set, the L2-normalised mean of its tokens.
"""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np

from ..arrays import normalize_rows, to_float32
from ..validation import check_choice, check_positive_int
from ._tokens import check_token_sets

__all__ = ["TokenLevelIndex", "pooled_vectors"]

ORDERS = ("best", "rank", "sum")


def pooled_vectors(tokens: Any) -> np.ndarray:
    """The L2-normalised mean of each set's tokens.

    Parameters
    ----------
    tokens : TokenSets, list of (n_i, d) arrays or (rows (N, d), offsets (n + 1,))

    Returns
    -------
    ndarray (n, d) float32, unit rows (a zero mean stays zero)

    Examples
    --------
    >>> import numpy as np
    >>> pooled_vectors([np.array([[3.0, 0.0], [0.0, 4.0]])]).tolist()
    [[0.6000000238418579, 0.800000011920929]]
    """
    ts = check_token_sets(tokens, name="tokens")
    sums = np.add.reduceat(to_float32(ts.rows), ts.offsets[:-1], axis=0)
    return normalize_rows(sums / ts.lengths[:, None].astype(np.float32), copy=False)


class TokenLevelIndex:
    """Token-level single-vector candidates: search each query token over all document tokens (exact, FAISS flat IP).

    Parameters
    ----------
    documents : TokenSets (or any :func:`check_token_sets` form)
        Held in RAM as float32: ``4 * d`` bytes per token (:attr:`bytes_per_document`).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> docs = [rng.normal(size=(4, 8)).astype(np.float32) for _ in range(20)]
    >>> TokenLevelIndex(docs).candidates([docs[3][:2]], 5)[0, 0]
    np.int64(3)
    """

    def __init__(self, documents: Any) -> None:
        ts = check_token_sets(documents, name="documents")
        self.n_features_in_ = ts.dim
        self.n_documents = len(ts)
        self.token_set_ = ts.set_ids()
        self.index_ = faiss.IndexFlatIP(ts.dim)
        self.index_.add(to_float32(ts.rows))

    @property
    def bytes_per_document(self) -> float:
        """RAM per document: its float32 tokens plus an int64 set id each."""
        return len(self.token_set_) * (4 * self.n_features_in_ + 8) / self.n_documents

    def candidates(self, queries: Any, n_candidates: int, *, per_token: int | None = None, order: str = "best") -> np.ndarray:
        """The first ``n_candidates`` documents for each query.

        Parameters
        ----------
        queries : TokenSets of nq sets (or any :func:`check_token_sets` form)
        n_candidates : int
        per_token : int, optional
            Nearest document tokens fetched per query token (default ``n_candidates``).
        order : {"best", "rank", "sum"}
            ``"best"``: by the document's best similarity to any query token; ``"rank"``: by the
            best rank at which any query token's list reaches it (round robin); ``"sum"``: by the
            sum over query tokens of their best retrieved similarity to the document (a lower
            bound of Chamfer when similarities are non-negative).

        Returns
        -------
        ndarray (nq, n_candidates) int64, ``-1`` where fewer documents were reached
        """
        qs = check_token_sets(queries, n_features=self.n_features_in_, name="queries", what="this index")
        c = check_positive_int(n_candidates, "n_candidates", owner="TokenLevelIndex.candidates")
        order = check_choice(order, ORDERS, "order", owner="TokenLevelIndex.candidates")
        kt = check_positive_int(per_token if per_token is not None else c, "per_token", owner="TokenLevelIndex.candidates")
        kt = min(kt, self.index_.ntotal)
        D, I = self.index_.search(to_float32(qs.rows), kt)
        docs = self.token_set_[I]  # (M, kt)
        out = np.full((len(qs), c), -1, np.int64)
        for i in range(len(qs)):
            a, b = qs.offsets[i], qs.offsets[i + 1]
            d_i, s_i = docs[a:b], D[a:b]
            flat_d, flat_s = d_i.ravel(), s_i.ravel()
            primary = np.zeros(len(flat_d), np.int64)
            if order == "rank":
                # round robin over the query tokens' lists: every token's rank 0 (best first), then rank 1, ...
                primary = np.tile(np.arange(kt), b - a)
            elif order == "sum":
                # best hit per (query token, document), then summed over query tokens
                tok = np.repeat(np.arange(b - a), kt)
                key = tok * self.n_documents + flat_d
                o = np.lexsort((-flat_s, key))
                first = np.ones(len(o), bool)
                first[1:] = key[o][1:] != key[o][:-1]
                uniq, inv = np.unique(flat_d[o][first], return_inverse=True)
                flat_d, flat_s = uniq, np.bincount(inv, weights=flat_s[o][first]).astype(np.float32)
                primary = np.zeros(len(flat_d), np.int64)
            ranked = flat_d[np.lexsort((flat_d, -flat_s, primary))]
            _, first_pos = np.unique(ranked, return_index=True)
            ranked = ranked[np.sort(first_pos)][:c]  # each document at its first (best) place, in score order
            out[i, : len(ranked)] = ranked
        return out

    def __repr__(self) -> str:
        return f"TokenLevelIndex(n_documents={self.n_documents}, n_tokens={len(self.token_set_)}, d={self.n_features_in_})"
