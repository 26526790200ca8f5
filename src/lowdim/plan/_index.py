"""The index a plan recommends next to its codec: IVF lists, how many, how many to probe, over which codes.

An IVF index loses recall in two places: the partition (a true neighbour in a list the
query does not probe is never seen) and the codec (inside the probed lists, codes rank
less well than the vectors). :func:`plan_index` measures both on the plan's own data and
queries, apart:

* the **partition's ceiling** at each ``nprobe``: the share of the true top-k whose list is
  among the probed ones (what IVF with exact vectors would return); the fewest lists whose
  ceiling reaches the target set the probe budget (twice that, unless given);
* the **recall with each codec** (the plan's recommendation first, then larger accepted
  ones) per ``nprobe``, judged by the planner's acceptance rule on the two query halves.

The recommendation is the first codec (fewest bytes) accepted within the probe budget, at
the smallest ``nprobe`` on the ladder 1, 2, 4, ..., nlist; a codec chosen to just meet the
target in a flat scan often needs nearly every list, and a slightly larger one far fewer.
``limited_by`` says whether the step below failed because the partition could not reach the
target there (``"partition"``) or because the codec lost what the partition had (``"codec"``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..arrays import iter_slices, sample_indices, to_float32
from ..eval import recall_per_query
from ..exceptions import ParameterError
from ..search import MIN_ROWS_PER_LIST, IVFIndex, auto_nlist, training_rows
from ._pareto import acceptance

__all__ = ["IndexPlan", "plan_index", "INDEX_KINDS", "INDEX_CODECS"]

#: the index kinds a plan can recommend
INDEX_KINDS = ("ivf",)
#: codecs a plan tries under its index at most (the recommendation, then larger accepted ones)
INDEX_CODECS = 4


@dataclass
class IndexPlan:
    """The IVF index a plan recommends (``Plan.index``).

    Attributes
    ----------
    kind : str
        ``"ivf"``.
    nlist, nprobe : int
        Lists, and lists probed per query (None when even ``nprobe = nlist`` misses the target).
    spec : str
        The index spec string (``ivf1024/pq96x4+rerank10``): ``Collection.create(plan=p)`` uses it.
    limited_by : str or None
        ``"partition"`` or ``"codec"``: what failed at the ``nprobe`` below the recommended one.
    curve : list of dict
        Per measured ``nprobe``: ``ceiling`` (the partition's recall with exact vectors),
        ``recall`` (with the codec, all queries), ``recall_choose``, ``recall_confirm``,
        ``accepted``, ``ms_per_query`` (one thread, the queries in one batch).
    build_seconds, ram_bytes_per_vector : float
        Training plus adding every row; codes, ids and centroids per vector.
    max_ms : float or None
        The latency budget asked for; ``notes`` says whether the recommendation keeps it.
    notes : list of str
    """

    kind: str
    nlist: int
    nprobe: int | None
    spec: str
    limited_by: str | None
    curve: list[dict[str, Any]]
    build_seconds: float
    ram_bytes_per_vector: float
    max_ms: float | None = None
    notes: list[str] = field(default_factory=list)
    #: every codec tried, fewest bytes first, with the nprobe it needed (None: not within what was measured)
    tried: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        """One line: the index, nprobe, its recall and what limits it."""
        if self.nprobe is None:
            return f"index {self.spec}: no nprobe meets the target (see the curve)"
        at = next(c for c in self.curve if c["nprobe"] == self.nprobe)
        why = f"; the step below fails on the {self.limited_by}" if self.limited_by else ""
        return (
            f"index {self.spec}, nprobe {self.nprobe} of {self.nlist}: recall {at['recall']:.4f} "
            f"(partition ceiling {at['ceiling']:.4f}), {at['ms_per_query']:.2f} ms/query{why}"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IndexPlan:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def plan_index(
    codecs: Any,
    corpus: Any,
    queries: np.ndarray,
    gt: np.ndarray,
    *,
    target: float,
    k: int,
    halves: tuple[np.ndarray, np.ndarray],
    confidence: float = 0.95,
    nlist: int | None = None,
    max_nprobe: int | None = None,
    max_ms: float | None = None,
    seed: int = 0,
) -> IndexPlan:
    """Measure IVF indexes over the codes of ``codecs`` and recommend the codec, nlist and nprobe together.

    The partition (``nlist`` lists, trained once on the vectors) is the same for every codec;
    its ceiling per ``nprobe`` is measured first. The probe budget is ``max_nprobe``, else
    twice the fewest lists whose ceiling reaches the target (``nlist`` when none does below
    it): codecs are tried in the order given (fewest bytes first) and the first whose
    recall is accepted within the budget (and ``max_ms``, if given) is recommended. When
    none is, the first codec is recommended at the nprobe it needs (``nlist`` at most: the
    flat scan's recall, which it met).

    Parameters
    ----------
    codecs : Pipeline, or sequence of Pipelines or of callables returning one
        Fitted codecs that meet the target in a flat scan (``+rerank`` included), fewest
        bytes first; callables are fitted only when reached.
    corpus : (n, d) array or memmap
    queries, gt : the plan's queries and their exact top-``k`` corpus rows
    target, k, halves, confidence : the plan's acceptance rule (see :func:`~lowdim.plan.acceptance`)
    nlist : int, optional
        Lists (default :func:`~lowdim.search.auto_nlist` of the rows, about ``4 sqrt(n)``).
    max_nprobe : int, optional
        Probe budget (default: twice the partition's own need, see above).
    max_ms : float, optional
        Latency budget per query (one thread, batch).
    seed : int
    """
    todo = [codecs] if not isinstance(codecs, (list, tuple)) else list(codecs)
    if not todo:
        raise ParameterError("plan_index needs at least one codec")
    n = len(corpus)
    nlist = auto_nlist(n) if nlist is None else int(nlist)
    if nlist < 1 or nlist * MIN_ROWS_PER_LIST > n:
        raise ParameterError(
            f"The 'nlist' parameter of plan needs {MIN_ROWS_PER_LIST} corpus rows per list: {n:,} rows allow at most "
            f"{max(1, n // MIN_ROWS_PER_LIST):,}. Got {nlist}."
        )
    t = time.perf_counter()
    first = _fitted(todo[0])
    part = IVFIndex(first, nlist=nlist, vectors=corpus, random_state=seed)
    part.train(to_float32(np.asarray(corpus[sample_indices(n, training_rows(n, nlist), seed)])))
    row_list = np.empty(n, np.int64)
    for sl in iter_slices(n, 16384):
        row_list[sl] = part.assign(to_float32(np.asarray(corpus[sl])), 1)[:, 0]
    truth = np.asarray(gt)[:, :k]
    probes = [p for p in (1 << i for i in range(nlist.bit_length())) if p < nlist] + [nlist]
    order = part.assign(queries, nlist)  # every list, nearest first
    ceiling = {}
    for p in probes:
        probed = np.zeros((len(queries), nlist), bool)
        np.put_along_axis(probed, order[:, :p], True, axis=1)
        hit = np.take_along_axis(probed, row_list[np.maximum(truth, 0)], axis=1) & (truth >= 0)
        ceiling[p] = float(hit.sum(1).mean() / k)
    need = next((p for p in probes if ceiling[p] >= target), nlist)
    cap = min(nlist, max_nprobe if max_nprobe is not None else 2 * need)
    partition_s = time.perf_counter() - t
    notes = [
        f"{nlist} lists trained on {training_rows(n, nlist):,} rows (imbalance of the rows "
        f"{np.bincount(row_list, minlength=nlist).max() * nlist / n:.2f}); the partition alone reaches {target:g} "
        f"at nprobe {need} (ceiling {ceiling[need]:.4f}); probe budget {cap}"
        + (" (max_nprobe)" if max_nprobe is not None else " (twice that)")
    ]
    tried: list[tuple[Any, list[dict[str, Any]], float, float]] = []
    chosen_at = None
    for i, item in enumerate(todo):
        codec = first if i == 0 else _fitted(item)
        t = time.perf_counter()
        index = IVFIndex(codec, nlist=nlist, vectors=corpus, random_state=seed)
        index.coarse = part.coarse
        for sl in iter_slices(n, 16384):
            X = to_float32(np.asarray(corpus[sl]))
            index.add(codec.encode(X), np.arange(sl.start, sl.stop, dtype=np.int64), vectors=X)
        build = partition_s + time.perf_counter() - t
        curve = _curve(index, queries, truth, k, probes, ceiling, halves, target, confidence, stop=nlist if i == 0 else cap)
        tried.append((codec, curve, build, float(index.stats().ram_bytes_per_vector)))
        ok = next((c for c in curve if c["accepted"] and c["nprobe"] <= cap), None)
        if ok is not None and (max_ms is None or ok["ms_per_query"] <= max_ms):
            chosen_at = i
            break
        got = next((c["nprobe"] for c in curve if c["accepted"]), None)
        last = curve[-1]["nprobe"]
        budget = f"budget {cap}" + (f", {max_ms:g} ms" if max_ms is not None else "")
        notes.append(f"{codec.to_spec()} needs nprobe {got if got is not None else f'> {last}'} ({budget})")
    i = 0 if chosen_at is None else chosen_at
    codec, curve, build, ram = tried[i]
    chosen = next((c for c in curve if c["accepted"]), None)
    if chosen_at is None and len(tried) > 1:
        notes.append(f"no codec met the target within the budget: {codec.to_spec()} at the nprobe it needs")
    limited_by = None
    pos = curve.index(chosen) if chosen is not None else -1
    if chosen is not None and pos > 0:
        below = curve[pos - 1]
        limited_by = "partition" if below["ceiling"] < target else "codec"
        notes.append(
            f"at nprobe {below['nprobe']} the partition's ceiling is {below['ceiling']:.4f} and the codec's recall "
            f"{below['recall']:.4f}: the {limited_by} keeps it below {target:g}"
        )
    if max_ms is not None and chosen is not None:
        kept = chosen["ms_per_query"] <= max_ms
        notes.append(
            f"latency budget {max_ms:g} ms/query {'kept' if kept else 'not kept'}: {chosen['ms_per_query']:.2f} ms at "
            f"nprobe {chosen['nprobe']}"
        )
    return IndexPlan(
        kind="ivf",
        nlist=nlist,
        nprobe=None if chosen is None else chosen["nprobe"],
        spec=f"ivf{nlist}/{codec.to_spec()}",
        limited_by=limited_by,
        curve=curve[: pos + 1] if chosen is not None else curve,
        build_seconds=build,
        ram_bytes_per_vector=ram,
        max_ms=max_ms,
        notes=notes,
        tried=[{"spec": c.to_spec(), "nprobe": next((x["nprobe"] for x in cv if x["accepted"]), None)} for c, cv, _, _ in tried],
    )


def _fitted(item: Any) -> Any:
    """A codec given to :func:`plan_index`: the Pipeline itself, or what its fitter returns."""
    return item if hasattr(item, "encode") else item()


def _curve(index, queries, truth, k, probes, ceiling, halves, target, confidence, *, stop: int) -> list[dict[str, Any]]:
    """Recall with the codec per nprobe (up to ``stop``, or the first accepted), next to the partition's ceiling."""
    choose, confirm = halves
    curve: list[dict[str, Any]] = []
    for p in probes:
        if p > stop:
            break
        t = time.perf_counter()
        res = index.search(queries, k, nprobe=p)
        ms = 1000 * (time.perf_counter() - t) / len(queries)
        per = recall_per_query(res.ids, truth, k)
        v = acceptance(per[choose], per[confirm], target, confidence=confidence)
        curve.append(
            {
                "nprobe": p,
                "ceiling": ceiling[p],
                "recall": float(per.mean()),
                "recall_choose": v.recall_choose,
                "recall_confirm": v.recall_confirm,
                "accepted": bool(v.accepted),
                "ms_per_query": ms,
            }
        )
        if v.accepted:
            break
    return curve
