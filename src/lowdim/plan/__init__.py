"""Plan a compression: the smallest spec that meets a recall target on your data, with the evidence.

:func:`plan` diagnoses the data, lays out a ladder of sizes per family (scalar, sign,
RaBitQ, ITQ, PQ at 4 and 8 bits, OPQ, PCA and Matryoshka widths), measures recall
(with a bootstrap CI), RAM bytes and QPS at every rerank factor up to ``max_rerank``
in a coarse sweep, cheapest first, then bisects each ladder between its largest
failing and smallest passing step, and recommends the fewest RAM bytes per vector
accepted on two halves of the queries (:func:`acceptance`): the mean on one half
reaches the target, the mean on the other is within the sampling error of it.
:meth:`Plan.export` gives the nearest FAISS, Qdrant and pgvector settings;
:func:`verify_export` builds them in the real engine and measures them.

Examples
--------
>>> import numpy as np
>>> from lowdim.plan import plan
>>> rng = np.random.default_rng(0)
>>> X = (rng.standard_normal((3000, 8)) @ rng.standard_normal((8, 64))).astype(np.float32)
>>> p = plan(X, target_recall=0.9, max_bytes=16, max_rerank=4)
>>> p.recommended.recall >= 0.9
True
"""

from __future__ import annotations

from ._cache import PlanCache
from ._candidate import Candidate
from ._candidates import CandidateSpec, coarse_steps, generate_candidates, group_ladders, pca_widths, rerank_factors
from ._export import ENGINES, EngineSettings, export_config, export_settings, faiss_factory
from ._index import IndexPlan, plan_index
from ._ladder import LadderSearch
from ._measure import measure_candidate
from ._pareto import Frontier, Point, Verdict, acceptance, margin_z, pareto_front, recommend
from ._plan import plan
from ._plot import plot_plan
from ._result import Plan, TargetNotMetError
from ._verify import EngineError, KnobStep, VerifyReport, verify_export

__all__ = [
    "plan",
    "plan_index",
    "IndexPlan",
    "Plan",
    "Candidate",
    "PlanCache",
    "TargetNotMetError",
    "CandidateSpec",
    "generate_candidates",
    "pca_widths",
    "rerank_factors",
    "group_ladders",
    "coarse_steps",
    "LadderSearch",
    "measure_candidate",
    "Point",
    "Verdict",
    "acceptance",
    "margin_z",
    "pareto_front",
    "recommend",
    "Frontier",
    "ENGINES",
    "export_settings",
    "faiss_factory",
    "EngineSettings",
    "export_config",
    "verify_export",
    "VerifyReport",
    "KnobStep",
    "EngineError",
    "plot_plan",
]
