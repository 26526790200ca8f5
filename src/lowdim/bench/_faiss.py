"""FAISS's nearest equivalent of a lowdim spec, run on the same data for side-by-side ratios."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import faiss
import numpy as np

from ..search import rerank_exact
from ..spec import Spec

__all__ = ["FaissCandidate", "faiss_equivalent"]


@dataclass
class FaissCandidate:
    """A FAISS configuration: how to build it, how to search it, what it costs in RAM."""

    name: str
    train: Callable[[np.ndarray], None]
    add: Callable[[np.ndarray], None]
    search: Callable[[np.ndarray, int], tuple[np.ndarray | None, np.ndarray]]  # (scores or None, ids)
    ram_bytes_per_vector: Callable[[], float]


def _factory_string(spec: Spec) -> str | None:
    """The ``index_factory`` string of the FAISS index lowdim's ``spec`` is measured against, or None."""
    q = spec.quantizer.faiss_equivalent()
    if q is None or q.binary_flat:
        return None  # 1-bit sign codes are compared with IndexBinaryFlat (see faiss_equivalent)
    pre = []
    for t in spec.transforms:
        eq = t.faiss_equivalent()
        if eq is None or not eq.exact or not eq.piece:
            return None  # FAISS has no pre-transform in its factory with these semantics (mrl, rp, itq)
        pre.append(eq.piece)
    return ",".join([*pre, q.piece])


def _sign_codes(X: np.ndarray) -> np.ndarray:
    return np.packbits(X > 0, axis=1, bitorder="little")


def faiss_equivalent(spec: Spec, d: int, metric: str, vectors: np.ndarray) -> FaissCandidate | None:
    """The FAISS index closest to ``spec`` (rerank via ``IndexRefineFlat``), or None.

    ``binary``/``hamming`` map to ``IndexBinaryFlat`` over the sign of each coordinate
    (what FAISS users do: FAISS has no binarizer of its own), reranked with the same
    exact rescoring lowdim uses. ``vectors`` (n, d) float32 are the refine store.
    """
    factor = spec.rerank or 0
    q = spec.quantizer.faiss_equivalent()
    if q is not None and q.binary_flat:
        return _binary_flat(d, metric, vectors, factor) if not spec.transforms else None
    factory = _factory_string(spec)
    if factory is None:
        return None
    fmetric = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
    base = faiss.index_factory(d, factory, fmetric)
    index = base
    if factor:
        refine = faiss.IndexRefineFlat(base)
        refine.k_factor = float(factor)
        index = refine

    def search(Q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return index.search(Q, k)

    def ram() -> float:
        code = base.sa_code_size()
        return code + (4 * d if factor else 0)  # IndexRefineFlat keeps the float vectors in RAM

    name = factory + (f",RFlat×{factor}" if factor else "")
    return FaissCandidate(name, index.train, index.add, search, ram)


def _binary_flat(d: int, metric: str, vectors: np.ndarray, factor: int) -> FaissCandidate:
    index = faiss.IndexBinaryFlat(8 * ((d + 7) // 8))

    def add(X: np.ndarray) -> None:
        index.add(_sign_codes(X))

    def search(Q: np.ndarray, k: int) -> tuple[np.ndarray | None, np.ndarray]:
        _, I = index.search(_sign_codes(Q), k * max(factor, 1))
        if factor:
            return rerank_exact(Q, I.astype(np.int64), vectors, k, metric=metric)
        return None, I[:, :k]

    name = "BinaryFlat(sign)" + (f"+refine{factor}" if factor else "")
    return FaissCandidate(name, lambda X: None, add, search, lambda: index.code_size + (4 * d if factor else 0))
