"""The plan's JSON: the schema ``lowdim create --plan`` and other tools read."""

from __future__ import annotations

import json

import pytest

FIELDS = {"spec", "recall", "recall_ci", "ram_bytes_per_vector", "qps_batch"}


def test_json_schema(lowrank_plan, tmp_path):
    path = lowrank_plan.write_json(tmp_path / "plan.json")
    d = json.loads(path.read_text())
    assert d["target_recall"] == 0.95 and d["k"] == 10 and d["feasible"] is True
    rec = d["recommended"]
    assert FIELDS <= set(rec)
    assert isinstance(rec["spec"], str) and isinstance(rec["ram_bytes_per_vector"], int)
    lo, hi = rec["recall_ci"]
    assert lo <= rec["recall"] <= hi and lo >= 0.95
    assert rec["qps_batch"] > 0
    assert d["candidates"] and all(FIELDS <= set(c) for c in d["candidates"])
    assert d["pareto"] and all(FIELDS <= set(c) for c in d["pareto"])
    specs = {c["spec"] for c in d["candidates"]}
    assert rec["spec"] in specs and {c["spec"] for c in d["pareto"]} <= specs
    assert all(set(s) == {"spec", "reason"} for s in d["skipped"])
    assert isinstance(d["warnings"], list) and d["queries_source"].startswith("held out")
    assert set(d["diagnosis"]) >= {"id_twonn", "dims_95", "mean_share"}
    from lowdim.spec import parse_spec

    parse_spec(rec["spec"])  # what lowdim create will do with it


def test_json_of_an_infeasible_plan(lowrank, tmp_path):
    from lowdim.plan import plan

    X, _ = lowrank
    p = plan(X[:3000], target_recall=1.0, max_rerank=0, max_bytes=4)
    d = json.loads(p.write_json(tmp_path / "p.json").read_text())
    assert d["feasible"] is False and d["recommended"] is None
    assert d["best_achievable"]["spec"] == p.best.spec


def test_candidate_round_trip(lowrank_plan):
    from lowdim.plan import Candidate

    c = lowrank_plan.recommended
    back = Candidate.from_dict(json.loads(json.dumps(c.to_dict())))
    assert back.spec == c.spec and back.recall_ci == pytest.approx(c.recall_ci) and back.rerank == c.rerank


def test_plot(lowrank_plan, tmp_path):
    from lowdim.plan import plot_plan

    out = plot_plan(lowrank_plan, tmp_path / "p.png", others=[("FAISS PQ8", 8, 0.9)])
    assert out.read_bytes()[:4] == b"\x89PNG"
