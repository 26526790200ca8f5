"""The index upkeep of a collection's writer: HNSW graph and IVF lists built, extended, retrained, committed.

:class:`IndexUpkeep` is a part of :class:`~lowdim.store._writer.Writer` (its base class),
kept apart so that the write protocol and the index rules each fit in one module: it uses
the writer's state, catalog and commit protocol (``begin``, ``fit``, ``abort``,
``_committed``, ``write_manifest``, ``collect_garbage``) and adds ``build_index``,
``restore_graph``, ``maintain_graph`` and the background retrain of a drifted IVF
partition (:mod:`lowdim.store._retrain`).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..arrays import block_rows, iter_slices, prepare_rows
from ..exceptions import ParameterError
from ..search import MIN_ROWS_PER_LIST, auto_nlist, local_intrinsic_dimension, training_rows
from ._catalog import Catalog
from ._graph import HNSWGraph
from ._ivf import IVFGraph
from ._layout import graph_stem
from ._manifest import GRAPH_KINDS, Settings
from ._retrain import BackgroundRetrain
from ._segments import SegmentedVectors
from ._state import State
from ._training import first_rows

__all__ = ["IndexUpkeep"]


class IndexUpkeep:
    """Builds and keeps up the collection's sub-linear index (a base of the writer; see the module docstring)."""

    #: vectors outside the HNSW graph that make an ``add`` extend it:
    #: ``max(graph_min_tail, graph_growth * nodes in the graph)`` (they are scanned from codes meanwhile)
    graph_min_tail: int = 10_000
    graph_growth: float = 0.25
    #: order in which new HNSW nodes are inserted: "lid" (descending local intrinsic dimension,
    #: +1.4 to 2 points of recall at equal ef on wordnet-minilm; benchmarks/bench_code_graph.py) or "given"
    graph_order: str = "lid"
    #: an IVF partition is retrained once the collection holds this many times the rows it was trained on
    ivf_regrow: float = 2.0
    #: ... or once its largest list holds this many times the mean (and 1.5 times its share when first filled)
    ivf_imbalance: float = 3.0
    #: from this many rows on, a drifted IVF partition is retrained in a background thread (see _retrain.py)
    background_from: int = 500_000
    root: Path
    settings: Settings
    catalog: Catalog
    state: State
    retrain: BackgroundRetrain | None

    if TYPE_CHECKING:  # the writer's protocol, used here (Writer defines it; declared for the type checker only)

        def begin(self) -> None: ...
        def fit(self, sample: np.ndarray, *, source: str) -> None: ...
        def abort(self, written: list[str]) -> None: ...
        def _committed(self) -> None: ...
        def write_manifest(self) -> None: ...
        def collect_garbage(self) -> list[str]: ...

    # ------------------------------------------------------------------ the graph
    def _lid_order(self, rows: np.ndarray) -> np.ndarray:
        """``rows`` by descending local intrinsic dimension, estimated in blocks of ~100,000 (bounded memory)."""
        s, st = self.settings, self.state
        parts = np.array_split(rows, max(1, len(rows) // 100_000))
        lid = np.concatenate(
            [local_intrinsic_dimension(prepare_rows(st.vectors[part], s.metric), random_state=s.random_state) for part in parts]
        )
        return rows[np.argsort(-lid, kind="stable")]

    def _train_ivf(self, rows: np.ndarray, vectors: SegmentedVectors | None = None) -> IVFGraph:
        """A new IVF partition trained on a seeded sample of ``rows`` (nlist from the settings, else from the rows)."""
        s, st = self.settings, self.state
        vectors = st.vectors if vectors is None else vectors
        n = len(rows)
        nlist = s.nlist or auto_nlist(n)
        take = training_rows(n, nlist)
        pick = np.sort(np.random.default_rng(s.random_state).choice(n, take, replace=False)) if take < n else np.arange(n)
        sample = np.asarray(vectors[rows[pick]], dtype=np.float32)
        nprobe = s.nprobe or max(1, nlist // 8)
        return IVFGraph.trained(st.codec, sample, nlist=nlist, nprobe=nprobe, random_state=s.random_state, n_rows=n)

    def build_index(self) -> None:
        """Fold every vector not yet in the HNSW graph or the IVF lists into them now (training first if need be)."""
        if self.settings.index not in GRAPH_KINDS:
            raise ParameterError(
                "build_index applies to collections created with index='hnsw' or 'ivf'; this one uses index='flat'"
            )
        self.begin()
        st = self.state
        if st.codec is None:
            if not len(st.rowids):
                return
            self.fit(first_rows(st.vectors, self.settings.train_size), source="auto")
        self.finish_retrain()
        self.maintain_graph(force=True, explain=True)
        self.collect_garbage()

    def restore_graph(self) -> bool:
        """Build the graph of a trained HNSW collection that has none (``check`` dropped a damaged one); True if built."""
        st = self.state
        if self.settings.index not in GRAPH_KINDS or st.graph is not None or st.codec is None or not len(st):
            return False
        self.begin()
        self.maintain_graph(force=True, rebuild=True)
        return True

    def maintain_graph(self, *, force: bool = False, rebuild: bool = False, explain: bool = False) -> None:
        """:meth:`_maintain_graph`; then an IVF collection's codes leave RAM (its lists hold them)."""
        self._maintain_graph(force=force, rebuild=rebuild, explain=explain)
        if self.settings.index == "ivf" and self.state.graph is not None and self.state.index is not None:
            self.state.release_codes()

    def _maintain_graph(self, *, force: bool = False, rebuild: bool = False, explain: bool = False) -> None:
        """Extend the graph (HNSW) or lists (IVF) with the rows outside them once they are many.

        ``force``: now; ``rebuild``: from scratch. An IVF partition is also retrained from
        scratch once the collection has grown ``ivf_regrow`` times past the rows it was
        trained on, or its largest list holds ``ivf_imbalance`` times the mean.
        """
        s, st = self.settings, self.state
        if s.index not in GRAPH_KINDS or st.codec is None:
            return
        if s.index == "ivf":
            if rebuild:
                self.cancel_retrain()  # a rebuild asked for now supersedes one under way
            else:
                self._adopt_retrain(wait=False)
        if s.index == "ivf" and st.graph is not None and not rebuild:
            g0 = st.graph
            assert isinstance(g0, IVFGraph)  # internal invariant: an ivf collection holds IVF lists
            rebuild = self._retrain_when_drifted(g0)
        fresh = rebuild or st.graph is None
        start = 0 if fresh else st.tail_start
        rows = start + np.flatnonzero(st.alive.values[start:])
        size = 0 if fresh else st.graph.ntotal  # type: ignore[union-attr]
        if not force and not rebuild and len(rows) < max(self.graph_min_tail, self.graph_growth * size):
            return
        if not len(rows) and not rebuild:
            return
        if s.index == "ivf" and fresh and len(rows) < MIN_ROWS_PER_LIST * (s.nlist or 1):
            # too few rows to train nlist lists: the codes are scanned until there are enough
            if explain:
                raise ParameterError(
                    f"nlist {s.nlist or 1:,} needs at least {MIN_ROWS_PER_LIST * (s.nlist or 1):,} rows to train "
                    f"({MIN_ROWS_PER_LIST} per list); this collection has {len(rows):,}: its codes are scanned "
                    f"until it has enough (or create it with nlist <= {auto_nlist(len(rows)):,})"
                )
            return
        rowids = st.rowids.values
        g: HNSWGraph | IVFGraph
        if s.index == "ivf":
            if fresh:
                g = self._train_ivf(rows)
            else:
                g = st.graph  # type: ignore[assignment]
            g.add_rows(rows, st.vectors, rowids[rows], st.code_reader())  # type: ignore[union-attr]
            g.settle()  # type: ignore[union-attr]
            if not fresh and self._retrain_when_drifted(g):  # type: ignore[arg-type]
                # the rows just added crowd some lists: a partition trained on all rows replaces this one
                self._maintain_graph(force=True, rebuild=True)
                return
        else:
            if fresh:
                g = HNSWGraph.empty(s.dim, s.metric, m=s.hnsw_m, ef_construction=s.ef_construction)
            else:
                g = st.graph.owned(self.root, st.graph_rec)  # type: ignore[union-attr, arg-type]
            step = 4 * block_rows(s.dim)
            if self.graph_order == "lid" and len(rows) >= 3:
                rows = self._lid_order(rows)
                step = 1024  # FAISS shuffles the rows of one add: small adds keep the order
            for sl in iter_slices(len(rows), step):
                block = rows[sl]
                g.add(prepare_rows(st.vectors[block], s.metric), rowids[block])  # type: ignore[call-arg]
        self._commit_graph(g)

    def _commit_graph(self, g: HNSWGraph | IVFGraph) -> None:
        """Write ``g`` and commit it as the collection's index (the old one's files become garbage)."""
        st = self.state
        num = st.reserve()
        rec = g.save(self.root, graph_stem(num)) if g.ntotal else None
        try:
            with self.catalog.write() as tx:
                tx.set_graph(rec)
                tx.put(generation=st.generation + 1, next_file=st.next_file)
        except BaseException:
            if rec is not None:
                self.abort([rec.links.name, rec.storage.name])
            if g is st.graph and st.graph_rec is not None:  # IVF lists extended in place: back to what is on disk
                st.graph = IVFGraph.load(self.root, st.graph_rec, st.codec)
            raise
        kept = g if isinstance(g, IVFGraph) and rec is not None else None  # IVF lists stay in memory as built
        del g  # an HNSW graph is reopened memory-mapped from what was written
        self._committed()
        st.graph_rec = rec
        if kept is not None or self.settings.index == "ivf":
            st.graph = kept
        else:
            st.graph = HNSWGraph.load(self.root, rec, mapped=True) if rec is not None else None
        st.refresh_graph_rows()
        self.write_manifest()

    # ------------------------------------------------------------------ background retrain (IVF)
    def _retrain_when_drifted(self, g: IVFGraph) -> bool:
        """Whether ``g`` must be retrained here and now; a large collection's drifted partition is retrained
        in the background instead (False: keep extending ``g`` meanwhile)."""
        st = self.state
        if not g.drifted(len(st), regrow=self.ivf_regrow, imbalance=self.ivf_imbalance):
            return False
        if len(st) < self.background_from:
            return True
        if self.retrain is None:
            rows = np.flatnonzero(st.alive.values)
            self.retrain = BackgroundRetrain(st, rows, self._train_ivf)
        return False

    def _adopt_retrain(self, *, wait: bool) -> bool:
        """Swap in a finished background retrain (``wait``: wait for it); True if a new index was committed."""
        job = self.retrain
        if job is None or (not wait and not job.done):
            return False
        job.join()
        self.retrain = None
        if job.graph is None:
            if job.error is not None:
                if not isinstance(job.error, Exception):
                    raise job.error
                warnings.warn(
                    f"background retrain of the IVF partition of {self.root} failed ({type(job.error).__name__}: "
                    f"{job.error}); the current lists stay in use",
                    RuntimeWarning,
                    stacklevel=2,
                )
            return False
        st, g = self.state, job.graph
        start = int(np.searchsorted(st.rowids.values, job.last_rowid, side="right"))
        rows = start + np.flatnonzero(st.alive.values[start:])  # added while it trained
        g.add_rows(rows, st.vectors, st.rowids.values[rows], st.code_reader())
        self._commit_graph(g)
        if st.index is not None:
            st.release_codes()
        return True

    def finish_retrain(self) -> bool:
        """Wait for a background retrain under way and swap it in; True if one was."""
        return self._adopt_retrain(wait=True)

    def cancel_retrain(self) -> None:
        """Stop and drop a background retrain under way (nothing of it was written)."""
        if self.retrain is not None:
            self.retrain.cancel()
            self.retrain = None
