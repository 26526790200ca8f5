"""One call of :meth:`Collection.migrate <lowdim.store.Collection.migrate>`: the steps of :mod:`._migrate`, in this thread or another."""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from .._progress import ProgressBar, say
from ..arrays import sample_indices
from ..exceptions import ConflictError
from ._catalog import CATALOG_NAME
from ._manifest import MANIFEST_NAME
from ._maps import load_map
from ._migration import MigrationRecord, MigrationRun, Source, fit_calibration, hit_rate, target_folder

if TYPE_CHECKING:
    from ._collection import Collection

__all__ = ["MigrationJob"]

#: sample queries whose self-retrieval is logged as the quality when migrate gets no evaluation
_QUALITY_QUERIES = 256
_QUARTERS = (0.25, 0.5, 0.75)


class MigrationJob:
    """One call of :meth:`Migrations.migrate`: the steps of the module docstring, run in this thread or another."""

    def __init__(
        self,
        col: Collection,
        model: str,
        source: Source,
        enc_name: str | None,
        query_map: Any,
        fit_texts: Any,
        fit_size: int,
        batch_size: int,
        limit: int | None,
        evaluation: Any,
        spec: str | None,
        progress: bool,
    ) -> None:
        self.col, self.model, self.source, self.enc_name = col, model, source, enc_name
        self.query_map, self.fit_texts, self.fit_size, self.batch_size = query_map, fit_texts, fit_size, batch_size
        self.limit, self.evaluation, self.spec, self.progress = limit, evaluation, spec, progress
        self.thread: threading.Thread | None = None
        self.started = threading.Event()
        self.embedded = 0
        self.result: dict[str, Any] | None = None
        self.failure: Exception | None = None

    def run_logged(self) -> None:
        try:
            self.run()
        except Exception as exc:  # a background run reports through Collection.migration
            run = self.col._migration
            if run is not None:
                run.error = f"{type(exc).__name__}: {exc}"
            if not self.started.is_set():
                self.failure = exc  # before it started: migrate() raises it
        finally:
            self.started.set()

    def run(self) -> None:
        col = self.col
        with col._mutex:
            all_ids = col._query.ids()
        pick = sample_indices(len(all_ids), self.fit_size, col._settings.random_state)
        sample = [all_ids[i] for i in pick.tolist()]
        run = self._start(sample)
        run.thread, run.error = self.thread, None
        self.started.set()
        t0 = time.perf_counter()
        self._embed(run, sample, "re-embedding the fit sample")
        if run.rec.calibration is None or (self.query_map is None and self.model not in col._state.map_recs):
            pairs = self._pairs(run, sample)  # read once for the map and the calibration
            self._fit_map(pairs)
            self._calibrate(run, pairs)
        elif self.query_map is not None:
            self._fit_map(None)
        with col._mutex:
            pending = self._pending(run)
        self._embed(run, pending, f"re-embedding for {self.model.split('/')[-1]}")
        run.rate = self.embedded / max(time.perf_counter() - t0, 1e-9) if self.embedded else run.rate
        with col._mutex:
            if run.stop.is_set() or (self.limit is not None and self.embedded >= self.limit) or self._pending(run):
                return  # stopped, limited, or items arrived meanwhile: the next call goes on
            self._checkpoint(run)
            run.rec.state, run.rec.switched = "switched", time.time()
            self._put(run.rec)
            run.thread = None
            self.result = col.migration
            col._adopt(run.target)
        if self.progress:
            say(f"switched {col._outer[0]} to model {self.model}: {len(col):,} items re-embedded")

    # -- steps
    def _start(self, sample: list[Any]) -> MigrationRun:
        """The running migration: the existing one, or a new target folder and record (created in this order)."""
        col = self.col
        with col._mutex:
            if col._migration is not None:
                return col._migration
        from ._collection import Collection

        path = col._root / target_folder(self.model)
        if (path / MANIFEST_NAME).exists() and (path / CATALOG_NAME).exists():  # created, then killed before the record
            target = Collection.open(path)
        else:
            s = col._settings
            encoder = self.enc_name if s.encoder is not None else None
            opts = {"metric": s.metric, "index": s.index, "vector_dtype": s.vector_dtype, "train_size": s.train_size}
            opts |= {
                "random_state": s.random_state,
                "hnsw_m": s.hnsw_m,
                "ef_construction": s.ef_construction,
                "ef_search": s.ef_search,
            }
            if encoder is None:  # the new width: the encoder's, or that of the vectors the source gives
                from ..encoders import shared_encoder

                dim = shared_encoder(self.enc_name).dim if self.enc_name else self._new_vectors(sample[:1])[0].shape[1]
                opts |= {"model": self.model, "dim": int(dim)}
            target = Collection.create(path, spec=self.spec or s.spec, encoder=encoder, **opts)
        if target.model != self.model:
            target.close()
            raise ConflictError(f"{path} holds a collection of model '{target.model}', not '{self.model}'; remove it to migrate")
        with col._mutex:
            rec = MigrationRecord(self.model, path.name)
            self._put(rec)
            col._migration = MigrationRun(rec, target)
            return col._migration

    def _new_vectors(self, ids: list[Any]) -> tuple[np.ndarray, list[Any], list[Any], list[str | None], dict[Any, int]]:
        """``(X, ids, metadata, texts, rowids)`` of the live ``ids``; the rowids let the caller see, when it stores
        them, whether an item was deleted or replaced meanwhile."""
        col = self.col
        with col._mutex:
            rows = col._catalog.rowids_of(ids)
            live = [u for u in ids if u in rows]
            rowids = np.array([rows[u] for u in live], np.int64)
            items, texts = col._catalog.items_of(rowids), col._catalog.texts_of(rowids)
        metas = [None if items[rows[u]][1] is None else json.loads(items[rows[u]][1]) for u in live]
        stored = [texts.get(rows[u]) for u in live]
        X = self.source(live, stored) if live else np.zeros((0, 1), np.float32)
        return X, live, metas, stored, rows

    def _embed(self, run: MigrationRun, ids: list[Any], what: str) -> None:
        col, target = self.col, run.target
        with target._mutex:
            have = set(target._catalog.rowids_of(ids)) if ids else set()
        todo = [u for u in ids if u not in have]
        if self.limit is not None:
            todo = todo[: max(self.limit - self.embedded, 0)]
        with ProgressBar(self.progress, total=len(todo), description=what) as bar:
            for start in range(0, len(todo), self.batch_size):
                if run.stop.is_set():
                    return
                batch = todo[start : start + self.batch_size]
                X, live, metas, stored, before = self._new_vectors(batch)
                with col._mutex:
                    if run.stop.is_set():
                        return
                    now = col._catalog.rowids_of(live)
                    keep = [i for i, u in enumerate(live) if now.get(u) == before.get(u)]  # not deleted nor replaced meanwhile
                    if keep:
                        kept_texts = [stored[i] for i in keep]
                        with target._mutex:
                            target._writer.add(
                                X[keep],
                                [live[i] for i in keep],
                                [metas[i] for i in keep],
                                model=target.model,
                                replace=True,
                                texts=[t for t in kept_texts if t is not None] if None not in kept_texts else None,
                            )
                    done_before = len(target._state) - len(keep)
                    self.embedded += len(batch)
                    total = len(col._state)
                    if any(done_before < q * total <= len(target._state) for q in _QUARTERS):
                        self._checkpoint(run)
                bar.update(advance=len(batch))

    def _fit_map(self, pairs: tuple[np.ndarray, np.ndarray] | None) -> None:
        """Store the given map, or fit one on the sample ``pairs`` (plus fit_texts) unless the collection has one."""
        col = self.col
        with col._mutex:
            if self.query_map is None and self.model in col._state.map_recs:
                return
        if self.query_map is not None:
            with col._mutex:
                col.add_map(self.query_map, model=self.model)
            return
        from ..compat import fit_map

        assert pairs is not None
        new, old = pairs
        if self.fit_texts is not None:
            texts = list(self.fit_texts)
            with col._mutex:
                old_enc = col.encoder
            from ..encoders import shared_encoder

            new = np.vstack([new, shared_encoder(self.model).encode(texts, allow_empty=False)])
            old = np.vstack([old, old_enc.encode(texts, allow_empty=False)])
        qmap = fit_map(new, old, models=(self.model, col._settings.model))
        with col._mutex:
            col.add_map(qmap, model=self.model)
        if self.progress:
            say(f"fitted a {qmap.kind} query map on {len(new):,} pairs (held-out top-10 agreement {qmap.quality.top10:.3f})")

    def _pairs(self, run: MigrationRun, sample: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        """New- and old-model vectors of the sample items both collections hold."""
        with run.target._mutex:
            have = run.target._catalog.rowids_of(sample)
            ids = [u for u in sample if u in have]
            new = run.target._query.get(ids).vectors
        with self.col._mutex:
            return new, self.col._query.get(ids).vectors

    def _calibrate(self, run: MigrationRun, pairs: tuple[np.ndarray, np.ndarray]) -> None:
        col = self.col
        if run.rec.calibration is not None:
            return
        new, old = pairs
        m = min(_QUALITY_QUERIES, len(new) // 4)
        with col._mutex:
            qmap = load_map(col._root, col._state.map_recs[self.model])
            mapped = qmap.transform(new[:m])
            run.rec.calibration = fit_calibration(mapped, new[:m], old[m:], new[m:], col._settings.metric)
            self._checkpoint(run)

    def _pending(self, run: MigrationRun) -> list[Any]:
        with run.target._mutex:
            have = set(run.target._query.ids())
        return [u for u in self.col._query.ids() if u not in have]

    def _checkpoint(self, run: MigrationRun) -> None:
        """Measure quality now (under the collection's lock) and commit it to the record."""
        col, target = self.col, run.target
        if self.evaluation is not None:
            queries, relevant = self.evaluation
            metric = "relevant@10"
        else:
            with target._mutex:
                ids = target._query.ids()[:_QUALITY_QUERIES]
                queries = target._query.get(ids).vectors if ids else np.zeros((0, target.dim), np.float32)
            relevant, metric = ids, "self@10"
        if len(queries) and run.rec.calibration is not None:
            res = col._merged_search(
                queries, 10, self.model, {"filter": None, "rerank": None, "ef": None, "nprobe": None, "with_metadata": False}
            )
            quality: float | None = hit_rate(res, list(relevant))
        else:
            quality = None
        done, total = len(target._state), len(col._state)
        fraction = round(done / max(total, 1), 4)
        point = {"done": done, "total": total, "fraction": fraction, "quality": quality, "metric": metric}
        run.rec.checkpoints.append(point | {"time": time.time()})
        self._put(run.rec)
        if self.progress and quality is not None:
            say(f"{100 * fraction:5.1f}% re-embedded ({done:,}/{total:,}): {metric} {quality:.4f}")

    def _put(self, rec: MigrationRecord) -> None:
        w = self.col._writer
        w.begin()
        with w.catalog.write() as tx:
            tx.put(migration=rec.to_dict(), generation=w.state.generation + 1)
        w._committed()
        w.write_manifest()
