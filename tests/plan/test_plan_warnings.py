"""Where a method is known to fail, the plan says so: from the diagnosis, and its own."""

from __future__ import annotations

import numpy as np

from lowdim.diagnose import diagnose
from lowdim.plan import Candidate, plan
from lowdim.plan._plan import _warnings


def _cand(spec: str, rerank: int = 0) -> Candidate:
    base = spec.split("+")[0]
    return Candidate(spec, base, "sign", rerank, 0.96, (0.955, 0.965), 48, 768 if rerank else 0, 1000.0)


def test_held_out_queries_are_flagged(lowrank_plan):
    assert any(w.startswith("the queries are held-out corpus rows") for w in lowrank_plan.warnings)


def test_given_queries_are_not_flagged(given_plan):
    p = given_plan
    assert not any("held-out" in w for w in p.warnings)
    assert any(w.startswith("binary codes keep only 64 bits") for w in p.warnings)  # d=64, from the diagnosis


def test_binary_on_non_centred_data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 256)) + 3.0  # the mean dominates every sign
    dg = diagnose(X, sample=1000)
    kw = dict(n_queries=500, k=10, pq8_measured=False, pq4_measured=False, n_train=2000, held_out=False)
    warns = _warnings(dg, recommended=_cand("binary+rerank4", 4), **kw)
    assert any("relies on centring" in w and "pgvector binary_quantize" in w for w in warns)
    assert any("reads 40 full vectors (768 B each)" in w for w in warns)
    assert not any("relies on centring" in w for w in _warnings(dg, recommended=_cand("int8"), **kw))


def test_pq_with_too_few_training_rows(make_data):
    p = plan(make_data(500, 32, 4, seed=2), target_recall=0.99, max_rerank=2, max_bytes=8)
    assert any(w.startswith("pq<m>x4 codebooks trained on 450 rows, fewer than 624") for w in p.warnings)
    assert any("recall CIs are wide" in w for w in p.warnings)  # 50 held-out queries


def test_pq8_warning_only_when_8_bit_pq_was_measured(lowrank_plan):
    # the diagnosis warns about 8-bit PQ below 9,984 rows; the plan measured only 4-bit PQ here
    measured_8bit = any(c.base.endswith("x8") for c in lowrank_plan.candidates)
    assert any(w.startswith("PQ with 8-bit") for w in lowrank_plan.warnings) == measured_8bit
