"""The index a plan recommends next to its codec: IVF lists, how many, and how many to probe.

An IVF index loses recall in two places: the partition (a true neighbour in a list the
query does not probe is never seen) and the codec (inside the probed lists, codes rank
less well than the vectors). :func:`plan_index` measures both on the plan's own data and
queries, apart:

* the **partition's ceiling** at each ``nprobe``: the share of the true top-k whose list is
  among the probed ones (what IVF with exact vectors would return);
* the **recall with the codec** (the plan's recommended spec, its rerank included) at the
  same ``nprobe``, judged by the planner's acceptance rule on the two query halves.

The recommendation is the smallest ``nprobe`` on the ladder 1, 2, 4, ..., nlist that is
accepted (``nprobe = nlist`` scans every list: the flat scan's recall, which the codec met);
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
from ..search import MAX_ROWS_PER_LIST, MIN_ROWS_PER_LIST, IVFIndex, auto_nlist
from ._pareto import acceptance

__all__ = ["IndexPlan", "plan_index", "INDEX_KINDS"]

#: the index kinds a plan can recommend
INDEX_KINDS = ("ivf",)


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
    codec: Any,
    corpus: Any,
    queries: np.ndarray,
    gt: np.ndarray,
    *,
    target: float,
    k: int,
    halves: tuple[np.ndarray, np.ndarray],
    confidence: float = 0.95,
    nlist: int | None = None,
    max_ms: float | None = None,
    seed: int = 0,
) -> IndexPlan:
    """Measure an IVF index over ``codec``'s codes of ``corpus`` and recommend nlist and nprobe.

    Parameters
    ----------
    codec : Pipeline
        Fitted: the plan's recommended spec (its ``+rerank`` applies).
    corpus : (n, d) array or memmap
    queries, gt : the plan's queries and their exact top-``k`` corpus rows
    target, k, halves, confidence : the plan's acceptance rule (see :func:`~lowdim.plan.acceptance`)
    nlist : int, optional
        Lists (default :func:`~lowdim.search.auto_nlist` of the rows, about ``4 sqrt(n)``).
    max_ms : float, optional
        Latency budget per query; the notes say whether the recommendation keeps it.
    seed : int
    """
    n = len(corpus)
    nlist = auto_nlist(n) if nlist is None else int(nlist)
    if nlist < 1 or nlist * MIN_ROWS_PER_LIST > n:
        raise ParameterError(
            f"The 'nlist' parameter of plan needs {MIN_ROWS_PER_LIST} corpus rows per list: {n:,} rows allow at most "
            f"{max(1, n // MIN_ROWS_PER_LIST):,}. Got {nlist}."
        )
    t = time.perf_counter()
    index = IVFIndex(codec, nlist=nlist, vectors=corpus, random_state=seed)
    index.train(to_float32(np.asarray(corpus[sample_indices(n, MAX_ROWS_PER_LIST * nlist, seed)])))
    row_list = np.empty(n, np.int64)
    for sl in iter_slices(n, 16384):
        X = to_float32(np.asarray(corpus[sl]))
        row_list[sl] = index.assign(X, 1)[:, 0]
        index.add(codec.encode(X), np.arange(sl.start, sl.stop, dtype=np.int64), vectors=X)
    build = time.perf_counter() - t
    truth = np.asarray(gt)[:, :k]
    choose, confirm = halves
    probes = [p for p in (1 << i for i in range(nlist.bit_length())) if p < nlist] + [nlist]
    order = index.assign(queries, nlist)  # every list, nearest first
    curve: list[dict[str, Any]] = []
    for p in probes:
        probed = np.zeros((len(queries), nlist), bool)
        np.put_along_axis(probed, order[:, :p], True, axis=1)
        hit = np.take_along_axis(probed, row_list[np.maximum(truth, 0)], axis=1) & (truth >= 0)
        ceiling = float(hit.sum(1).mean() / k)
        t = time.perf_counter()
        res = index.search(queries, k, nprobe=p)
        ms = 1000 * (time.perf_counter() - t) / len(queries)
        per = recall_per_query(res.ids, truth, k)
        v = acceptance(per[choose], per[confirm], target, confidence=confidence)
        curve.append(
            {
                "nprobe": p,
                "ceiling": ceiling,
                "recall": float(per.mean()),
                "recall_choose": v.recall_choose,
                "recall_confirm": v.recall_confirm,
                "accepted": bool(v.accepted),
                "ms_per_query": ms,
            }
        )
        if v.accepted:
            break
    chosen = next((c for c in curve if c["accepted"]), None)
    limited_by = None
    notes = [
        f"{nlist} lists trained on {min(n, MAX_ROWS_PER_LIST * nlist):,} rows; nprobe measured at "
        f"{', '.join(str(c['nprobe']) for c in curve)}; list imbalance {index.stats().imbalance:.2f}"
    ]
    if chosen is not None and len(curve) > 1:
        below = curve[-2]
        limited_by = "partition" if below["ceiling"] < target else "codec"
        notes.append(
            f"at nprobe {below['nprobe']} the partition's ceiling is {below['ceiling']:.4f} and the codec's recall "
            f"{below['recall']:.4f}: the {limited_by} keeps it below {target:g}"
        )
    if max_ms is not None and chosen is not None:
        kept = chosen["ms_per_query"] <= max_ms
        notes.append(
            f"latency budget {max_ms:g} ms/query {'kept' if kept else 'not kept'}: {chosen['ms_per_query']:.2f} ms at "
            f"nprobe {chosen['nprobe']}" + ("" if kept else "; fewer lists probed would miss the target")
        )
    return IndexPlan(
        kind="ivf",
        nlist=nlist,
        nprobe=None if chosen is None else chosen["nprobe"],
        spec=f"ivf{nlist}/{codec.to_spec()}",
        limited_by=limited_by,
        curve=curve,
        build_seconds=build,
        ram_bytes_per_vector=float(index.stats().ram_bytes_per_vector),
        max_ms=max_ms,
        notes=notes,
    )
