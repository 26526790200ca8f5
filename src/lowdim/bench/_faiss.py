"""FAISS's nearest equivalent of a lowdim spec, run on the same data for side-by-side ratios.

Flat specs are compared with FAISS's flat index of the same codes; ``ivf<nlist>/`` specs with
``IVF<nlist>,<codes>`` (4-bit PQ as FAISS ships it, its fast-scan ``PQ<m>x4fs``); ``hnsw<M>/``
specs with ``HNSW<M>,<codes>`` (``IndexHNSWFlat``, ``IndexHNSWSQ``, ``IndexHNSWPQ``). A
``+rerank<N>`` wraps FAISS's index in ``IndexRefineFlat`` with ``k_factor`` N, whose refine
store holds float32 vectors in RAM (counted in its bytes per vector).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import faiss
import numpy as np

from ..search import rerank_exact
from ..spec import IndexSpec, Spec

__all__ = ["FaissCandidate", "faiss_equivalent", "faiss_index_equivalent"]


@dataclass
class FaissCandidate:
    """A FAISS configuration: how to build it, how to search it, what it costs in RAM."""

    name: str
    train: Callable[[np.ndarray], None]
    add: Callable[[np.ndarray], None]
    search: Callable[[np.ndarray, int], tuple[np.ndarray | None, np.ndarray]]  # (scores or None, ids)
    ram_bytes_per_vector: Callable[[], float]
    #: sets the search knob of an index (IVF nprobe, HNSW efSearch); None for flat indexes
    tune: Callable[[int], None] | None = None


def _factory_string(spec: Spec, index: str = "") -> str | None:
    """The ``index_factory`` string of the FAISS index lowdim's ``spec`` is measured against, or None.

    ``index`` is an index piece (``"IVF1024"``, ``"HNSW32"``) put between the transforms and the codes.
    """
    q = spec.quantizer.faiss_equivalent()
    if q is None or q.binary_flat:
        return None  # 1-bit sign codes are compared with IndexBinaryFlat (see faiss_equivalent)
    pre = []
    for t in spec.transforms:
        eq = t.faiss_equivalent()
        if eq is None or not eq.exact or not eq.piece:
            return None  # FAISS has no pre-transform in its factory with these semantics (mrl, rp, itq)
        pre.append(eq.piece)
    piece = q.piece
    if index.startswith("IVF") and q.deploy and q.deploy.endswith("fs"):
        piece = q.deploy  # FAISS's IVF over 4-bit PQ is the fast-scan one (IVF<nlist>,PQ<m>x4fs)
    return ",".join([*pre, *([index] if index else []), piece])


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


def _links_bytes(hnsw: faiss.HNSW) -> int:
    # as CodeGraph.nbytes_links counts them: 4 B per link slot, 8 B per offset, 4 B per level
    return int(hnsw.neighbors.size() * 4 + hnsw.offsets.size() * 8 + hnsw.levels.size() * 4)


def faiss_index_equivalent(ispec: IndexSpec, d: int, metric: str) -> FaissCandidate | None:
    """FAISS's ``IVF<nlist>,<codes>`` or ``HNSW<M>,<codes>`` index for an ``ivf``/``hnsw`` index spec, or None.

    ``tune(value)`` sets ``nprobe`` (IVF) or ``efSearch`` (HNSW, built with efConstruction 40
    as :class:`lowdim.search.CodeGraph`). RAM per vector: IVF code + 8-byte id + centroids
    spread over the rows; HNSW code + links; both + 4·d for the refine store of a ``+rerank``.
    None where FAISS has no such index (sign codes, transforms it lacks, HNSW over RaBitQ).

    Examples
    --------
    >>> from lowdim.spec import parse_index_spec
    >>> faiss_index_equivalent(parse_index_spec("ivf64/pq16x4+rerank4"), 32, "cosine").name
    'IVF64,PQ16x4fs,RFlat×4'
    """
    spec = ispec.codec
    piece = f"IVF{ispec.params['nlist']}" if ispec.kind == "ivf" else f"HNSW{ispec.params['m']}"
    factory = _factory_string(spec, piece)
    if factory is None:
        return None
    fmetric = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
    try:
        base = faiss.index_factory(d, factory, fmetric)
    except RuntimeError:
        return None  # e.g. HNSW over RaBitQ codes: FAISS has no such storage
    factor = spec.rerank or 0
    index = base
    if factor:
        index = faiss.IndexRefineFlat(base)
        index.k_factor = float(factor)
    inner = faiss.downcast_index(base.index) if isinstance(base, faiss.IndexPreTransform) else base
    refine_bytes = 4 * d if factor else 0

    if ispec.kind == "ivf":
        ivf = faiss.extract_index_ivf(base)

        def tune(value: int) -> None:
            ivf.nprobe = int(value)

        def ram() -> float:
            n = max(int(ivf.ntotal), 1)
            return ivf.code_size + 8 + ivf.nlist * ivf.d * 4 / n + refine_bytes

    else:
        inner.hnsw.efConstruction = 40

        def tune(value: int) -> None:
            inner.hnsw.efSearch = int(value)

        def ram() -> float:
            n = max(int(inner.ntotal), 1)
            return inner.storage.sa_code_size() + _links_bytes(inner.hnsw) / n + refine_bytes

    def search(Q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return index.search(Q, k)

    name = factory + (f",RFlat×{factor}" if factor else "")
    return FaissCandidate(name, index.train, index.add, search, ram, tune)
