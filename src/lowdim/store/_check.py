"""``check_collection``: verify every file and the catalog of a collection, and repair what can be repaired.

What can be repaired, and how:

* a lost or corrupt ``manifest.json`` — rewritten from the catalog;
* missing or corrupt codes — re-encoded from the full vectors;
* a corrupt codec file — refitted on the first ``train_size`` vectors, everything re-encoded;
* a corrupt or missing graph — rebuilt;
* a corrupt or missing query map — unregistered (it cannot be refitted here: fit it again
  and add it with ``Collection.add_map``; until then that model's queries are refused);
* catalog inconsistencies (rows that belong to no item, tombstones of rows no file
  holds, stale counters) — fixed in the catalog;
* leftovers of interrupted writes — deleted.

What cannot: damaged full vectors (the data is gone; ``drop_damaged=True`` removes
those segments and their items so that the rest opens) and a corrupt SQLite file.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

from .._lock import FileLock
from ..compat import QueryMap
from ..exceptions import ConflictError, FileFormatError, LowdimError, NotFoundError
from ..spec import Pipeline
from ._catalog import CATALOG_NAME, Catalog, CodecRecord, SegmentRecord
from ._files import FileInfo, file_crc32, npy_header, open_npy, write_npy
from ._layout import WRITER_LOCK, codes_name
from ._manifest import GRAPH_KINDS, MANIFEST_NAME, Settings, read_manifest, write_manifest
from ._results import CheckReport
from ._segments import SegmentedVectors
from ._training import first_rows, fit_codec, save_codec

__all__ = ["check_collection"]


def _probe(root: Path, info: FileInfo, shape: tuple[int, ...] | None = None, dtype: Any = None) -> str | None:
    """Why ``info`` is damaged (one short phrase), or None when it is intact."""
    path = root / info.name
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return "is missing"
    if size != info.size:
        return (
            f"is truncated ({size:,} bytes; expected {info.size:,})"
            if size < info.size
            else f"has {size:,} bytes; expected {info.size:,}"
        )
    if file_crc32(path) != info.crc32:
        return "is corrupt (checksum mismatch)"
    if shape is not None:
        with open(path, "rb") as fh:
            head = fh.read(4096)
        try:
            got_shape, got_dtype, _ = npy_header(head, root, info.name)
        except FileFormatError:
            return "has a corrupt .npy header"
        if tuple(got_shape) != tuple(shape) or got_dtype != np.dtype(dtype):
            return f"holds {tuple(got_shape)} {got_dtype}; expected {tuple(shape)} {np.dtype(dtype)}"
    return None


def check_collection(path: str | os.PathLike[str], *, repair: bool = True, drop_damaged: bool = False) -> CheckReport:
    """Check collection ``path`` file by file; with ``repair`` fix what can be fixed.

    Parameters
    ----------
    path : str or PathLike
    repair : bool
        Repair (needs the writer lock). ``False`` only reports.
    drop_damaged : bool
        Also remove segments whose full vectors are damaged, with their items (data loss,
        reported), so that the rest of the collection opens again.

    Returns
    -------
    CheckReport

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> from lowdim.store import Collection
    >>> path = tempfile.mkdtemp() + "/c"
    >>> Collection.create(path, dim=4).close()
    >>> check_collection(path).ok
    True
    """
    from ._collection import Collection  # circular at import time

    root = Path(path)
    if not root.is_dir():
        raise NotFoundError(f"no collection at {root}")
    report = CheckReport(str(root))

    def problem(msg: str, fixable: bool) -> None:
        report.problems.append(msg)
        if not fixable:
            report.unrepairable.append(msg)

    if not (root / CATALOG_NAME).is_file() and not (root / MANIFEST_NAME).is_file():
        raise FileFormatError(f"{root} is not a lowdim collection (it has neither {MANIFEST_NAME} nor {CATALOG_NAME})")
    if not (root / CATALOG_NAME).is_file():
        problem(f"{CATALOG_NAME} is missing; ids, metadata and the segment list are lost", False)
        return report
    lock = FileLock(root / WRITER_LOCK)
    if repair and not lock.acquire(exclusive=True, blocking=False):
        raise ConflictError(
            f"collection {root} is being written by another process (pid {lock.owner()}); run check again once it has closed it"
        )
    try:
        try:
            cat = Catalog(root)
            verdict = cat.integrity_check()
        except FileFormatError as exc:
            problem(f"{CATALOG_NAME} cannot be read ({exc})", False)
            return report
        try:
            if verdict != ["ok"]:
                problem(f"{CATALOG_NAME} is corrupt: {'; '.join(verdict[:3])}", False)
                return report
            stored = cat.get("settings")
            if not isinstance(stored, dict):
                problem(f"{CATALOG_NAME} has no settings", False)
                return report
            settings = Settings.from_dict(stored, CATALOG_NAME)
            changed = _check_catalog(root, cat, settings, report, problem, repair=repair, drop_damaged=drop_damaged)
            manifest_ok = False
            try:
                doc = read_manifest(root)
                if Settings.from_dict(doc["settings"], MANIFEST_NAME) != settings:
                    problem(f"{MANIFEST_NAME} disagrees with {CATALOG_NAME} on the settings", True)
                else:
                    manifest_ok = True
                    # one generation behind after a crash is normal: the writer rewrites it
                    changed = changed or doc.get("generation") != cat.get("generation")
            except LowdimError as exc:
                problem(str(exc).split(";")[0], True)
            if repair and not manifest_ok and not report.unrepairable:
                # a provisional manifest (generation -1) lets the collection open; the writer rewrites it in full
                write_manifest(root, settings, {"generation": -1})
                changed = True
        finally:
            cat.close()
    finally:
        lock.release()
    if not repair or report.unrepairable:
        return report
    # Finish through the collection's writer: garbage, graph rebuild, manifest.
    with Collection.open(root) as col:
        w = col.writer
        garbage = w.garbage()
        w.begin()  # collects leftovers of interrupted writes, rewrites a stale manifest
        w.collect_garbage()
        report.removed_files.extend(g for g in garbage if not (root / g).exists())
        if any("graph" in p for p in report.problems):
            w.restore_graph()
        if changed:
            w.write_manifest()
        for p in report.problems:
            if p.startswith(MANIFEST_NAME):
                report.repaired.append(f"rewrote {MANIFEST_NAME} from {CATALOG_NAME}")
            elif "graph" in p and col.settings.index in GRAPH_KINDS:
                report.repaired.append("rebuilt the HNSW graph" if col.settings.index == "hnsw" else "rebuilt the IVF lists")
    return report


def _check_catalog(root: Path, cat: Catalog, settings: Settings, report, problem, *, repair: bool, drop_damaged: bool) -> bool:
    """Check segments, codec, graph and rows; repair in the catalog where possible. Returns whether anything changed."""
    changed = False
    try:
        segs = cat.segments()
    except FileFormatError as exc:
        problem(str(exc).split(";")[0], False)
        return False
    cfg = cat.config()
    vdtype = np.dtype(settings.vector_dtype)
    # -- full vectors
    damaged: list[SegmentRecord] = []
    for seg in segs:
        why = _probe(root, seg.vectors, (seg.n, settings.dim), vdtype)
        if why:
            lost = f"{seg.vectors.name} {why}: the vectors of {seg.n} rows are lost"
            if drop_damaged:
                problem(lost, True)
                damaged.append(seg)
            else:
                problem(lost + " (restore a backup, or run check with --drop-damaged to remove them)", False)
    if report.unrepairable:
        return False
    if damaged and repair:
        with cat.write() as tx:
            tx.delete_segments(seg.seg for seg in damaged)
            for seg in damaged:
                tx.drop_rows(seg.rowids.tolist())
            tx.put(generation=int(cfg.get("generation", 0)) + 1)
        for seg in damaged:
            report.repaired.append(f"dropped segment {seg.vectors.name} and its {seg.n} rows")
        segs = cat.segments()
        cfg = cat.config()
        changed = True
    # -- rows: items, tombstones and segment rows must agree
    stored = np.concatenate([s.rowids for s in segs]) if segs else np.zeros(0, np.int64)
    items = cat.item_rowids()
    tomb = cat.tombstones()
    orphan_items = np.setdiff1d(items, stored)
    orphan_rows = np.setdiff1d(stored, np.union1d(items, tomb))
    stale_tomb = np.setdiff1d(tomb, stored)
    both = np.intersect1d(items, tomb)
    fixes: list[tuple[str, str, np.ndarray]] = []
    if len(orphan_items):
        problem(f"{CATALOG_NAME}: {len(orphan_items)} items have no stored vector", True)
        fixes.append(("orphan_items", f"deleted {len(orphan_items)} items without a vector", orphan_items))
    if len(orphan_rows):
        problem(f"{CATALOG_NAME}: {len(orphan_rows)} stored rows belong to no item", True)
        fixes.append(("orphan_rows", f"marked {len(orphan_rows)} ownerless rows deleted", orphan_rows))
    if len(stale_tomb):
        problem(f"{CATALOG_NAME}: {len(stale_tomb)} tombstones name rows no segment holds", True)
        fixes.append(("stale_tomb", f"removed {len(stale_tomb)} stale tombstones", stale_tomb))
    if len(both):
        problem(f"{CATALOG_NAME}: {len(both)} rows are both live and deleted", True)
        fixes.append(("both", f"deleted {len(both)} rows marked deleted", both))
    top = int(stored.max()) + 1 if len(stored) else 0
    if int(cfg.get("next_rowid", 0)) < top:
        problem(f"{CATALOG_NAME}: the rowid counter is behind the stored rows", True)
        fixes.append(("next_rowid", "advanced the rowid counter", np.array([top])))
    if repair and fixes:
        with cat.write() as tx:
            for kind, _, rows in fixes:
                if kind in ("orphan_items", "both"):  # for "both" the tombstone wins: the delete came last
                    tx.delete_items(rows.tolist())
                elif kind == "orphan_rows":
                    tx.add_tombstones(rows.tolist())
                elif kind == "stale_tomb":
                    tx.drop_tombstones(rows.tolist())
                elif kind == "next_rowid":
                    tx.put(next_rowid=int(rows[0]))
            tx.put(generation=int(cat.get("generation", 0)) + 1)
        report.repaired.extend(msg for _, msg, _ in fixes)
        changed = True
    # -- codec and codes
    rec = cat.codec()
    codec = None
    refit = False
    if rec is not None:
        why = _probe(root, rec.file)
        if why is None:
            try:
                codec = Pipeline.load(root / rec.file.name)
            except LowdimError as exc:
                why = f"cannot be loaded ({exc})"
        if why:
            problem(f"{rec.file.name} {why}", True)
            refit = True
    recode: list[SegmentRecord] = []
    for seg in segs:
        if seg.codes is None:
            if rec is not None:
                problem(f"segment {seg.vectors.name} has no codes although the collection is trained", True)
                recode.append(seg)
            continue
        if codec is not None:
            why = _probe(root, seg.codes, (seg.n, codec.code_size), np.uint8)
            if why:
                problem(f"{seg.codes.name} {why}", True)
                recode.append(seg)
    if repair and (refit or recode):
        _recode(root, cat, settings, segs, codec, rec, recode, report)
        changed = True
    # -- graph (HNSW links and storage, or IVF centroids and lists)
    if settings.index in GRAPH_KINDS:
        g = None
        try:
            g = cat.graph()
        except FileFormatError as exc:
            problem(f"graph record unreadable ({exc})", True)
        if g is not None:
            why = _probe(root, g.links) or _probe(root, g.storage)
            if why:
                problem(f"graph file {why}", True)
                if repair:
                    with cat.write() as tx:
                        tx.set_graph(None)
                        tx.put(generation=int(cat.get("generation", 0)) + 1)
                    changed = True
    return _check_maps(root, cat, report, problem, repair=repair) or changed


def _check_maps(root: Path, cat: Catalog, report: CheckReport, problem: Any, *, repair: bool) -> bool:
    """Check the query map files; unregister damaged ones (a map cannot be refitted without its pairs)."""
    maps = cat.maps()
    lost = []
    for model, info in maps.items():
        why = _probe(root, info)
        if why is None:
            try:
                QueryMap.load(root / info.name)
            except LowdimError as exc:
                why = f"cannot be loaded ({exc})"
        if why:
            problem(f"{info.name} {why}: the query map for model '{model}' is lost", True)
            lost.append(model)
    if not (repair and lost):
        return False
    with cat.write() as tx:
        tx.put(
            maps={m: i.to_dict() for m, i in maps.items() if m not in lost},
            generation=int(cat.get("generation", 0)) + 1,
        )
    for model in lost:
        report.repaired.append(f"unregistered the damaged query map for model '{model}' (fit it again and add it with add_map)")
    return True


def _recode(
    root: Path,
    cat: Catalog,
    settings: Settings,
    segs: list[SegmentRecord],
    codec: Pipeline | None,
    rec: CodecRecord | None,
    recode: list[SegmentRecord],
    report: CheckReport,
) -> None:
    """Refit the codec (``codec`` None: damaged) and write fresh codes for ``recode`` (every segment after a refit)."""
    next_file = int(cat.get("next_file", 1))
    vectors = SegmentedVectors(
        [open_npy(root, s.vectors, (s.n, settings.dim), settings.vector_dtype) for s in segs], settings.dim, settings.vector_dtype
    )
    refit = codec is None
    if codec is None:
        sample = first_rows(vectors, settings.train_size)
        codec = fit_codec(settings, sample)
        rec = CodecRecord(save_codec(root, next_file, codec), next_file, len(sample), "auto")
        next_file += 1
        recode = list(segs)
    assert rec is not None  # a codec to re-encode with is recorded; internal invariant
    num: int | None = rec.num
    if num is None:  # recorded before codec numbers were: name its codes with a fresh one
        num, next_file = next_file, next_file + 1
        rec = dataclasses.replace(rec, num=num)
    todo = {s.seg for s in recode}
    updates = []
    for seg, part in zip(segs, vectors.parts):
        if seg.seg not in todo:
            continue
        name = codes_name(seg.seg, num)
        if (root / name).exists() and not refit:  # the damaged file itself: write a revision beside it
            name, next_file = codes_name(seg.seg, num, revision=next_file), next_file + 1
        updates.append((seg.seg, write_npy(root, name, codec.encode(part))))
    with cat.write() as tx:
        for seg_id, info in updates:
            tx.set_codes(seg_id, info)
        tx.put(codec=rec.to_dict(), next_file=next_file, generation=int(cat.get("generation", 0)) + 1)
    if refit:
        report.repaired.append(f"refitted the codec ({rec.file.name}) on the first {settings.train_size} vectors")
    report.repaired.extend(f"re-encoded the codes of segment {seg_id}" for seg_id, _ in updates)
