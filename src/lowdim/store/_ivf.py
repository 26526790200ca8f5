"""The inverted-file index of a collection (``index="ivf"``): lowdim's codes in IVF lists.

The collection keeps it as its *graph* (the sub-linear index slot an HNSW collection
fills with :class:`~lowdim.store._graph.HNSWGraph`), with the same interface, so the
writer's upkeep and the query side serve both:

* ``{stem}.coarse.npz`` — the coarse centroids and the training record (rows the
  partition was trained on), CRC-checked on open;
* ``{stem}.lists.npz`` — the inverted lists: each list's codes (the collection's own
  codes, not re-encoded) and node numbers.

Node ``i`` is the item whose rowid is ``keys[i]``; rowids never change, so compaction
keeps the index valid. Deleted nodes stay in their lists and are skipped through the
allowed-node filter until the index is rebuilt. Both files are written once (temp
file, fsync, rename) and registered by the catalog transaction that follows.
"""

from __future__ import annotations

import io
import json
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..arrays import block_rows, iter_slices, narrow_ids
from ..exceptions import FileFormatError
from ..search import IdFilter, IVFIndex
from ._catalog import GraphRecord
from ._files import FileInfo, check_file, write_bytes

__all__ = ["IVFGraph"]


def _write_npz(root: Path, name: str, arrays: dict[str, np.ndarray]) -> FileInfo:
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as allow_pickle
    data = buf.getvalue()
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, data)
    return FileInfo(name, len(data), zlib.crc32(data))


def _read_npz(root: Path, info: FileInfo) -> dict[str, np.ndarray]:
    try:
        with np.load(root / info.name, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise FileFormatError(
            f"IVF file {info.name} of collection {root} cannot be read ({type(exc).__name__}); run 'lowdim check {root}'"
        ) from None


class IVFGraph:
    """A collection's IVF index over its codes, searchable with a per-call ``nprobe`` and an allowed-node filter."""

    def __init__(self, index: IVFIndex, keys: np.ndarray, *, trained_on: int, trained_imbalance: float | None = None) -> None:
        self.index = index
        self.keys = narrow_ids(keys)
        #: rows the partition was trained on (it is retrained once the collection outgrows it)
        self.trained_on = int(trained_on)
        #: largest list over the mean when the lists were first filled (real data is never balanced:
        #: wordnet-minilm starts at 3.2), the baseline that drift is measured against
        self.trained_imbalance = trained_imbalance
        self.mapped = False

    @property
    def ntotal(self) -> int:
        return len(self.keys)

    @property
    def nlist(self) -> int:
        return self.index.nlist

    @classmethod
    def trained(cls, codec: Any, sample: np.ndarray, *, nlist: int, nprobe: int, random_state: int, n_rows: int) -> IVFGraph:
        """An empty index whose partition is trained on ``sample`` (float rows) for a collection of ``n_rows``."""
        index = IVFIndex(codec, nlist=nlist, nprobe=min(nprobe, nlist), random_state=random_state).train(sample)
        return cls(index, np.zeros(0, np.int64), trained_on=n_rows)

    def add(self, vectors: np.ndarray, keys: np.ndarray, codes: np.ndarray) -> None:
        """Insert rows: their float ``vectors`` (to pick each one's list), rowids ``keys`` and ``codes``."""
        start = self.ntotal
        ids = np.arange(start, start + len(keys), dtype=np.int64)
        self.index.add(np.ascontiguousarray(codes), ids, vectors=vectors)
        self.keys = narrow_ids(np.concatenate([self.keys.astype(np.int64), np.asarray(keys, dtype=np.int64)]))

    def add_rows(
        self,
        rows: np.ndarray,
        vectors: Any,
        rowids: np.ndarray,
        read_codes: Callable[[np.ndarray], np.ndarray],
        *,
        stop: threading.Event | None = None,
    ) -> bool:
        """Insert a collection's ``rows`` (row numbers) in blocks: their float ``vectors[rows]``, ``rowids``
        (aligned with ``rows``) and codes from ``read_codes(rows)``; False if ``stop`` was set between blocks."""
        for sl in iter_slices(len(rows), 4 * block_rows(self.index.d)):
            if stop is not None and stop.is_set():
                return False
            block = rows[sl]
            self.add(np.asarray(vectors[block], dtype=np.float32), rowids[sl], read_codes(block))
        return True

    def settle(self) -> None:
        """Note the list balance of freshly filled lists as the baseline for :meth:`drifted`."""
        if self.trained_imbalance is None and self.ntotal:
            self.trained_imbalance = self.imbalance()

    def drifted(self, rows: int, *, regrow: float, imbalance: float) -> bool:
        """Whether the partition should be retrained: the collection holds ``regrow`` times the rows it was
        trained on, or its largest list has grown past ``imbalance`` times the mean and 1.5 times its
        balance when first filled."""
        if rows >= regrow * self.trained_on:
            return True
        if self.ntotal < 4 * self.nlist:
            return False
        return self.imbalance() > max(imbalance, 1.5 * (self.trained_imbalance or 0.0))

    def save(self, root: Path, stem: str) -> GraphRecord:
        """Write ``stem.coarse.npz`` and ``stem.lists.npz`` under ``root`` (atomic, fsynced)."""
        meta, coarse, lists = self.index.to_arrays()
        meta = {**meta, "trained_on": self.trained_on, "trained_imbalance": self.trained_imbalance}
        header = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
        c = _write_npz(root, f"{stem}.coarse.npz", {"__meta__": header, **coarse})
        s = _write_npz(root, f"{stem}.lists.npz", lists)
        return GraphRecord(self.ntotal, c, s, self.keys)  # shared: keys are replaced on add, never changed in place

    @classmethod
    def load(cls, root: Path, rec: GraphRecord, codec: Any, *, verify_storage: bool = False) -> IVFGraph:
        """Open a saved index (the coarse file is always CRC-checked, the lists when ``verify_storage``)."""
        check_file(root, rec.links, crc=True)
        check_file(root, rec.storage, crc=verify_storage)
        coarse = _read_npz(root, rec.links)
        lists = _read_npz(root, rec.storage)
        try:
            meta = json.loads(coarse.pop("__meta__").tobytes().decode())
        except (KeyError, UnicodeDecodeError, json.JSONDecodeError):
            raise FileFormatError(f"IVF file {rec.links.name} of collection {root} has no readable header") from None
        index = IVFIndex.from_arrays(codec, meta, coarse, lists)
        if len(index) != rec.n or len(rec.keys) != rec.n:
            raise FileFormatError(
                f"{rec.storage.name} in collection {root} holds {len(index)} entries; the catalog expects {rec.n}; "
                f"run 'lowdim check {root}'"
            )
        base = meta.get("trained_imbalance")
        return cls(
            index,
            rec.keys,
            trained_on=int(meta.get("trained_on", rec.n)),
            trained_imbalance=None if base is None else float(base),
        )

    def owned(self, root: Path, rec: GraphRecord) -> IVFGraph:
        """This index (it is held in memory, so it can be extended in place)."""
        return self

    @staticmethod
    def bitmap(allowed: np.ndarray) -> IdFilter:
        """The allowed-node filter for :meth:`search` from a (ntotal,) bool mask."""
        return IdFilter(np.asarray(allowed, dtype=bool))

    def search(self, queries: np.ndarray, k: int, *, ef: int, bitmap: IdFilter | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` nodes for (nq, d) float32 queries from their ``ef`` (= nprobe) nearest lists."""
        res = self.index.search(queries, k, nprobe=min(int(ef), self.nlist), rerank=0, allowed=bitmap)
        return res.scores, res.ids

    def imbalance(self) -> float:
        """Largest list over the mean list size."""
        return float(self.index.stats().imbalance)

    @property
    def nbytes_links(self) -> int:
        """RAM of the index beyond the codes: ids (8 B each) and centroids."""
        return int(self.ntotal * 8 + self.nlist * self.index.d * 4)
