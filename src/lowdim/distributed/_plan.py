"""The planner's candidate measurements on Ray: the coarse sweep measured in parallel tasks.

:func:`plan` is :func:`lowdim.plan.plan` with ``ray_address=``: the planning inputs (the
training sample, corpus, queries and truth) go to the object store once, every step of the
coarse sweep is measured by its own one-CPU task (:func:`lowdim.plan.measure_candidate`:
fit, encode, recall at every rerank factor, single-thread QPS), and the search then goes on
as always, finding those steps measured; the bisection that follows depends on each answer
and stays sequential. Without an address it is the local planner, unchanged.
"""

from __future__ import annotations

from typing import Any

from ..plan import Candidate, CandidateSpec, Plan, measure_candidate
from ..plan import plan as local_plan
from ..spec import Pipeline
from ._pool import unwrap_error
from ._ray import connect

__all__ = ["plan"]


def plan(dataset_or_corpus: Any, *, ray_address: str | None = None, workers: int | None = None, **kwargs: Any) -> Plan:
    """:func:`lowdim.plan.plan` with the coarse sweep's measurements run as Ray tasks at ``ray_address``.

    ``workers`` caps the tasks running at once (default: the cluster's CPUs). Every other
    keyword is :func:`lowdim.plan.plan`'s. Measurements on Ray run on one thread each, so
    recall is the same as in this process up to BLAS rounding and QPS is single-thread QPS.

    >>> import numpy as np
    >>> X = (np.random.default_rng(0).standard_normal((2000, 6)) @ np.random.default_rng(1).standard_normal((6, 32))).astype(np.float32)
    >>> plan(X, target_recall=0.9, max_bytes=8, max_rerank=2, faiss=False).recommended is not None  # no address: local
    True
    """
    if ray_address is None:
        return local_plan(dataset_or_corpus, **kwargs)
    ray = connect(ray_address)
    limit = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))

    def measure_many(steps: list[CandidateSpec], inputs: dict[str, Any]) -> list[tuple[list[Candidate], Pipeline]]:
        ref = ray.put(inputs)  # once: every task reads the same arrays from the object store
        task = ray.remote(num_cpus=1, max_retries=2)(measure_candidate)
        out: list[Any] = [None] * len(steps)
        todo = list(enumerate(steps))
        running: dict[Any, int] = {}
        try:
            while todo or running:
                while todo and len(running) < limit:  # at most `limit` tasks at once
                    i, step = todo.pop(0)
                    running[task.remote(ref, step)] = i
                (done,), _ = ray.wait(list(running), num_returns=1)
                out[running.pop(done)] = ray.get(done)
        except Exception as exc:  # a task's own error comes back as the one-line lowdim error it raised
            unwrap_error(exc)
            raise
        return out

    return local_plan(dataset_or_corpus, measure_many=measure_many, **kwargs)
