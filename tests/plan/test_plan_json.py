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
    assert lo <= rec["recall"] <= hi and rec["recall_choose"] >= 0.95 and rec["meets_target"]
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


def test_json_round_trip_of_the_new_fields(harder_plan, tmp_path):
    from lowdim.plan import Plan

    p = harder_plan
    d = json.loads(p.write_json(tmp_path / "plan.json").read_text())
    assert d["margin"] == pytest.approx(p.recommended.margin) and d["margin_z"] == pytest.approx(1.6449, abs=1e-4)
    assert d["query_split"] == {"choose": 150, "confirm": 150}
    assert d["recommended_below"]["spec"] == p.recommended_below.spec
    # FAISS's frontier, measured in the same plan: every point with its verdict, no per-query arrays
    assert d["faiss"] and all({"name", "code_bytes", "rerank", "recall", "spec", "recall_choose"} <= set(f) for f in d["faiss"])
    assert all("recall_per_query" not in f for f in d["faiss"])
    assert d["faiss_best"]["name"] in {f["name"] for f in d["faiss"]}
    assert d["ratio"] == pytest.approx(p.recommended.ram_bytes_per_vector / d["faiss_best"]["code_bytes"])
    for c in (d["recommended"], d["recommended_below"], *d["candidates"]):
        assert {"recall_choose", "recall_confirm", "margin", "ladder"} <= set(c)
    back = Plan.read_json(tmp_path / "plan.json")
    assert back.margin == pytest.approx(p.margin) and back.margin_z == pytest.approx(p.margin_z)
    assert back.query_split == (150, 150) and back.faiss == d["faiss"] and back.faiss_best == d["faiss_best"]
    assert back.ratio == pytest.approx(d["ratio"])
    b, r = back.recommended_below, p.recommended_below
    assert (b.spec, b.ladder, b.rerank, b.meets_target) == (r.spec, r.ladder, r.rerank, False)
    assert b.recall_choose == pytest.approx(r.recall_choose) and b.recall_confirm == pytest.approx(r.recall_confirm)
    assert back.recommended.margin == pytest.approx(p.recommended.margin) and back.recommended.ladder == p.recommended.ladder
    assert back.summary() == p.summary() and back.below_summary() == p.below_summary()
    # a plan written before these fields existed still reads
    for key in ("recommended_below", "margin", "margin_z", "query_split", "faiss", "faiss_best", "ratio"):
        d.pop(key)
    (tmp_path / "old.json").write_text(json.dumps(d))
    old = Plan.read_json(tmp_path / "old.json")
    assert old.recommended_below is None and old.margin is None and old.faiss == []


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
