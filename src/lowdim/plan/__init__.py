"""Plan a compression: the smallest spec that meets a recall target on your data, with the evidence.

:func:`plan` diagnoses the data, generates candidate specs (scalar, sign, ITQ, PQ, OPQ,
PCA and Matryoshka at widths read off the diagnosis), measures each one's recall (with
a bootstrap CI), RAM bytes and QPS at every rerank factor up to ``max_rerank``,
cheapest first with dominated candidates skipped, and recommends the fewest RAM bytes
per vector that meet the target. :meth:`Plan.export` gives the nearest FAISS, Qdrant
and pgvector settings.

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
from ._candidates import CandidateSpec, generate_candidates, pca_widths, rerank_factors
from ._export import ENGINES, export_settings, faiss_factory
from ._pareto import Frontier, Point, pareto_front, recommend
from ._plan import plan
from ._plot import plot_plan
from ._result import Plan, TargetNotMetError

__all__ = [
    "plan",
    "Plan",
    "Candidate",
    "PlanCache",
    "TargetNotMetError",
    "CandidateSpec",
    "generate_candidates",
    "pca_widths",
    "rerank_factors",
    "Point",
    "pareto_front",
    "recommend",
    "Frontier",
    "ENGINES",
    "export_settings",
    "faiss_factory",
    "plot_plan",
]
