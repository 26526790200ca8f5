""":class:`~lowdim.store.Collection`'s live model migration (:meth:`Migrations.migrate`); mechanics in :mod:`._migration`.

Steps, each resumable: create the target ``migration-<model>/`` (a collection with the same
settings and the new model's width) and the catalog record; re-embed a seeded sample first and
fit the query map on it (plus query-like ``fit_texts`` embedded by both models) unless the
collection has one for the model; fit the score calibration; re-embed the rest in batches (one
commit each in the target; a batch whose items were deleted or replaced meanwhile drops them);
log quality at every quarter; when nothing is pending, switch with one catalog commit: the
collection *is* the target from then on (``open`` follows the record), and the old model's files
go at the next :meth:`compact`.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..exceptions import ConflictError, ParameterError, ValidationError
from ..validation import check_positive_int
from ._layout import unlink
from ._maps import canonical_model
from ._migration import MigrationRun, make_source, merge_results, read_record
from ._migration_job import MigrationJob
from ._results import CollectionResult

if TYPE_CHECKING:
    from ._collection import Collection

__all__ = ["Migrations", "follow_switch"]


def follow_switch(root: Path, catalog: Any) -> Path | None:
    """The target folder a switched migration left ``root`` pointing to, or None."""
    rec = read_record(catalog, str(root))
    return root / rec.folder if rec is not None and rec.state != "running" else None


class Migrations:
    """The migration methods of :class:`~lowdim.store.Collection` (a mixin; the facade routes searches and writes here)."""

    _mutex: Any
    _migration: MigrationRun | None
    _outer: list[Path]

    if TYPE_CHECKING:  # Collection's own parts, declared for the type checker only
        from ._query import Query
        from ._writer import Writer

        _root: Path
        _query: Query
        _writer: Writer
        _catalog: Any
        _state: Any
        _settings: Any
        _closed: bool

        def _check_open(self) -> None: ...
        def ids(self) -> list[Any]: ...
        def get(self, ids: Any) -> Any: ...
        def add_map(self, query_map: Any, *, model: str) -> Any: ...
        def close(self) -> None: ...

    # ------------------------------------------------------------------ public
    def migrate(
        self,
        to_model: str,
        *,
        texts: Any = None,
        vectors: Any = None,
        query_map: Any = None,
        fit_texts: Any = None,
        fit_size: int = 2000,
        batch_size: int = 1024,
        limit: int | None = None,
        evaluation: tuple[Any, Any] | None = None,
        spec: str | None = None,
        background: bool = False,
        progress: bool = False,
    ) -> dict[str, Any]:
        """Move the collection to the embedding model ``to_model`` while it keeps serving; return :attr:`migration`.

        Re-embeds every item with the new model into ``migration-<model>/`` (resumable: call again
        after a kill or with ``limit``), searches with ``model=to_model`` merging both spaces
        meanwhile, and switches atomically at the end (see the module docstring).

        ``texts``: mapping id -> text or callable ids -> texts (default: the texts a text
        collection stored); ``vectors``: callable ids -> (n, d_new) new-model vectors instead.
        ``query_map``: a fitted :class:`~lowdim.compat.QueryMap` to use; otherwise one is fitted on
        ``fit_size`` re-embedded items plus ``fit_texts`` (query-like texts, embedded by both models:
        needs the collection's encoder), which makes the map far better for short queries.
        ``limit``: re-embed at most that many items in this call. ``evaluation``: ``(queries,
        relevant_ids)`` (new-model query vectors) whose relevant-in-top-10 is logged at every quarter
        (default: self-retrieval of sample items). ``spec``: the target's spec (default the collection's).
        ``background``: return at once, the work going on in a thread (see :attr:`migration`).
        """
        with self._mutex:
            self._check_open()
            self._writer.begin()
            if not isinstance(to_model, str) or not to_model.strip():
                raise ParameterError(f"The 'to_model' parameter of migrate must be a model name. Got {to_model!r}.")
            model = canonical_model(to_model)
            s = self._settings
            if model == s.model:
                raise ParameterError(f"this collection's vectors already come from model '{model}'; nothing to migrate")
            run = self._migration
            if run is not None and run.rec.to_model != model:
                raise ConflictError(
                    f"a migration to model '{run.rec.to_model}' is in progress; finish it before migrating to '{model}'"
                )
            if run is not None and run.thread is not None and run.thread.is_alive():
                raise ConflictError(f"the migration to model '{model}' is already running in the background")
            fit_size = check_positive_int(fit_size, "fit_size", owner="migrate", minimum=50)
            batch_size = check_positive_int(batch_size, "batch_size", owner="migrate")
            if limit is not None:
                limit = check_positive_int(limit, "limit", owner="migrate", minimum=0)
            source, enc_name = make_source(to_model=model, vectors=vectors, texts=texts, has_texts=s.encoder is not None)
            if fit_texts is not None and s.encoder is None:
                raise ParameterError(
                    "fit_texts= needs the collection's own (old) encoder to embed them; this collection has none"
                )
            if not len(self._state):
                raise ValidationError(
                    "this collection is empty: nothing to migrate; create a collection for the new model instead"
                )
        job = MigrationJob(
            self,  # type: ignore[arg-type]  # the Collection this mixin is part of
            model,
            source,
            enc_name,
            query_map,
            fit_texts,
            fit_size,
            batch_size,
            limit,
            evaluation,
            spec,
            progress,
        )
        if not background:
            job.run()
            return job.result or self.migration or {}
        thread = threading.Thread(target=job.run_logged, name=f"lowdim-migrate-{model}", daemon=True)
        job.thread = thread
        thread.start()
        job.started.wait()
        if job.failure is not None:
            raise job.failure
        return self.migration or {}

    @property
    def migration(self) -> dict[str, Any] | None:
        """The migration in progress as a JSON-ready dict, or None (``migrate`` returns the status at the switch).

        ``to_model``, ``state`` (running / switched / retired), ``done`` and ``total`` items,
        ``fraction``, ``running`` (a background thread is working), ``rate`` (items/s of the last
        run), ``error`` (of a background run), ``calibration`` and ``checkpoints`` (quality logged).
        """
        with self._mutex:
            run = self._migration
            if run is None:
                return None
            with run.target._mutex:
                done = len(run.target._state)
            total = len(self._state)
            return {
                "to_model": run.rec.to_model,
                "state": run.rec.state,
                "folder": run.rec.folder,
                "done": done,
                "total": total,
                "fraction": done / total if total else 1.0,
                "running": run.thread is not None and run.thread.is_alive(),
                "rate": run.rate,
                "error": run.error,
                "calibration": run.rec.calibration,
                "checkpoints": list(run.rec.checkpoints),
            }

    def texts(self, ids: Any) -> list[str | None]:
        """The stored texts of these ids, in order (None for items added as vectors); a text collection keeps them."""
        with self._mutex:
            self._check_open()
            rowids = self._query.rowids(ids)  # NotFoundError names missing ids
            got = self._catalog.texts_of(rowids)
            return [got.get(r) for r in rowids.tolist()]

    # ------------------------------------------------------------------ the facade's hooks
    def _load_migration(self) -> None:
        """Open the target of a running migration (after open or refresh); adopt it when another process switched."""
        from ._collection import Collection

        rec = read_record(self._catalog, str(self._root))
        run = self._migration
        if rec is None:
            return
        if rec.state != "running":  # another process switched: become the target
            self._migration = None
            self._adopt(
                run.target if run is not None else Collection.open(self._root / rec.folder, readonly=self._writer.readonly)
            )
            return
        if run is None:
            target = Collection.open(self._root / rec.folder, readonly=self._writer.readonly)
            self._migration = MigrationRun(rec, target)
        else:
            run.rec = rec
            if not run.target._writer.held:
                run.target.refresh()

    def _merged_search(self, queries: Any, k: int, model: str, opts: dict[str, Any]) -> CollectionResult:
        """``search(queries, model=<the migration's model>)``: the old index through the map merged with the target."""
        run = self._migration
        assert run is not None
        wide = max(2 * k, k + 10)
        old = self._query.search(queries, wide, model=model, **opts)
        with run.target._mutex:
            t = run.target
            topts = {key: v for key, v in opts.items() if key not in ("ef", "nprobe")}
            new = t._query.search(queries, wide, model=None, ef=None, nprobe=None, **topts)
            larger = t._settings.metric != "l2"

            def migrated(ids: list[Any]) -> set[Any]:
                return set(t._catalog.rowids_of(ids)) if ids else set()

            res = merge_results(
                old, new, migrated, lambda grid: t._query.rescore(queries, grid), run.rec.calibration or [0.0, 1.0], k, larger
            )
        return CollectionResult(res.ids, res.scores, res.metadata, exact_reason=old.exact_reason)

    def _mirror_delete(self, ids: Any) -> None:
        """A delete (or an upsert of old-model vectors) also leaves the target: the item is re-embedded anew."""
        run = self._migration
        if run is not None:
            with run.target._mutex:
                run.target._writer.delete(ids)

    def _refuse_target_model(self, model: str | None) -> None:
        if self._is_migration_model(model):
            raise ValidationError(
                f"vectors of model '{model}' are added after the migration switches; during it, add the old model's "
                f"vectors (or texts) and the migration re-embeds them"
            )

    def _is_migration_model(self, model: str | None) -> bool:
        run = self._migration
        return run is not None and model is not None and canonical_model(model) == run.rec.to_model

    def _close_migration(self) -> None:
        run, self._migration = self._migration, None
        if run is not None:
            run.stop.set()
            if run.thread is not None and run.thread is not threading.current_thread():
                self._mutex.release()  # the thread may be waiting for the lock to finish its batch
                try:
                    run.thread.join()
                finally:
                    self._mutex.acquire()
            run.target.close()

    def _adopt(self, target: Collection) -> None:
        """Become ``target`` (the switch): its parts replace this object's, whose old parts are closed."""
        old_root, old_catalog, old_writer, old_state = self._root, self._catalog, self._writer, self._state
        with target._mutex:
            for name in ("_root", "_settings", "_catalog", "_state", "_writer", "_query"):
                setattr(self, name, getattr(target, name))
            self._outer = [old_root, *target._outer]
            self._migration = target._migration
            target._closed = True  # its parts now belong to this object
        old_catalog.close()
        old_writer.close()
        old_state.reset()

    def _retire_outer(self) -> None:
        """After a switch, delete the old model's files from the folders this collection was migrated from."""
        from ._catalog import Catalog

        for outer in self._outer:
            cat = Catalog(outer)
            try:
                rec = read_record(cat, str(outer))
                if rec is None or rec.state == "retired":
                    continue
                unlink(outer, sorted(cat.referenced()))
                rec.state = "retired"
                with cat.write() as tx:
                    tx.put(migration=rec.to_dict(), codec=None, maps={})
                    tx.delete_segments([seg.seg for seg in cat.segments()])
                    tx.set_graph(None)
                    tx.clear_items()
            finally:
                cat.close()
