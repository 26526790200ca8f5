"""What one process sees of a collection: the committed state it loaded, mirrored in memory.

The writer changes it after each commit; the query side reads it. ``version`` grows
with every change, so that caches built on it (filter masks, graph bitmaps) know when
they are stale.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..arrays import narrow_ids
from ..exceptions import FileFormatError
from ..search import CodeIndex, rerank_exact
from ..spec import Pipeline
from ._catalog import CATALOG_NAME, Catalog, CodecRecord, GraphRecord, SegmentRecord
from ._files import FileInfo, check_file, map_npy, open_npy, verify_mapped
from ._graph import HNSWGraph
from ._ivf import IVFGraph
from ._manifest import Settings
from ._segments import Growable, SegmentedVectors
from ._training import untrained_reason

__all__ = ["State", "without_rowids"]


def without_rowids(seg: SegmentRecord) -> SegmentRecord:
    """``seg`` as the state holds it: without its rowids (8 B/row), which the state's ``rowids`` already has
    (the catalog keeps them; ``lowdim check`` reads them from there)."""
    return dataclasses.replace(seg, rowids=_NO_ROWIDS)


_NO_ROWIDS = np.zeros(0, np.int64)
_NO_ROWIDS.setflags(write=False)


class State:
    """Segments, rows, deletions, codec, codes and graph of one collection as this process sees them.

    Rows are the segments' rows in order; row ``i`` holds the item whose rowid is
    ``rowids[i]`` and is deleted when ``alive[i]`` is False.
    """

    def __init__(self, root: Path, settings: Settings) -> None:
        self.root = root
        self.settings = settings
        self.version = 0
        self.reset()

    def reset(self) -> None:
        s = self.settings
        self.generation = -1
        self.segments: list[SegmentRecord] = []
        self.vectors = SegmentedVectors([], s.dim, s.vector_dtype)
        self.rowids = Growable(np.int64)
        self.alive = Growable(np.bool_)
        self.n_dead = 0
        self.codec: Pipeline | None = None
        self.codec_rec: CodecRecord | None = None
        self.map_recs: dict[str, FileInfo] = {}  # model name -> query map file (loaded on first use)
        self.index: CodeIndex | None = None
        # codes not yet in ``index``, per segment: (file info, raw map, codes view); see codes()
        self.code_maps: list[tuple[FileInfo, np.ndarray, np.ndarray]] = []
        self.graph: HNSWGraph | IVFGraph | None = None
        self.graph_rec: GraphRecord | None = None
        self.graph_rows = np.zeros(0, np.int64)  # row of each graph node (-1: no longer stored)
        self.tail_start = 0  # rows from here on are not in the graph
        self.next_rowid = 0
        self.next_file = 1
        self.next_auto_id = 0
        self.changed()

    def changed(self) -> None:
        """Note a change of rows, deletions, codes or graph (stale caches are dropped by their owners)."""
        self.version += 1

    def __len__(self) -> int:
        return len(self.rowids) - self.n_dead

    # ------------------------------------------------------------------ loading
    def load(self, catalog: Catalog, *, verify: bool = False) -> None:
        """Replace the state with the catalog's committed one, checking every file (``verify``: checksums too)."""
        s, root = self.settings, self.root
        cfg = catalog.config()
        segs = catalog.segments()
        tomb = catalog.tombstones()
        vdtype = np.dtype(s.vector_dtype)
        parts = []
        for seg in segs:
            if verify:
                check_file(root, seg.vectors, crc=True)
            parts.append(open_npy(root, seg.vectors, (seg.n, s.dim), vdtype))
        rowids = np.concatenate([seg.rowids for seg in segs]) if segs else np.zeros(0, np.int64)
        if len(rowids) > 1 and not bool((np.diff(rowids) > 0).all()):
            raise FileFormatError(
                f"{CATALOG_NAME} in collection {root} lists segment rows out of order; run 'lowdim check {root}'"
            )
        alive = np.ones(len(rowids), bool)
        if len(tomb) and len(rowids):
            pos = np.minimum(np.searchsorted(rowids, tomb), len(rowids) - 1)
            hit = rowids[pos] == tomb
            alive[pos[hit]] = False
        codec = None
        rec = catalog.codec()
        code_maps: list = []
        if rec is not None:
            check_file(root, rec.file, crc=True)
            codec = Pipeline.load(root / rec.file.name)
            if codec.n_features_in_ != s.dim or codec.to_spec() != s.spec or codec.metric != s.metric:
                raise FileFormatError(
                    f"{rec.file.name} in collection {root} is a {codec.to_spec()} codec for {codec.n_features_in_} features; "
                    f"the collection expects {s.spec} for {s.dim}; run 'lowdim check {root}'"
                )
            for seg in segs:
                if seg.codes is None:
                    raise FileFormatError(
                        f"segment {seg.seg} of collection {root} has no codes although the collection is trained; "
                        f"run 'lowdim check {root}' to encode it"
                    )
                raw, view = map_npy(root, seg.codes, (seg.n, codec.code_size), np.uint8)
                code_maps.append((seg.codes, raw, view))
        graph: HNSWGraph | IVFGraph | None = None
        graph_rec = None
        if s.index == "hnsw":
            graph_rec = catalog.graph()
            if graph_rec is not None:
                graph = HNSWGraph.load(root, graph_rec, mapped=True, verify_storage=verify)
        elif s.index == "ivf" and codec is not None:
            graph_rec = catalog.graph()
            if graph_rec is not None:
                graph = IVFGraph.load(root, graph_rec, codec, verify_storage=verify)
        self.reset()
        self.generation = int(cfg.get("generation", 0))
        self.next_rowid = int(cfg.get("next_rowid", 0))
        self.next_file = int(cfg.get("next_file", 1))
        self.next_auto_id = int(cfg.get("next_auto_id", 0))
        self.segments = [without_rowids(seg) for seg in segs]
        self.vectors = SegmentedVectors(parts, s.dim, vdtype)
        self.rowids = Growable(np.int64, rowids)
        self.alive = Growable(np.bool_, alive)
        self.n_dead = int((~alive).sum())
        self.codec, self.codec_rec = codec, rec
        self.map_recs = catalog.maps()
        self.code_maps = code_maps
        if graph is not None and graph_rec is not None:
            graph_rec = dataclasses.replace(graph_rec, keys=graph.keys)  # one copy of the node keys, shared
        self.graph, self.graph_rec = graph, graph_rec
        self.refresh_graph_rows()
        if codec is not None and (s.index == "flat" or verify):
            self.codes()  # the codes are the flat index: load (and checksum) them now

    def codes(self) -> CodeIndex:
        """The codes in RAM, loaded on first use.

        A flat collection loads them on open; an HNSW collection searches its graph
        and loads the codes only for what the graph does not cover (filters, vectors
        added since the graph was built), so that reopening it reads little. The files
        were mapped on open, so a compaction that deletes them meanwhile does no harm.
        """
        if self.index is None:
            index = CodeIndex(self.codec, vectors=self.vectors)
            for info, raw, view in self.code_maps:
                verify_mapped(self.root, info, raw)
                index.add(np.asarray(view))
            self.index = index
            self.code_maps = []
        return self.index

    def code_rows(self, rows: np.ndarray) -> np.ndarray:
        """The codes of ``rows`` (row numbers): from RAM when loaded, else read from the mapped segment files."""
        return self.code_reader()(rows)

    def code_reader(self) -> Callable[[np.ndarray], np.ndarray]:
        """A function reading the codes of rows numbered as now, whatever later adds, code loads or releases do
        (a background retrain reads through it while the collection goes on changing)."""
        assert self.codec is not None  # internal invariant: only a trained collection has codes
        if self.index is not None:
            held = self.index.codes
            return lambda rows: held[rows]
        views = [view for _, _, view in self.code_maps]
        off = self.vectors.offsets.copy()
        size = self.codec.code_size

        def read(rows: np.ndarray) -> np.ndarray:
            rows = np.asarray(rows, np.int64)
            out = np.empty((len(rows), size), np.uint8)
            seg = np.searchsorted(off, rows, side="right") - 1
            for g in np.unique(seg):
                sel = seg == g
                out[sel] = views[g][rows[sel] - off[g]]
            return out

        return read

    def release_codes(self) -> None:
        """Drop any copy of the codes in RAM and map them from their files (an IVF collection's lists hold them)."""
        if self.codec is None:
            return
        self.index = None
        size = self.codec.code_size
        self.code_maps = [(g.codes, *map_npy(self.root, g.codes, (g.n, size), np.uint8)) for g in self.segments if g.codes]

    def tail_codes(self) -> CodeIndex:
        """The codes of the rows outside the graph or lists (from ``tail_start`` on), cached until rows change."""
        key = (self.tail_start, len(self.rowids), tuple(g.seg for g in self.segments))
        if self._tail is None or self._tail[0] != key:
            tail = CodeIndex(self.codec, self.code_rows(np.arange(self.tail_start, len(self.rowids), dtype=np.int64)))
            self._tail = (key, tail)
        return self._tail[1]

    _tail: tuple[tuple, CodeIndex] | None = None

    def scan_rows(self, Q: np.ndarray, k: int, factor: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` of these rows only (scores, row numbers), reranked ``factor``-fold; the codes stay where they are."""
        if self.index is not None or self.codec is None:
            res = self.codes().search(Q, k, rerank=factor, subset=rows)
            return res.scores, res.ids
        sub = self.codec.make_scanner()
        sub.add(self.code_rows(rows))
        D, I = sub.search(self.codec.transform(Q, name="queries"), k * max(factor, 1))
        cand = np.where(I >= 0, rows[np.maximum(I, 0)], -1)
        if factor:
            return rerank_exact(self.codec.prepare(Q), cand, self.vectors, k, metric=self.settings.metric)
        return D[:, :k], cand[:, :k]

    def rows_of(self, rowids: np.ndarray) -> np.ndarray:
        """Row numbers of ``rowids`` (-1 for those not stored)."""
        r = self.rowids.values
        rowids = np.asarray(rowids, dtype=np.int64)
        if not len(r):
            return np.full(rowids.shape, -1, np.int64)
        pos = np.minimum(np.searchsorted(r, rowids), len(r) - 1)
        return np.where(r[pos] == rowids, pos, -1)

    def refresh_graph_rows(self) -> None:
        """Recompute which row each graph node is (rows move when segments are merged)."""
        self.changed()
        if self.graph is None or not len(self.graph.keys):
            self.graph_rows = np.zeros(0, np.int64)
            self.tail_start = 0
            return
        self.graph_rows = narrow_ids(self.rows_of(self.graph.keys))
        self.tail_start = int(np.searchsorted(self.rowids.values, self.graph.keys.max(), side="right"))

    def mark_dead(self, rowids: list[int]) -> None:
        """Mirror deletions of these rowids (those still stored)."""
        if not rowids:
            return
        rows = self.rows_of(np.asarray(rowids, np.int64))
        rows = rows[rows >= 0]
        alive = self.alive.values
        newly = rows[alive[rows]]
        alive[newly] = False
        self.n_dead += len(newly)
        self.changed()

    def reserve(self) -> int:
        """A fresh file number (committed with the next transaction that puts ``next_file``)."""
        num = self.next_file
        self.next_file += 1
        return num

    def codec_num(self) -> int:
        """The codec's number, which names codes files; a codec recorded without one gets a fresh number once."""
        rec = self.codec_rec
        assert rec is not None  # callers encode with a codec; internal invariant
        if rec.num is None:
            rec = self.codec_rec = dataclasses.replace(rec, num=self.reserve())
        return rec.num  # type: ignore[return-value]

    # ------------------------------------------------------------------ description
    def files(self) -> list[FileInfo]:
        """Every file the state references."""
        files = []
        for seg in self.segments:
            files.append(seg.vectors)
            if seg.codes is not None:
                files.append(seg.codes)
        if self.codec_rec is not None:
            files.append(self.codec_rec.file)
        if self.graph_rec is not None:
            files += [self.graph_rec.links, self.graph_rec.storage]
        return files + list(self.map_recs.values())

    def referenced(self) -> set[str]:
        return {f.name for f in self.files()}

    @property
    def search_mode(self) -> str:
        """``"exact"`` (no codec yet: full vectors scanned), ``"codes"`` or ``"graph"``."""
        if self.codec is None:
            return "exact"
        return "graph" if self.graph is not None else "codes"

    def untrained_reason(self) -> str | None:
        """Why searches are exact scans (one sentence), or None once the codec is fitted."""
        return None if self.codec is not None else untrained_reason(self.settings, len(self.rowids))

    def _ivf_info(self) -> dict[str, Any]:
        """``nlist`` (built, else as set), default ``nprobe`` and list imbalance of an IVF collection; {} otherwise."""
        s, g = self.settings, self.graph
        if s.index != "ivf":
            return {}
        if not isinstance(g, IVFGraph):
            return {"nlist": s.nlist, "nprobe": s.nprobe, "list_imbalance": None, "partition_rows": None}
        return {"nlist": g.nlist, "nprobe": self.default_probe(), "list_imbalance": g.imbalance(), "partition_rows": g.trained_on}

    def default_probe(self) -> int:
        """The search width when a search gives none: HNSW's ``ef_search``; IVF's ``nprobe``, else an eighth of the lists."""
        s, g = self.settings, self.graph
        if not isinstance(g, IVFGraph):
            return s.ef_search
        return min(s.nprobe or max(1, g.nlist // 8), g.nlist)

    def summary(self) -> dict[str, Any]:
        """The state part of ``manifest.json``: generation, counts and files."""
        n_rows = len(self.rowids)
        return {
            "generation": self.generation,
            "trained": self.codec is not None,
            "code_size": self.codec.code_size if self.codec is not None else None,
            "counts": {
                "rows": n_rows,
                "live": n_rows - self.n_dead,
                "deleted": self.n_dead,
                "segments": len(self.segments),
                "graph_nodes": self.graph.ntotal if self.graph is not None else 0,
            },
            "files": [f.to_dict() for f in self.files()],
        }

    def info(self) -> dict[str, Any]:
        """Settings, counts, training, RAM and disk bytes (a JSON-ready dict; see :meth:`Collection.info`)."""
        s = self.settings
        n_rows = len(self.rowids)
        code_size = self.codec.code_size if self.codec is not None else None
        disk = {"vectors": 0, "codes": 0, "graph": 0, "codec": 0, "catalog": 0}
        for seg in self.segments:
            disk["vectors"] += seg.vectors.size
            disk["codes"] += seg.codes.size if seg.codes is not None else 0
        rec = self.codec_rec
        if rec is not None:
            disk["codec"] = rec.file.size
        if self.graph_rec is not None:
            disk["graph"] = self.graph_rec.links.size + self.graph_rec.storage.size
        for name in (CATALOG_NAME, CATALOG_NAME + "-wal"):
            p = self.root / name
            disk["catalog"] += p.stat().st_size if p.exists() else 0
        ram = {
            "codes": n_rows * code_size if code_size else 0,
            "rowids": n_rows * 9,
            "graph_links": self.graph.nbytes_links if self.graph is not None else 0,
            # each node's rowid and row (4 bytes each below 2**31 rows)
            "graph_keys": self.graph.keys.nbytes + self.graph_rows.nbytes if self.graph is not None else 0,
        }
        return {
            "path": str(self.root),
            "dim": s.dim,
            "metric": s.metric,
            "spec": s.spec,
            "model": s.model,
            "index": s.index,
            "vector_dtype": s.vector_dtype,
            "train_size": s.train_size,
            "trained": self.codec is not None,
            "search_mode": self.search_mode,
            "untrained_reason": self.untrained_reason(),
            "codec_source": rec.source if rec is not None else None,
            "codec_rows": rec.rows if rec is not None else None,
            "code_size": code_size,
            "maps": sorted(self.map_recs),
            "count": len(self),
            "deleted": self.n_dead,
            "rows": n_rows,
            "segments": len(self.segments),
            "graph_nodes": self.graph.ntotal if self.graph is not None else 0,
            **self._ivf_info(),
            "generation": self.generation,
            "ram_bytes": ram,
            "disk_bytes": disk,
            "settings": s.to_dict(),
        }
