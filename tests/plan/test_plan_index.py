"""plan(..., index="ivf"): nlist and the fewest lists to probe, the partition's ceiling apart from the codec."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from lowdim import ParameterError, Pipeline
from lowdim.cli import app
from lowdim.eval import exact_knn
from lowdim.plan import Plan, plan, plan_index
from lowdim.store import Collection


def _clusters(n: int, d: int = 32, *, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = 3 * rng.standard_normal((64, d))
    return (centres[rng.integers(0, 64, n)] + rng.standard_normal((n, d))).astype(np.float32)


@pytest.fixture(scope="module")
def ivf_plan():
    X = _clusters(12000)
    # codecs fitted on 4,000 rows (the same recommendation and index as on all 12,000, in 2/3 of the time)
    return X, plan(X, target_recall=0.9, max_rerank=4, max_bytes=32, index="ivf", faiss=False, train_size=4000)


def test_the_smallest_accepted_nprobe_with_the_ceiling_apart(ivf_plan):
    _, p = ivf_plan
    ix = p.index
    assert ix.kind == "ivf" and ix.nlist == 256 and ix.spec.startswith("ivf256/") and ix.tried[0]["spec"] == p.recommended.spec
    probes = [c["nprobe"] for c in ix.curve]
    assert probes == [1 << i for i in range(len(probes))] and probes[-1] == ix.nprobe
    assert [c["accepted"] for c in ix.curve] == [False] * (len(probes) - 1) + [True]
    for c in ix.curve:  # only rows in probed lists can come back: the codec never beats the partition
        assert c["recall"] <= c["ceiling"] + 1e-9
    assert [c["ceiling"] for c in ix.curve] == sorted(c["ceiling"] for c in ix.curve)
    below = ix.curve[-2]
    assert ix.limited_by == ("partition" if below["ceiling"] < 0.9 else "codec")
    assert ix.limited_by in ix.notes[-1] and str(below["nprobe"]) in ix.notes[-1]
    assert f"nprobe {ix.nprobe} of 256" in ix.summary()


def test_json_round_trip_and_a_collection_from_the_plan(ivf_plan, tmp_path):
    X, p = ivf_plan
    p.write_json(tmp_path / "p.json")
    doc = json.loads((tmp_path / "p.json").read_text())
    assert doc["index"]["nprobe"] == p.index.nprobe and len(doc["index"]["curve"]) == len(p.index.curve)
    back = Plan.read_json(tmp_path / "p.json")
    assert back.index.spec == p.index.spec and back.index.curve == p.index.curve
    with Collection.create(tmp_path / "c", plan=back) as col:
        s = col.settings
        assert (s.index, s.nlist, s.nprobe, f"ivf256/{s.spec}") == ("ivf", 256, p.index.nprobe, p.index.spec)
        col.add(X[:12000])
        col.build_index()
        assert col.info()["graph_nodes"] == 12000 and col.info()["nprobe"] == p.index.nprobe


def test_latency_budget_is_reported_and_bad_settings_are_one_line(tmp_path):
    X = _clusters(6000, seed=1)
    codec = Pipeline("int8+rerank2").fit(X)
    Q = X[:100] + 0.1
    _, gt = exact_knn(X, Q, 10, metric="cosine")
    halves = (np.arange(0, 100, 2), np.arange(1, 100, 2))
    ix = plan_index(codec, X, Q, gt, target=0.9, k=10, halves=halves, nlist=64, max_ms=1e-6)
    assert "latency budget 1e-06 ms/query not kept" in ix.notes[-1]
    with pytest.raises(ParameterError, match=r"'nlist' parameter of plan needs 39 corpus rows per list: 6,000 rows allow"):
        plan_index(codec, X, Q, gt, target=0.9, k=10, halves=halves, nlist=1024)
    with pytest.raises(ParameterError, match="The 'index' parameter of plan must be one of 'ivf'"):
        plan(X, index="hnsw")
    with pytest.raises(ParameterError, match="The 'max_ms' parameter"):
        plan(X, index="ivf", max_ms=0)


def test_cli_prints_the_index(tmp_path):
    X = _clusters(4000, seed=2)
    np.save(tmp_path / "x.npy", X)
    args = [
        "plan",
        str(tmp_path / "x.npy"),
        "-t",
        "0.9",
        "--max-rerank",
        "4",
        "--max-bytes",
        "32",
        "--no-faiss",
        "--index",
        "ivf",
    ]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    assert "index: index ivf" in out.output and "partition ceiling" in out.output
    assert "lowdim create PATH --spec 'ivf" in out.output


def test_larger_codes_are_chosen_when_the_smallest_need_too_many_lists():
    X = _clusters(6000, seed=1)
    Q = X[:100] + 0.1
    _, gt = exact_knn(X, Q, 10, metric="cosine")
    halves = (np.arange(0, 100, 2), np.arange(1, 100, 2))
    fitted = []
    weak, strong = Pipeline("pq4x8").fit(X), lambda: fitted.append(1) or Pipeline("int8+rerank2").fit(X)
    ix = plan_index([weak, strong], X, Q, gt, target=0.9, k=10, halves=halves, nlist=64, max_nprobe=16)
    assert ix.spec == "ivf64/int8+rerank2" and ix.nprobe <= 16 and fitted == [1]
    assert ix.tried == [{"spec": "pq4x8", "nprobe": None}, {"spec": "int8+rerank2", "nprobe": ix.nprobe}]
    assert "pq4x8 needs nprobe > 64 (budget 16)" in ix.notes
    alone = plan_index(weak, X, Q, gt, target=0.9, k=10, halves=halves, nlist=64, max_nprobe=16)
    assert alone.spec == "ivf64/pq4x8" and alone.nprobe is None  # nothing else to try: said, not hidden


@pytest.mark.slow
def test_wordnet_index_plan(wordnet):
    """On 20,000 real rows: the plan's nprobe meets 0.9 with int8+rerank4, and the partition is what limits it."""
    X = np.asarray(wordnet.corpus[:20000], np.float32)
    Q = wordnet.queries[:400].astype(np.float32)
    _, gt = exact_knn(X, Q, 10, metric="cosine")
    codec = Pipeline("int8+rerank4").fit(X)
    halves = (np.arange(0, 400, 2), np.arange(1, 400, 2))
    ix = plan_index(codec, X, Q, gt, target=0.9, k=10, halves=halves)
    at = ix.curve[-1]
    assert ix.nlist == 512 and ix.nprobe == at["nprobe"] < 512 and at["recall_choose"] >= 0.9
    assert ix.limited_by == "partition"  # int8 + rerank loses almost nothing: the lists decide
