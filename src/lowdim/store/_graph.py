"""The HNSW graph of a collection: FAISS ``IndexHNSWSQ`` over float16 copies of the vectors.

The graph is kept as two files so that reopening costs little:

* ``links`` — the HNSW structure alone (``IO_FLAG_SKIP_STORAGE``), verified against
  its CRC-32 on open (a damaged neighbour list could make the search read out of
  bounds, so it is always checked) and then memory-mapped (``IO_FLAG_MMAP_IFC``);
* ``storage`` — the float16 vectors (``IndexScalarQuantizer``, ``QT_fp16``),
  memory-mapped on open (``IO_FLAG_MMAP_IFC``): size-checked, paged in by the OS as
  the search touches it, CRC-checked by ``check``.

Node ``i`` of the graph is the item whose rowid is ``keys[i]``; rowids never change,
so compaction (which renumbers rows) keeps the graph valid. Deleted nodes stay in
the graph and are skipped with an ``IDSelectorBitmap`` until the graph is rebuilt.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from ..arrays import narrow_ids
from ..exceptions import FileFormatError
from ._catalog import GraphRecord
from ._files import TMP_SUFFIX, FileInfo, check_file, file_crc32, fsync_dir

__all__ = ["HNSWGraph"]


def _faiss_metric(metric: str) -> int:
    return faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT


def _write_index(index: Any, root: Path, name: str, flags: int = 0) -> FileInfo:
    path = root / name
    tmp = path.with_name(path.name + TMP_SUFFIX)
    faiss.write_index(index, str(tmp), flags) if flags else faiss.write_index(index, str(tmp))
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    crc = file_crc32(tmp)
    size = tmp.stat().st_size
    tmp.replace(path)
    fsync_dir(path.parent)
    return FileInfo(name, size, crc)


class HNSWGraph:
    """An HNSW graph over float16 vectors, searchable with a per-call ``ef`` and an allowed-node bitmap."""

    def __init__(self, index: Any, storage: Any, keys: np.ndarray, *, mapped: bool) -> None:
        self.index = index
        self.storage = storage  # kept referenced: the HNSW index does not own it
        self.keys = narrow_ids(keys)
        self.mapped = mapped

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @classmethod
    def empty(cls, dim: int, metric: str, *, m: int, ef_construction: int) -> HNSWGraph:
        index = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_fp16, m, _faiss_metric(metric))
        index.hnsw.efConstruction = ef_construction
        index.train(np.zeros((1, dim), np.float32))  # fp16 needs no statistics
        return cls(index, index.storage, np.zeros(0, np.int64), mapped=False)

    def add(self, vectors: np.ndarray, keys: np.ndarray) -> None:
        """Insert (n, d) float32 vectors (prepared: normalised for cosine) with their rowids."""
        if self.mapped:
            raise RuntimeError("a memory-mapped graph is read-only; call owned() first")
        self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        self.keys = narrow_ids(np.concatenate([self.keys.astype(np.int64), np.asarray(keys, dtype=np.int64)]))

    def save(self, root: Path, stem: str) -> GraphRecord:
        """Write ``stem.links.faiss`` and ``stem.storage.faiss`` under ``root`` (atomic, fsynced)."""
        links = _write_index(self.index, root, f"{stem}.links.faiss", faiss.IO_FLAG_SKIP_STORAGE)
        storage = _write_index(self.storage, root, f"{stem}.storage.faiss")
        return GraphRecord(self.ntotal, links, storage, self.keys)  # shared: keys are replaced on add, never changed in place

    @classmethod
    def load(cls, root: Path, rec: GraphRecord, *, mapped: bool = True, verify_storage: bool = False) -> HNSWGraph:
        """Open a saved graph; the storage is memory-mapped unless ``mapped=False``."""
        check_file(root, rec.links, crc=True)
        check_file(root, rec.storage, crc=verify_storage)
        try:
            mmap = faiss.IO_FLAG_MMAP_IFC if mapped else 0
            index = faiss.read_index(str(root / rec.links.name), faiss.IO_FLAG_SKIP_STORAGE | mmap)
            storage = faiss.read_index(str(root / rec.storage.name), mmap)
        except RuntimeError as exc:
            raise FileFormatError(
                f"graph file of collection {root} cannot be read ({str(exc).splitlines()[0]}); run 'lowdim check {root}'"
            ) from None
        # read_index returns owning proxies of the concrete classes (no downcast: that would
        # create a second proxy and let the first one free the index).
        if index.ntotal != rec.n or storage.ntotal != rec.n or len(rec.keys) != rec.n:
            raise FileFormatError(
                f"{rec.links.name} in collection {root} holds {index.ntotal} nodes and its storage {storage.ntotal}; "
                f"the catalog expects {rec.n}; run 'lowdim check {root}'"
            )
        index.storage = storage
        index.own_fields = False
        return cls(index, storage, rec.keys, mapped=mapped)

    def owned(self, root: Path, rec: GraphRecord) -> HNSWGraph:
        """An in-memory (extendable) copy of this graph (a mapped one is read-only: FAISS aborts on a write)."""
        if not self.mapped:
            return self
        return HNSWGraph.load(root, rec, mapped=False)

    @staticmethod
    def bitmap(allowed: np.ndarray) -> np.ndarray:
        """Pack a (ntotal,) bool mask of allowed nodes for :meth:`search`."""
        return np.packbits(np.asarray(allowed, dtype=bool), bitorder="little")

    def search(self, queries: np.ndarray, k: int, *, ef: int, bitmap: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` graph nodes for (nq, d) prepared float32 queries: ``(scores, node numbers or -1)``.

        ``bitmap`` (from :meth:`bitmap`) restricts the results to the allowed nodes.
        """
        params = faiss.SearchParametersHNSW(efSearch=int(max(ef, k)))
        if bitmap is not None:
            sel = faiss.IDSelectorBitmap(self.ntotal, faiss.swig_ptr(bitmap))
            params.sel = sel
        D, I = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), int(k), params=params)
        return D.astype(np.float32), I.astype(np.int64)

    @property
    def nbytes_links(self) -> int:
        h = self.index.hnsw
        return int(h.neighbors.size() * 4 + h.offsets.size() * 8 + h.levels.size() * 4)
