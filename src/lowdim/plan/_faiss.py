"""FAISS's frontier, measured inside a plan on the plan's own data.

Every plan shows, next to its recommendation, FAISS's smallest configuration reaching the
same target at the same rerank budget, measured in the same run on the same training
sample, corpus, queries and exact neighbours (design.md: side by side).
:func:`measure_faiss_frontier` measures FAISS's configurations (:func:`faiss_configs`:
``SQ8``, ``SQ4``, 8-bit ``PQ<m>`` for every m >= 4 dividing d, ``OPQ<m>,PQ<m>`` at 8 and
16 dimensions per sub-quantizer, ``RaBitQ`` to ``RaBitQ4``, ``PCA<p>,SQ8`` at about d/8,
d/4, d/2 and 3d/4, and ``BFlat``: sign bits in ``IndexBinaryFlat``, what FAISS users do for
binary codes) at every rerank factor; :func:`faiss_smallest` picks the smallest point the
planner's rule accepts. Each point names the lowdim spec of the same (or the nearest)
codec (:func:`faiss_spec`), so that where FAISS wins the planner can measure that spec.

How, and why so:

- **Training** on the planner's sample (``SharedFits.train``, normalised for cosine). PQ's
  k-means runs on the rows and with the seed lowdim's ``pq`` gets, through FAISS's
  ``ProductQuantizer`` directly (what ``IndexPQ.train`` runs, without its overhead): the
  codes equal the planner's ``pq<m>x8`` (up to rounding below 8 dimensions per
  sub-quantizer, see :func:`~lowdim.plan._faiss_build.kmeans_path`). OPQ is FAISS's ``OPQMatrix`` on the rows lowdim's
  ``opq`` gets, with its 20 iterations (the planner's own fit, given ``fits``).
- **Refine ×r** is an exact rerank of the best ``r * k`` candidates from the corpus with
  :func:`lowdim.search.rerank_exact`. ``IndexRefineFlat`` (``k_factor = r``) computes the
  same, but needs a float32 copy of the corpus in RAM (``4 * d`` B/vector, reported apart
  as ``refine_ram_bytes``) and a search per factor, and would time FAISS's rerank against
  lowdim's: so one search serves every factor, and QPS compares codes, not rerank code.
- **Recall** from one search (all cores) for ``max(factors) * k`` candidates; factor f's
  are the first ``f * k``, what a search for ``f * k`` returns (as ``_measure.py``).
- **QPS**: one thread, one batch of at most 256 queries (fewer where the scan is slow):
  query preparation and the scan, timed once for the largest factor's candidates (a flat
  scan's cost hardly depends on how many it keeps), plus each factor's own rerank.
- **Economy.** Given the planner's ``accept``, a search per family (see
  :func:`measure_faiss_frontier`) measures a handful of configurations, not all. Training
  dominates: PQ's k-means (its cost grows with m) and OPQ's rotation (tens of seconds on
  384-d); then the scans of slow codes (SQ, multi-bit RaBitQ).
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from .._progress import ProgressBar
from ..arrays import block_rows, iter_slices, normalize_rows, prepare_rows, single_thread
from ..eval import recall_per_query
from ..exceptions import ParameterError
from ..search import rerank_exact
from ..spec import parse_spec
from ..validation import as_float_rows, check_embeddings, check_k, check_metric, check_positive_int
from ._faiss_build import BINARY_FACTORY, FAST_DSUB, BuiltIndex
from ._inputs import check_gt

__all__ = ["FaissPoint", "measure_faiss_frontier", "faiss_smallest", "faiss_configs", "faiss_spec", "BINARY_FACTORY"]

RABITQ_BITS = (1, 2, 3, 4)  # 5 to 8 bits cost more than SQ8 at d >= 64
PCA_SHARES = (1 / 8, 1 / 4, 1 / 2, 3 / 4)  # PCA widths as shares of d, rounded to multiples of 8
OPQ_DSUB = (8, 16)  # OPQ where a sub-quantizer has this many dimensions (its fits are the slowest here)
MAX_OPQ = 1  # OPQ fits tried when searching for the smallest accepted configuration (tens of seconds each on 384-d)
_SEARCH_ORDER = ("binary", "rabitq", "pca", "sq", "pq", "opq")  # quick families first: they bound PQ's and OPQ's search
N_TIMED, MIN_TIMED, TIMED_SECONDS = 256, 32, 0.5  # queries timed in one batch, the fewest, a batch's seconds at most
CACHE_BYTES = 1 << 29  # the prepared corpus (float32, normalised) is kept once below this size, else re-read


@dataclass
class FaissPoint:
    """One FAISS configuration measured at one refine factor (field names are the JSON schema).

    Attributes
    ----------
    name : str
        ``factory`` plus ``",RFlat×<r>"`` when refined, e.g. ``"PQ8,RFlat×4"``.
    factory : str
        The ``index_factory`` string (``"BFlat"``: IndexBinaryFlat over sign bits).
    code_bytes : int
        FAISS's ``sa_code_size``: code bytes per vector in RAM.
    refine_ram_bytes : int
        The float32 refine store IndexRefineFlat keeps in RAM (``4 * d``; 0 without refine).
    rerank : int
        Refine factor ``r``: ``r * k`` candidates rescored exactly (0: none).
    recall : float
        Mean recall@k over the queries.
    recall_per_query : ndarray (n_queries,) float64
        Per-query recall@k, for the planner's acceptance rule (not written to JSON).
    qps : float
        Queries per second, one thread, one batch, refine included.
    spec : str
        The lowdim spec building the same (``exact``) or the nearest codec, with ``+rerank<r>``.
    exact : bool
        lowdim's ``spec`` makes bit-identical codes when fitted by the planner on the same sample.
    note : str
        What differs from ``spec`` (empty when ``exact``).
    build_seconds : float
        Training plus adding the corpus (shared by every factor of the configuration).
    recall_choose, recall_confirm, margin : float or None
        The planner's verdict on the point (its two query halves and margin), set by the planner.
    """

    name: str
    factory: str
    code_bytes: int
    refine_ram_bytes: int
    rerank: int
    recall: float
    qps: float
    spec: str
    exact: bool
    note: str = ""
    build_seconds: float = 0.0
    recall_per_query: np.ndarray | None = field(default=None, repr=False, compare=False)
    recall_choose: float | None = None
    recall_confirm: float | None = None
    margin: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of the fields (``recall_per_query`` and unset planner fields left out).

        Examples
        --------
        >>> p = FaissPoint("PQ8,RFlat×4", "PQ8", 8, 1536, 4, 0.97, 2500.0, "pq8x8+rerank4", True)
        >>> p.to_dict()["spec"], p.to_dict()["code_bytes"]
        ('pq8x8+rerank4', 8)
        """
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name != "recall_per_query" and v is not None:  # None: a planner's field not set
                out[f.name] = v if isinstance(v, (str, bool)) else int(v) if isinstance(v, (int, np.integer)) else float(v)
        return out


# -- the configurations and their lowdim specs ------------------------------------------------


@dataclass(frozen=True)
class _Family:
    """One family of FAISS configurations: its factory string, its lowdim spec (a format of the string's numbers)."""

    name: str
    pattern: str
    spec: str
    #: lowdim's codec, fitted by the planner on the same sample, trains exactly as FAISS does
    same_training: bool
    note: str = ""


_NOTES = {
    "sq": "nearest: lowdim's int{0} learns per-dimension clip ranges that minimise the reconstruction error; FAISS's "
    "SQ{0} uses the training min/max (same code layout and scan)",
    "opq": "nearest: FAISS's OPQMatrix (with lowdim's 20 iterations; the factory's default is 50) and PQ on the rows "
    "lowdim's opq gets, but FAISS rotates the vectors with its own matrix product: codes equal up to rounding",
    "pca": "nearest: the same subspace, but FAISS's PCA subtracts the mean (which changes inner-product, not L2, "
    "rankings) and its SQ8 uses min/max ranges where lowdim's int8 fits them",
    "binary": "nearest: FAISS keeps sign(x) bits and ranks by Hamming distance; lowdim's binary centres on the training "
    "mean, learns per-dimension scales and scores the float query (the same 1 bit per dimension)",
}
_FAMILIES = tuple(
    _Family(name, pattern, spec, same, _NOTES.get(name, ""))
    for name, pattern, spec, same in (
        ("sq", r"SQ(8|4)", "int{0}", False),
        ("pq", r"PQ(\d+)", "pq{0}x8", True),
        ("opq", r"OPQ(\d+),PQ(\d+)", "opq{0}/pq{1}x8", False),
        ("rabitq", r"RaBitQ(\d?)", "rabitq{0}", True),
        ("pca", r"PCA(\d+),SQ8", "pca{0}/int8", False),
        ("binary", re.escape(BINARY_FACTORY), "binary", False),
    )
)


def _family(factory: str) -> tuple[_Family, str]:
    """The family of ``factory`` and its lowdim spec."""
    for fam in _FAMILIES:
        m = re.fullmatch(fam.pattern, factory)
        if m is not None:
            return fam, fam.spec.format(*(g or "1" for g in m.groups()))  # "RaBitQ" is RaBitQ1
    raise ParameterError(f"'{factory}' is not a FAISS configuration of the plan's frontier (see faiss_configs)")


def faiss_spec(factory: str, d: int) -> tuple[str, bool, str]:
    """The lowdim spec of a frontier configuration on ``d`` dimensions: ``(spec, exact, note)``.

    ``exact`` holds where the codec registry declares FAISS's piece exact for every stage
    (:class:`lowdim.codecs.FaissEquivalent`) and lowdim's planner trains it as FAISS does,
    so that the codes are bit-identical; ``note`` says what differs otherwise.

    Examples
    --------
    >>> faiss_spec("OPQ24,PQ24", 384)[:2], faiss_spec("RaBitQ2", 384)[:2], faiss_spec("PQ8", 384)[:2]
    (('opq24/pq24x8', False), ('rabitq2', True), ('pq8x8', True))
    """
    fam, spec = _family(factory)
    parsed = parse_spec(spec)
    equivalents = [st.faiss_equivalent() for st in (*parsed.transforms, parsed.quantizer)]
    exact = all(eq is not None and eq.exact for eq in equivalents) and fam.same_training
    if fam.name == "pq" and d // parsed.quantizer.args[0] < FAST_DSUB:
        note = (
            f"nearest: the same k-means as lowdim's {spec} on the same rows, but on FAISS's BLAS distances (10x faster "
            f"on sub-vectors of under {FAST_DSUB} dimensions) where lowdim's pq uses its direct ones: codes equal up to rounding"
        )
        return spec, False, note
    return spec, exact, "" if exact else fam.note.format(*re.findall(r"\d+", factory))


def faiss_configs(d: int, *, max_bytes: int | None = None) -> list[str]:
    """The frontier's FAISS configurations for ``d`` dimensions, fewest code bytes first.

    Examples
    --------
    >>> faiss_configs(64, max_bytes=8)
    ['PQ4', 'OPQ4,PQ4', 'PQ8', 'OPQ8,PQ8', 'PCA8,SQ8', 'BFlat']
    """
    d = check_positive_int(d, "d", owner="faiss_configs")
    names = ["SQ8", "SQ4", BINARY_FACTORY]
    ms = [m for m in range(4, d + 1) if d % m == 0]
    names += [f"PQ{m}" for m in ms]
    names += [f"OPQ{m},PQ{m}" for m in ms if OPQ_DSUB[0] <= d // m <= OPQ_DSUB[1]]
    names += ["RaBitQ" if b == 1 else f"RaBitQ{b}" for b in RABITQ_BITS]
    widths = sorted({max(8, 8 * round(d * share / 8)) for share in PCA_SHARES})
    names += [f"PCA{p},SQ8" for p in widths if p < d]
    sized = sorted(names, key=lambda c: (_code_bytes(c, d), _rank(c), c))
    return [c for c in sized if max_bytes is None or _code_bytes(c, d) <= max_bytes]


def _rank(factory: str) -> int:
    """The family's place in :data:`_FAMILIES` (the order of configurations of equal bytes)."""
    return _FAMILIES.index(_family(factory)[0])


def _code_bytes(factory: str, d: int) -> int:
    """FAISS's code size of ``factory`` on ``d`` dimensions (equal to lowdim's spec's, which the tests check)."""
    return parse_spec(_family(factory)[1]).bytes_per_vector(d)


# -- building and searching one configuration -------------------------------------------------


class _Corpus:
    """The corpus as FAISS indexes it (float32, normalised for cosine), in blocks; kept in memory once when small."""

    def __init__(self, corpus: Any, metric: str) -> None:
        self.corpus, self.metric = corpus, metric
        self._cached = prepare_rows(corpus, metric) if 4 * corpus.size <= CACHE_BYTES else None

    def blocks(self) -> Iterator[np.ndarray]:
        if self._cached is not None:
            yield self._cached
            return
        for s in iter_slices(len(self.corpus), block_rows(self.corpus.shape[1])):
            yield prepare_rows(self.corpus[s], self.metric)  # a copy: a float32 corpus's block is a view


# -- the frontier ------------------------------------------------------------------------------


def _check_factors(factors: Any) -> list[int]:
    if isinstance(factors, (int, np.integer)) or not isinstance(factors, Sequence) or not len(factors):
        raise ParameterError(
            f"The 'factors' parameter of measure_faiss_frontier must be a non-empty list of integers >= 0. Got {factors!r}."
        )
    return sorted({check_positive_int(f, "factors", owner="measure_faiss_frontier", minimum=0) for f in factors})


def _train_rows(train: Any, d: int, metric: str) -> np.ndarray:
    X = check_embeddings(train, n_features=d, name="train", what="the corpus")
    norms = np.linalg.norm(X, axis=1)
    # the planner's sample is normalised already: used bit for bit, so that PQ codes equal lowdim's
    return normalize_rows(X) if metric == "cosine" and not np.allclose(norms[norms > 0], 1.0, atol=1e-4) else X


def _timed_qps(
    built: BuiltIndex, queries: np.ndarray, corpus: Any, *, k: int, metric: str, factors: list[int]
) -> dict[int, float]:
    """Single-thread batch QPS per factor: query preparation and the scan (once, for the most candidates), plus each rerank."""
    n_cand = k * max(max(factors), 1)

    def scan(Q: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        t = time.perf_counter()
        Qp = prepare_rows(Q, metric)
        ids = built.search(Qp, n_cand)
        return time.perf_counter() - t, Qp, ids

    with single_thread():
        n_t = min(len(queries), MIN_TIMED)
        elapsed, Qp, ids = scan(queries[:n_t])
        more = min(len(queries), N_TIMED, int(n_t * TIMED_SECONDS / max(elapsed, 1e-9)))
        if more > n_t:  # a fast scan: time a full batch instead of the probe
            n_t = more
            elapsed, Qp, ids = scan(queries[:n_t])
        qps = {}
        for f in factors:
            t = time.perf_counter()
            if f:
                rerank_exact(Qp, ids[:, : f * k], corpus, k, metric=metric)
            qps[f] = n_t / max(elapsed + time.perf_counter() - t, 1e-9)
    return qps


def measure_faiss_frontier(
    train: Any,
    corpus: Any,
    queries: Any,
    gt: Any,
    *,
    k: int,
    metric: str,
    factors: Sequence[int],
    max_bytes: int | None = None,
    seed: int = 0,
    progress: bool = False,
    accept: Callable[[FaissPoint], bool] | None = None,
    configs: Sequence[str] | None = None,
    fits: Any = None,
    memo: MutableMapping[str, list[FaissPoint]] | None = None,
    bound: int | None = None,
    prior: Callable[[str], bool | None] | None = None,
) -> list[FaissPoint]:
    """Measure FAISS's configurations on the plan's data at every refine factor.

    Without ``accept`` every configuration is measured (the whole frontier, for benchmarks).
    With it, only what it takes to find FAISS's smallest accepted configuration: family by
    family (sign bits, RaBitQ, PCA, SQ, PQ, then OPQ), a binary search over the members
    smaller than the smallest accepted so far, assuming that recall grows with code bytes
    within a family (more PQ sub-quantizers, RaBitQ bits, PCA dimensions; SQ8 over SQ4); OPQ
    is tried at most :data:`MAX_OPQ` times, largest first, below that size. :func:`faiss_smallest`
    then finds the code size a full sweep finds (of that size, the first family in that order).

    Parameters
    ----------
    train : (n_train, d) float32
        The planner's training sample (``SharedFits.train``, L2-normalised for cosine; raw
        rows are normalised here).
    corpus : (n, d) array or memmap, float16 or float32
        Indexed by every configuration, and the rerank store (only candidate rows are read).
    queries : (nq, d) float32
    gt : (nq, >= k) int
        Exact neighbours as corpus row numbers.
    k : int
    metric : {"cosine", "ip", "l2"}
        Cosine is the inner product of L2-normalised rows.
    factors : sequence of int >= 0
        Refine factors, e.g. ``(0, 2, 4)``.
    max_bytes : int, optional
        Leave out configurations of more code bytes per vector.
    seed : int
        The planner's seed (PQ and OPQ training rows, k-means seed).
    progress : bool
        Show a progress bar on stderr.
    accept : callable, optional
        The planner's acceptance rule, ``accept(point) -> bool``.
    configs : sequence of str, optional
        Configurations to choose from instead of :func:`faiss_configs`.
    fits : SharedFits, optional
        The planner's shared fits (``train`` is their sample): OPQ then takes its rotation
        and codebooks from them (the same OPQMatrix and PQ on the same rows), fitted once
        per plan and reused if the planner measures that spec itself.
    memo : dict, optional
        Configurations measured before on the same data and queries (factory -> points),
        reused where they cover ``factors``, and filled with what is measured here (the
        planner keeps one per :class:`~lowdim.plan.PlanCache`, so a sweep of targets trains
        each configuration once).
    bound : int, optional
        With ``accept``: the code bytes of the planner's own smallest accepted spec.
        Configurations of at most ``bound`` bytes are searched first (they decide whether
        FAISS is smaller), larger ones only when none of those is accepted.
    prior : callable, optional
        ``prior(factory)``: a guess whether ``accept`` will take the configuration (the
        planner's verdict on its lowdim spec), or None. It only orders the search: each
        family's bisection starts at the guessed boundary; every verdict is FAISS's own.

    Returns
    -------
    list of FaissPoint
        One per measured configuration and factor: configurations by code bytes, factors ascending.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = (rng.standard_normal((2000, 8)) @ rng.standard_normal((8, 32))).astype(np.float32)
    >>> from lowdim.search import exact_knn
    >>> Q = X[:50]
    >>> _, gt = exact_knn(X, Q, 10, metric="cosine")
    >>> pts = measure_faiss_frontier(X, X, Q, gt, k=10, metric="cosine", factors=(0, 4), configs=["SQ8", "PQ8"])
    >>> [(p.name, p.spec) for p in pts]
    [('PQ8', 'pq8x8'), ('PQ8,RFlat×4', 'pq8x8+rerank4'), ('SQ8', 'int8'), ('SQ8,RFlat×4', 'int8+rerank4')]
    """
    k = check_k(k)
    metric = check_metric(metric, owner="measure_faiss_frontier")
    fs = _check_factors(factors)
    seed = check_positive_int(seed, "seed", owner="measure_faiss_frontier", minimum=0)
    cap = float("inf") if max_bytes is None else check_positive_int(max_bytes, "max_bytes", owner="measure_faiss_frontier")
    corpus = as_float_rows(corpus, name="corpus")
    n, d = corpus.shape
    Q = check_embeddings(queries, n_features=d, name="queries", what="the corpus")
    truth = check_gt(gt, len(Q), n, k)
    X = _train_rows(train, d, metric)
    if k * max(max(fs), 1) > n:
        raise ParameterError(f"k={k} times the largest factor {max(fs)} exceeds the corpus's {n} rows; pass smaller factors")
    names = faiss_configs(d) if configs is None else list(configs)
    sizes = {c: _code_bytes(c, d) for c in names}
    # a codec that cannot be fitted on so few rows (8-bit PQ: 256) is left out, as the planner leaves out its spec
    names = [c for c in names if sizes[c] <= cap and len(X) >= parse_spec(_family(c)[1]).min_fit_rows(d)]

    run = _Run(X, _Corpus(corpus, metric), corpus, Q, prepare_rows(Q, metric), truth, k, metric, fs, seed, fits)
    measured: dict[str, list[FaissPoint]] = {}
    with ProgressBar(progress, total=len(names), description="FAISS frontier") as bar:

        def measure(factory: str) -> bool:
            """Measure ``factory`` at every factor; whether ``accept`` takes one of its points."""
            bar.update(f"FAISS {factory}")
            known = memo.get(factory) if memo is not None else None
            if known is not None and set(fs) <= {p.rerank for p in known}:
                measured[factory] = [dataclasses.replace(p) for p in known if p.rerank in fs]
            else:
                measured[factory] = run.measure(factory)
                if memo is not None:
                    memo[factory] = [dataclasses.replace(p) for p in measured[factory]]
            bar.update(advance=1)
            return accept is not None and any(accept(p) for p in measured[factory])

        if accept is None:
            for factory in names:
                measure(factory)
        else:
            _search(names, sizes, measure, bound, prior)
    return [p for c in sorted(measured, key=lambda c: (sizes[c], _rank(c), c)) for p in measured[c]]


def _search(
    names: list[str],
    sizes: dict[str, int],
    measure: Callable[[str], bool],
    bound: int | None = None,
    prior: Callable[[str], bool | None] | None = None,
) -> None:
    """Measure what it takes to find the smallest accepted configuration (see :func:`measure_faiss_frontier`).

    With ``bound``, configurations of at most ``bound`` bytes are searched first; larger ones only when none of
    those is accepted. ``prior(factory)`` guesses acceptance (None: no guess); it orders the measurements only.
    """
    if bound is not None:
        if _search_under(names, sizes, measure, bound + 0.5, prior) < float("inf"):
            return
        names = [c for c in names if sizes[c] > bound]
    _search_under(names, sizes, measure, float("inf"), prior)


def _first_guess(members: list[str], prior: Callable[[str], bool | None] | None) -> int | None:
    """Where ``prior`` puts a family's boundary: its first member guessed accepted, else the one after the last guessed not."""
    if prior is None:
        return None
    guesses = [prior(c) for c in members]
    if True in guesses:
        return guesses.index(True)
    failed = [i for i, g in enumerate(guesses) if g is False]
    return failed[-1] + 1 if failed else None


def _search_under(
    names: list[str],
    sizes: dict[str, int],
    measure: Callable[[str], bool],
    limit: float,
    prior: Callable[[str], bool | None] | None = None,
) -> float:
    """The search among configurations of fewer than ``limit`` bytes; the smallest accepted size, or inf.

    Per family a bisection, which starts where ``prior`` puts the boundary and steps next to it (when the
    guess is right, two measurements find the boundary); then it halves as usual.
    """
    best = limit
    for fam in _SEARCH_ORDER:
        members = sorted((c for c in names if _family(c)[0].name == fam), key=lambda c: (sizes[c], c))
        if fam == "opq":
            # the slowest fits: largest first below the best size, while accepted, at most MAX_OPQ of them
            for c in [c for c in reversed(members) if sizes[c] < best][:MAX_OPQ]:
                if not measure(c):
                    break
                best = sizes[c]
            continue
        lo, hi = 0, len([c for c in members if sizes[c] < best]) - 1  # one of the best size could only tie
        guide = _first_guess(members[: hi + 1], prior)
        if guide is not None:
            guide = min(guide, hi)  # all guessed to fail: the largest first (if it fails, so do the smaller ones)
        steps = 0
        while lo <= hi:
            guided = guide is not None and lo <= guide <= hi and steps < 3
            mid = guide if guided and guide is not None else (lo + hi) // 2
            steps += 1
            if measure(members[mid]):
                best, hi = min(best, sizes[members[mid]]), mid - 1
                guide = mid - 1 if guided else None
            else:
                lo = mid + 1
                guide = mid + 1 if guided else None
    return best if best < limit else float("inf")


@dataclass
class _Run:
    """What every configuration of one frontier is measured on."""

    X: np.ndarray  # the training sample (n_train, d) float32
    prepared: _Corpus
    corpus: Any  # the rerank store
    Q: np.ndarray  # raw queries (nq, d) float32
    Qp: np.ndarray  # queries as the scans see them
    truth: np.ndarray  # (nq, k) exact neighbours
    k: int
    metric: str
    factors: list[int]
    seed: int
    fits: Any

    def measure(self, factory: str) -> list[FaissPoint]:
        """``factory`` trained, filled and searched once; one point per factor."""
        k, d = self.k, self.X.shape[1]
        spec, exact, note = faiss_spec(factory, d)
        t = time.perf_counter()
        fam, spec_ = _family(factory)
        built = BuiltIndex(factory, fam.name, spec_, d, self.metric, self.X, self.seed, self.fits)
        for block in self.prepared.blocks():
            built.add(block)
        build_s = time.perf_counter() - t
        cand = built.search(self.Qp, k * max(max(self.factors), 1))
        qps = _timed_qps(built, self.Q, self.corpus, k=k, metric=self.metric, factors=self.factors)
        points = []
        for f in self.factors:
            ids = rerank_exact(self.Qp, cand[:, : f * k], self.corpus, k, metric=self.metric)[1] if f else cand[:, :k]
            per_query = recall_per_query(ids, self.truth, k)
            points.append(
                FaissPoint(
                    name=factory + (f",RFlat×{f}" if f else ""),
                    factory=factory,
                    code_bytes=built.code_bytes,
                    refine_ram_bytes=4 * d if f else 0,
                    rerank=f,
                    recall=float(per_query.mean()),
                    qps=float(qps[f]),
                    spec=spec + (f"+rerank{f}" if f else ""),
                    exact=exact,
                    note=note,
                    build_seconds=build_s,
                    recall_per_query=per_query,
                )
            )
        return points


def faiss_smallest(points: Sequence[FaissPoint], accept: Callable[[FaissPoint], bool]) -> FaissPoint | None:
    """The accepted point with the fewest code bytes, or None when ``accept`` takes none.

    Ties go to the smaller refine factor (fewer full vectors read per query), then the
    higher recall, then the name (so the answer does not depend on the points' order).

    Examples
    --------
    >>> pts = [FaissPoint("PQ8,RFlat×4", "PQ8", 8, 1536, 4, 0.96, 900.0, "pq8x8+rerank4", True),
    ...        FaissPoint("BFlat,RFlat×2", "BFlat", 8, 256, 2, 0.95, 5000.0, "binary+rerank2", False),
    ...        FaissPoint("PQ4", "PQ4", 4, 0, 0, 0.70, 9000.0, "pq4x8", True)]
    >>> faiss_smallest(pts, lambda p: p.recall >= 0.95).name
    'BFlat,RFlat×2'
    >>> faiss_smallest(pts, lambda p: p.recall >= 0.99) is None
    True
    """
    ok = [p for p in points if accept(p)]
    if not ok:
        return None
    return min(ok, key=lambda p: (p.code_bytes, p.rerank, -p.recall, p.name))
