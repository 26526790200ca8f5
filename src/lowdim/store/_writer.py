"""The write side of a collection: the durability protocol, inserts, deletes, training, compaction and graph upkeep.

Every change follows one protocol: write new files (temp name, fsync, rename, fsync
folder), then commit one catalog transaction that references them, then mirror the
change in the in-memory :class:`~lowdim.store._state.State` and rewrite the manifest.
The commit is the acknowledgement. A change that fails before its commit deletes its
files (:meth:`Writer.abort`); files nobody references any more are collected by the
next writer (:meth:`Writer.collect_garbage`), and ``lowdim check`` calls the same
public methods.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from typing import Any

import numpy as np

from .._lock import FileLock
from ..arrays import block_rows, iter_slices
from ..exceptions import ConflictError, FileFormatError, ValidationError
from ..search import CodeIndex
from ..spec import Pipeline
from ..validation import check_embeddings, check_positive_int
from ._catalog import Catalog, CodecRecord, SegmentRecord
from ._files import FileInfo, map_npy, open_npy, write_npy, write_npy_blocks
from ._filters import check_metadata, index_rows
from ._layout import OPEN_LOCK, WRITER_LOCK, codes_name, fsync_folders, garbage, unlink, vectors_name
from ._manifest import Settings, read_manifest, write_manifest
from ._records import IdLike, check_ids
from ._segments import Growable, SegmentedVectors
from ._state import State, without_rowids
from ._training import first_rows, fit_codec, save_codec, should_fit
from ._upkeep import IndexUpkeep

__all__ = ["Writer"]

_FLOAT16_MAX = 65504.0


class Writer(IndexUpkeep):
    """Changes one collection under its writer lock (taken by the first change, held until :meth:`close`)."""

    #: more segments than this after an add merge the ``merge_width`` smallest neighbours
    max_segments: int = 16
    merge_width: int = 8

    def __init__(self, settings: Settings, catalog: Catalog, state: State, *, readonly: bool) -> None:
        self.root = state.root
        self.settings = settings
        self.catalog = catalog
        self.state = state
        self.readonly = readonly
        self.wlock = FileLock(self.root / WRITER_LOCK)
        self.olock = FileLock(self.root / OPEN_LOCK)
        self.retrain = None

    @property
    def held(self) -> bool:
        """Whether this process holds the writer lock (then its state is always the latest)."""
        return self.wlock.held

    def close(self) -> None:
        self.cancel_retrain()
        self.wlock.release()
        self.olock.release()

    # ------------------------------------------------------------------ the protocol
    def reload(self, *, verify: bool = False) -> None:
        """Load the latest committed state (a reader pins it as its snapshot)."""
        if self.held:
            self.state.load(self.catalog, verify=verify)
            return
        # Shared while files are being opened: the writer deletes obsolete files only
        # when nobody holds it (files already mapped or read survive their unlink).
        self.olock.acquire(exclusive=False, blocking=True)
        try:
            self.catalog.pin()
            self.state.load(self.catalog, verify=verify)
        finally:
            self.olock.release()

    def begin(self) -> None:
        """Make sure this process may write: take the writer lock once, catch up, collect leftovers, fix a stale manifest."""
        if self.readonly:
            raise ConflictError(
                f"collection {self.root} was opened with readonly=True; open it with Collection.open(path) to write"
            )
        if self.held:
            return
        if not self.wlock.acquire(exclusive=True, blocking=False):
            raise ConflictError(
                f"collection {self.root} is being written by another process (pid {self.wlock.owner()}); "
                f"one writer at a time: wait until it closes the collection, or open it with readonly=True to search"
            )
        try:
            self.wlock.write_owner()
            self.catalog.unpin()
            if self.catalog.get("generation") != self.state.generation:
                self.state.load(self.catalog)
            self.collect_garbage()
            manifest_gen = None
            try:
                manifest_gen = read_manifest(self.root).get("generation")
            except FileFormatError:
                pass
            if manifest_gen != self.state.generation:
                self.write_manifest()
        except BaseException:
            self.wlock.release()
            raise

    def abort(self, written: list[str]) -> None:
        """Undo the files of a change that failed: delete them unless the change did commit.

        An exception (say KeyboardInterrupt) can arrive just after COMMIT returned; the
        catalog, not the control flow, says whether the files are referenced.
        """
        try:
            committed = self.catalog.referenced() & set(written)
        except Exception:  # cannot tell: keep them; the next writer collects unreferenced ones
            return
        unlink(self.root, [w for w in written if w not in committed])
        if committed:
            self.state.load(self.catalog)  # it did commit: mirror the committed state

    def garbage(self) -> list[str]:
        """Files of the collection no committed state references (see :func:`._layout.garbage`)."""
        return garbage(self.root, self.state.referenced())

    def collect_garbage(self) -> list[str]:
        """Delete the :meth:`garbage` (interrupted writes, replaced segments); return what was deleted."""
        names = self.garbage()
        if not names or not self.olock.acquire(exclusive=True, blocking=False):
            return []  # a reader is opening files right now: collect them next time
        try:
            unlink(self.root, names)
        finally:
            self.olock.release()
        fsync_folders(self.root)
        return names

    def write_manifest(self) -> None:
        """Rewrite ``manifest.json`` from the state."""
        write_manifest(self.root, self.settings, self.state.summary())

    def _committed(self) -> None:
        self.state.generation += 1
        self.state.changed()

    # ------------------------------------------------------------------ inserts and deletes
    def add(
        self,
        vectors: Any,
        ids: Any,
        metadata: Any,
        *,
        model: str | None,
        replace: bool,
        batch_size: int | None = None,
        texts: list[str] | None = None,
    ) -> list[IdLike]:
        """Store ``vectors`` (n, dim) under ``ids`` (None: automatic) in durable batches of ``batch_size`` rows.

        ``replace``: items that already have one of the ids are replaced (upsert);
        otherwise such ids are refused. Each batch is one commit. ``texts``: the n texts the
        vectors embed, kept with the items (text collections).
        """
        self.begin()
        s = self.settings
        s.check_model(model)
        if batch_size is not None:
            batch_size = check_positive_int(batch_size, "batch_size", owner="add")
        lazy = batch_size is not None and isinstance(vectors, np.ndarray) and vectors.ndim == 2 and len(vectors) > batch_size
        X = check_embeddings(vectors[:batch_size] if lazy else vectors, n_features=s.dim, name="X", what=s.describe())
        n = len(vectors) if lazy else len(X)
        uids = None if ids is None else check_ids(ids, n, unique=True)
        metas = check_metadata(metadata, n)
        if not replace and uids is not None:
            clash = self.catalog.rowids_of(uids)
            if clash:
                shown = ", ".join(repr(u) for u in list(clash)[:5])
                raise ConflictError(
                    f"{len(clash)} of the {n} ids are already in this collection ({shown}); use upsert() to replace them"
                )
        out: list[IdLike] = []
        for sl in iter_slices(n, batch_size or n):
            if lazy:
                Xb = X if sl.start == 0 else check_embeddings(vectors[sl], n_features=s.dim, name="X", what=s.describe())
            else:
                Xb = X[sl]
            tb = None if texts is None else texts[sl]
            out += self._insert(Xb, None if uids is None else uids[sl], metas[sl], replace=replace, texts=tb)
            self.after_write()
        return out

    def _insert(
        self, X: np.ndarray, uids: list[IdLike] | None, metas: list[str | None], *, replace: bool, texts: list[str] | None = None
    ) -> list[IdLike]:
        s, st = self.settings, self.state
        n = len(X)
        if s.vector_dtype == "float16" and float(np.abs(X).max()) > _FLOAT16_MAX:
            raise ValidationError(
                f"X has values beyond the float16 range (|x| > {_FLOAT16_MAX:g}); this collection stores vectors as float16"
            )
        if uids is None:
            uids = list(range(st.next_auto_id, st.next_auto_id + n))
        ints = [u for u in uids if isinstance(u, int)]
        next_auto = max(st.next_auto_id, max(ints) + 1 if ints else 0)
        num = st.reserve()
        written: list[str] = []
        codes = cinfo = None
        try:
            stored = X if s.vector_dtype == "float32" else X.astype(np.float16)
            vinfo = write_npy(self.root, vectors_name(num), stored)
            written.append(vinfo.name)
            if st.codec is not None:
                codes = st.codec.encode(X)
                cinfo = write_npy(self.root, codes_name(num, st.codec_num()), codes)
                written.append(cinfo.name)
            first = st.next_rowid
            rowids = np.arange(first, first + n, dtype=np.int64)
            seg = SegmentRecord(num, first, n, vinfo, cinfo, rowids)
            kv = [
                row for rid, text in zip(rowids.tolist(), metas) if text is not None for row in index_rows(rid, json.loads(text))
            ]
            with self.catalog.write() as tx:
                old = tx.live_rowids(uids) if replace else []
                if old:
                    tx.tombstone(old)
                tx.insert_segment(seg)
                tx.insert_items(rowids.tolist(), uids, metas, kv)
                if texts is not None:
                    tx.insert_texts(rowids.tolist(), texts)
                tx.put(generation=st.generation + 1, next_rowid=first + n, next_file=st.next_file, next_auto_id=next_auto)
        except sqlite3.IntegrityError:
            self.abort(written)
            raise ConflictError("some of these ids are already in this collection; use upsert() to replace them") from None
        except BaseException:
            self.abort(written)
            raise
        # committed: the add is acknowledged; now mirror it in memory
        self._committed()
        st.next_rowid = first + n
        st.next_auto_id = next_auto
        st.segments.append(without_rowids(seg))
        st.vectors.append(open_npy(self.root, vinfo, (n, s.dim), s.vector_dtype))
        st.rowids.extend(rowids)
        st.alive.extend(np.ones(n, bool))
        if codes is not None:
            if st.index is not None:
                st.index.add(codes)
            else:
                st.code_maps.append((cinfo, *map_npy(self.root, cinfo, codes.shape, np.uint8)))  # type: ignore[arg-type]
        st.mark_dead(old)
        self.write_manifest()
        return uids

    def delete(self, ids: Any) -> int:
        """Delete the items with these ids (unknown ids are ignored); return how many were deleted."""
        self.begin()
        uids = check_ids(ids, None, unique=False)
        if not uids:
            return 0
        with self.catalog.write() as tx:
            rows = tx.live_rowids(uids)
            if rows:
                tx.tombstone(rows)
                tx.put(generation=self.state.generation + 1)
        if not rows:
            return 0
        self._committed()
        self.state.mark_dead(rows)
        self.write_manifest()
        return len(rows)

    def after_write(self) -> None:
        """What follows an insert: fit (or refit, once) the codec by the training rule, merge segments, extend the graph."""
        st, s = self.state, self.settings
        if should_fit(s, len(st.rowids), st.codec_rec):
            self.fit(first_rows(st.vectors, s.train_size), source="auto")
        self.maybe_merge()
        self.maintain_graph()
        self.collect_garbage()

    # ------------------------------------------------------------------ training
    def train(self, sample: Any = None, *, model: str | None = None) -> None:
        """Fit the codec on ``sample`` (default: the first ``train_size`` stored vectors) and re-encode everything."""
        self.begin()
        s = self.settings
        s.check_model(model)
        if sample is None:
            if not len(self.state.rowids):
                raise ValidationError("nothing to train on: add vectors first, or pass a sample to train(sample)")
            X = first_rows(self.state.vectors, s.train_size)
        else:
            X = check_embeddings(sample, n_features=s.dim, name="sample", what=s.describe())
        self.fit(X, source="train")
        self.maintain_graph()
        self.collect_garbage()

    def fit(self, sample: np.ndarray, *, source: str) -> None:
        """Fit a new codec on ``sample`` and re-encode every segment with it: one new codec file, one commit."""
        self.adopt(fit_codec(self.settings, sample), rows=len(sample), source=source)

    def adopt(self, codec: Pipeline, *, rows: int | None, source: str) -> None:
        """Make ``codec`` (fitted) the collection's codec and re-encode every segment with it."""
        self.cancel_retrain()  # its lists would hold the old codec's codes
        st = self.state
        num = st.reserve()
        written: list[str] = []
        encoded: list[tuple[SegmentRecord, FileInfo, np.ndarray]] = []
        try:
            info = save_codec(self.root, num, codec)
            written.append(info.name)
            for seg, part in zip(st.segments, st.vectors.parts):
                codes = codec.encode(part)
                ci = write_npy(self.root, codes_name(seg.seg, num), codes)
                written.append(ci.name)
                encoded.append((seg, ci, codes))
            rec = CodecRecord(info, num, rows, source)
            with self.catalog.write() as tx:
                for seg, ci, _ in encoded:
                    tx.set_codes(seg.seg, ci)
                tx.put(codec=rec.to_dict(), generation=st.generation + 1, next_file=st.next_file)
        except BaseException:
            self.abort(written)
            raise
        self._committed()
        st.segments = [dataclasses.replace(seg, codes=ci) for seg, ci, _ in encoded]
        st.codec, st.codec_rec = codec, rec
        st.index = CodeIndex(codec, vectors=st.vectors)
        st.code_maps = []
        for _, _, codes in encoded:
            st.index.add(codes)
        if self.settings.index == "ivf" and st.graph is not None:  # the lists hold the old codec's codes
            self.maintain_graph(force=True, rebuild=True)
        self.write_manifest()

    # ------------------------------------------------------------------ compaction
    def rewrite(self, lo_seg: int, hi_seg: int) -> int:
        """Merge segments ``[lo_seg, hi_seg)`` into one without their deleted rows; return rows dropped."""
        self.finish_retrain()  # row numbers change below: a background retrain reading them finishes first
        s, st = self.settings, self.state
        segs = st.segments[lo_seg:hi_seg]
        off = st.vectors.offsets
        lo, hi = int(off[lo_seg]), int(off[hi_seg])
        alive = st.alive.values
        rowids = st.rowids.values
        keep_local = lo + np.flatnonzero(alive[lo:hi])
        dead = rowids[lo:hi][~alive[lo:hi]]
        n_new = len(keep_local)
        num = st.reserve()
        written: list[str] = []
        new_seg = None
        try:
            if n_new:
                vname = vectors_name(num)
                blocks = (st.vectors[keep_local[sl]] for sl in iter_slices(n_new, block_rows(s.dim)))
                written.append(vname)
                vinfo = write_npy_blocks(self.root, vname, (n_new, s.dim), s.vector_dtype, blocks)
                cinfo = None
                if st.codec is not None:
                    cinfo = write_npy(self.root, codes_name(num, st.codec_num()), st.code_rows(keep_local))
                    written.append(cinfo.name)
                new_rowids = rowids[keep_local]
                new_seg = SegmentRecord(num, int(new_rowids[0]), n_new, vinfo, cinfo, new_rowids)
            with self.catalog.write() as tx:
                tx.delete_segments(g.seg for g in segs)
                if new_seg is not None:
                    tx.insert_segment(new_seg)
                tx.drop_tombstones(dead.tolist())
                tx.put(generation=st.generation + 1, next_file=st.next_file)
        except BaseException:
            self.abort(written)
            raise
        self._committed()
        keep = np.concatenate([np.arange(lo), keep_local, np.arange(hi, len(rowids))]).astype(np.int64)
        new_parts = [open_npy(self.root, new_seg.vectors, (n_new, s.dim), s.vector_dtype)] if new_seg else []
        st.segments[lo_seg:hi_seg] = [without_rowids(new_seg)] if new_seg else []
        st.vectors = SegmentedVectors(st.vectors.parts[:lo_seg] + new_parts + st.vectors.parts[hi_seg:], s.dim, s.vector_dtype)
        if st.index is not None:
            st.index = CodeIndex(st.index.codec, st.index.codes[keep], vectors=st.vectors)
        else:
            st.release_codes()  # the codes of the new segment layout, mapped
        st.rowids = Growable(np.int64, rowids[keep])
        st.alive = Growable(np.bool_, alive[keep])
        st.n_dead -= len(dead)
        st.refresh_graph_rows()
        self.write_manifest()
        return len(dead)

    def maybe_merge(self) -> None:
        """Merge the ``merge_width`` smallest neighbouring segments while there are more than ``max_segments``."""
        while len(self.state.segments) > self.max_segments:
            sizes = np.array([g.n for g in self.state.segments], np.int64)
            window = np.convolve(sizes, np.ones(self.merge_width, np.int64), mode="valid")
            start = int(np.argmin(window))
            self.rewrite(start, start + self.merge_width)

    def compact(self) -> int:
        """Rewrite the segments into one without deleted rows and fold new vectors into the graph; return rows dropped."""
        self.begin()
        st = self.state
        dropped = 0
        if st.segments and (st.n_dead or len(st.segments) > 1):
            dropped = self.rewrite(0, len(st.segments))
        if st.graph is not None:
            usable = st.graph_rows >= 0
            usable[usable] = st.alive.values[st.graph_rows[usable]]
            if usable.mean() < 1.0 - self.graph_growth:  # many dead nodes: a new graph searches better
                self.maintain_graph(force=True, rebuild=True)
        self.maintain_graph(force=True)
        self.collect_garbage()
        return dropped
