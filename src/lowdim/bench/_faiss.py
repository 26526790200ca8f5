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
    search: Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]
    ram_bytes_per_vector: Callable[[], float]


def _factory_string(spec: Spec) -> str | None:
    q = spec.quantizer
    base = {"f32": "Flat", "f16": "SQfp16", "int8": "SQ8", "int4": "SQ4"}.get(q.keyword)
    if q.keyword == "pq":
        base = f"PQ{q.args[0]}x{q.args[1]}" if q.args[1] != 8 else f"PQ{q.args[0]}"
    if q.keyword in ("rbq", "rabitq"):
        base = "RaBitQ" if q.args[0] == 1 else f"RaBitQ{q.args[0]}"
    if base is None:
        return None
    pre = []
    for t in spec.transforms:
        if t.keyword == "pca":
            pre.append(f"PCA{t.args[0]}")
        elif t.keyword == "opq":
            pre.append(f"OPQ{t.args[0]}")
        else:
            return None  # FAISS has no mrl/rp/itq pre-transform in its factory with these semantics
    return ",".join(pre + [base])


def _sign_codes(X: np.ndarray) -> np.ndarray:
    return np.packbits(X > 0, axis=1, bitorder="little")


def faiss_equivalent(spec: Spec, d: int, metric: str, vectors: np.ndarray) -> FaissCandidate | None:
    """The FAISS index closest to ``spec`` (rerank via ``IndexRefineFlat``), or None.

    ``binary``/``hamming`` map to ``IndexBinaryFlat`` over the sign of each coordinate
    (what FAISS users do: FAISS has no binarizer of its own), reranked with the same
    exact rescoring lowdim uses. ``vectors`` (n, d) float32 are the refine store.
    """
    fmetric = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
    factor = spec.rerank or 0
    if spec.quantizer.keyword in ("binary", "hamming") and not spec.transforms:
        index = faiss.IndexBinaryFlat(8 * ((d + 7) // 8))

        def add(X: np.ndarray) -> None:
            index.add(_sign_codes(X))

        def search(Q: np.ndarray, k: int):
            _, I = index.search(_sign_codes(Q), k * max(factor, 1))
            if factor:
                return rerank_exact(Q, I.astype(np.int64), vectors, k, metric=metric)
            return None, I[:, :k]

        name = "BinaryFlat(sign)" + (f"+refine{factor}" if factor else "")
        return FaissCandidate(name, lambda X: None, add, search, lambda: index.code_size + (4 * d if factor else 0))
    factory = _factory_string(spec)
    if factory is None:
        return None
    base = faiss.index_factory(d, factory, fmetric)
    index = faiss.IndexRefineFlat(base) if factor else base
    if factor:
        index.k_factor = float(factor)

    def search(Q: np.ndarray, k: int):
        return index.search(Q, k)

    def ram() -> float:
        code = base.sa_code_size()
        return code + (4 * d if factor else 0)  # IndexRefineFlat keeps the float vectors in RAM

    name = factory + (f",RFlat×{factor}" if factor else "")
    return FaissCandidate(name, index.train, index.add, search, ram)
