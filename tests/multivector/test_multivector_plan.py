"""``plan_multivector``: the fewest candidates per setting, the recommendation, create(plan=), the CLI, bad input.

The data: seeded token sets around 8 topic centres (float16-representable, so the collection's
float16 token files hold exactly what the plan reranked); the oracle is a brute-force Chamfer
written here with loops, independent of ``chamfer_topk``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from lowdim.cli import main
from lowdim.exceptions import FileFormatError, ParameterError
from lowdim.multivector import (
    FDE,
    MultiVectorCollection,
    MultiVectorPlan,
    MultiVectorPoint,
    MultiVectorTargetError,
    TokenSets,
    plan_multivector,
)
from lowdim.multivector._plan import needed_candidates, pareto_candidates, recommend_point

DIM = 16
SMALL = {"k_sim": 2, "d_proj": 8, "reps": 4}
SPECS = ("pca8/int8", "binary", "f16")


def token_sets(n: int, *, seed: int, centres: np.ndarray) -> list[np.ndarray]:
    """Documents of 2-7 unit tokens around one of the centres, rounded to float16."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        t = centres[rng.integers(len(centres))] + 0.7 * rng.normal(size=(int(rng.integers(2, 8)), DIM))
        out.append((t / np.linalg.norm(t, axis=1, keepdims=True)).astype(np.float16).astype(np.float32))
    return out


@pytest.fixture(scope="module")
def data():
    centres = np.random.default_rng(1).normal(size=(8, DIM))
    return token_sets(400, seed=2, centres=centres), token_sets(60, seed=3, centres=centres)


@pytest.fixture(scope="module")
def the_plan(data):
    docs, queries = data
    return plan_multivector(
        docs, queries, target=0.9, k=5, max_candidates=80, specs=SPECS, weights=(0.0, 1.0), fde_settings=(SMALL,)
    )


def oracle_topk(queries: list[np.ndarray], docs: list[np.ndarray], k: int) -> list[set[int]]:
    """Exact Chamfer top-k by loops (ties to the lower document number)."""
    out = []
    for q in queries:
        s = np.array([(q @ d.T).max(axis=1).sum() for d in docs])
        out.append(set(np.lexsort((np.arange(len(docs)), -s))[:k].tolist()))
    return out


def test_recommendation_meets_the_target_on_both_halves_and_is_the_smallest(the_plan):
    p = the_plan
    rec = p.require_feasible()
    assert len(p.points) == len(SPECS) * 2 and len(p.baselines) == 2
    assert rec.recall_choose >= 0.9 and rec.recall_confirm >= 0.9 - rec.margin
    assert k_le(rec.candidates, p.max_candidates)
    feasible = [q for q in p.points if q.candidates is not None]
    assert rec.bytes_per_document == min(q.bytes_per_document for q in feasible)
    assert p.rerank_recall is not None and p.rerank_recall >= 0.9 - rec.margin
    # bytes per document are the collection's: the spec on [FDE (128), w * pooled (16)]
    sizes = {(q.spec, q.pooled_weight): q.bytes_per_document for q in p.points}
    assert sizes[("binary", 1.0)] == 144 // 8 and sizes[("f16", 0.0)] == 256 and sizes[("pca8/int8", 1.0)] == 8
    for i in p.front:
        assert p.points[i].candidates is not None
    assert "recommended (*)" in p.summary()


def run(args: list[str]) -> None:
    try:
        main(args)
    except SystemExit as exc:
        if exc.code:
            raise


def k_le(c: int | None, limit: int) -> bool:
    return c is not None and 5 <= c <= limit


def test_create_from_the_plan_reaches_its_recall(the_plan, data, tmp_path):
    docs, queries = data
    rec = the_plan.recommended
    with MultiVectorCollection.create(tmp_path / "mv", plan=the_plan) as col:
        assert (col.spec, col.pooled_weight, col.candidates) == (rec.spec, rec.pooled_weight, rec.candidates)
        assert col.fde.get_params() == rec.fde
        col.add(docs)
        ids = col.search(queries, 5).ids
    truth = oracle_topk(queries, docs, 5)
    recall = np.mean([len(set(r) & t) / 5 for r, t in zip(ids.tolist(), truth)])
    assert recall == pytest.approx(the_plan.rerank_recall, abs=1e-9)  # the plan measured this collection's first stage
    assert recall >= 0.9 - rec.margin


def test_infeasible_target_is_one_line_naming_the_best(data, tmp_path):
    docs, queries = data
    p = plan_multivector(
        docs, queries, target=1.0, k=5, max_candidates=5, specs=("pca8/int8",), weights=(0.0,), fde_settings=(SMALL,)
    )
    assert p.recommended is None and p.front == []
    with pytest.raises(
        MultiVectorTargetError, match=r"best reached: k2-p8-r4 pca8/int8 w=0 \(8 B/doc\), recall 0\.\d+ at 5"
    ) as e:
        p.require_feasible()
    assert "\n" not in str(e.value)
    with pytest.raises(MultiVectorTargetError, match="no setting reaches Chamfer recall@5 1"):
        MultiVectorCollection.create(tmp_path / "mv", plan=p)
    assert not (tmp_path / "mv").exists()


def test_plan_round_trips_and_bad_arguments(the_plan, tmp_path):
    path = the_plan.save(tmp_path / "plan.json")
    back = MultiVectorPlan.load(path)
    assert back.to_dict() == the_plan.to_dict() and back.recommended == the_plan.recommended
    with pytest.raises(FileFormatError, match="not a multi-vector plan"):
        MultiVectorPlan.from_dict({"format": "lowdim.Plan"})
    with pytest.raises(ParameterError, match="takes spec, candidates from the plan"):
        MultiVectorCollection.create(tmp_path / "a", plan=the_plan, spec="f32", candidates=3)
    with pytest.raises(ParameterError, match="dim=8 contradicts the plan, made on tokens of width 16"):
        MultiVectorCollection.create(tmp_path / "b", plan=str(path), dim=8)
    docs = [np.ones((2, 4), np.float32)] * 10
    with pytest.raises(ParameterError, match=r"\+rerank factor"):
        plan_multivector(docs, specs=("int8+rerank4",))
    with pytest.raises(ParameterError, match="target"):
        plan_multivector(docs, target=1.5)
    with pytest.raises(ParameterError, match="at least 4 queries"):
        plan_multivector(docs, docs[:3])
    with pytest.raises(ParameterError, match="fde_settings must hold"):
        plan_multivector(docs, fde_settings=(3,))
    with pytest.raises(ParameterError, match=r"measured no setting: PCA needs at least 512 vectors; there are 10 \(and 0 more\)"):
        plan_multivector(docs, specs=("pca512/int8",), weights=(0,), fde_settings=({"k_sim": 1, "d_proj": 2, "reps": 2},))


def test_settings_the_collection_could_not_train_are_skipped(data):
    docs, queries = data  # 400 documents: pca512 needs 512 training vectors; pca200 is wider than 144 dims
    p = plan_multivector(
        docs,
        queries,
        target=0.9,
        k=5,
        max_candidates=80,
        specs=("pca512/int8", "pca200/int8", "binary"),
        weights=(1.0,),
        fde_settings=(SMALL,),
    )
    assert [q.spec for q in p.points] == ["binary"]
    assert [x["setting"] for x in p.skipped] == ["k2-p8-r4 pca512/int8 w=1", "k2-p8-r4 pca200/int8 w=1"]
    assert "at least 512 vectors; there are 400" in p.skipped[0]["why"] and "skipped k2-p8-r4 pca200/int8" in p.summary()


def test_needed_candidates_pareto_and_recommend_on_hand_made_numbers():
    # 4 queries, k = 2; per-query recall curves over 4 candidates: choose {0, 1}, confirm {2, 3}
    hits = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 1, 1], [1, 1, 0, 0]], bool)
    a, b = np.array([0, 1]), np.array([2, 3])
    c, ra, rb, margin = needed_candidates(hits, 2, 1.0, a, b, 1.645)  # confirming 0.5 and 1 at 3: SE 0.25
    assert (c, ra, rb) == (3, 1.0, 0.75) and margin == pytest.approx(1.645 * 0.25)
    assert needed_candidates(hits, 2, 1.0, a, b, 0.5)[0] == 4
    # at 2 candidates the choosing half holds 0.75; the confirming half 0 and 1: mean 0.5, SE 0.5, within 1.645 SE
    c, ra, rb, margin = needed_candidates(hits, 2, 0.75, a, b, 1.645)
    assert (c, ra, rb) == (2, 0.75, 0.5) and margin == pytest.approx(1.645 * 0.5)
    assert needed_candidates(hits, 2, 0.75, a, b, 0.1)[0] == 3  # a tighter margin rejects 2
    assert needed_candidates(hits[:, :1], 2, 0.75, a, b, 1.645)[0] is None

    def pt(b: int, c: int | None, r: float = 1.0) -> MultiVectorPoint:
        return MultiVectorPoint({}, "", 0.0, 1, b, c, 1.0, 1.0, 0.0, r, 1.0)

    pts = [pt(512, 73), pt(256, 90), pt(688, 94), pt(256, 80, 0.9), pt(64, None), pt(256, 80, 0.95)]
    assert pareto_candidates(pts) == [3, 0]
    assert recommend_point(pts) == 5  # 256 B, 80 candidates, the higher recall
    assert recommend_point([pt(64, None)]) is None


def test_cli_plan_then_create_from_its_json(data, tmp_path, capsys):
    docs, queries = data
    ts, qs = TokenSets.from_list(docs), TokenSets.from_list(queries)
    for name, arr in (("rows", ts.rows), ("off", ts.offsets), ("q", qs.rows), ("qo", qs.offsets)):
        np.save(tmp_path / f"{name}.npy", arr)
    args = ["multivector", "plan", str(tmp_path / "rows.npy"), str(tmp_path / "off.npy")]
    args += ["--queries", str(tmp_path / "q.npy"), "--query-offsets", str(tmp_path / "qo.npy"), "-t", "0.9", "--k", "5"]
    args += ["--max-candidates", "80", "--fde", "2,8,4", "--weight", "0", "--weight", "1", "--json", str(tmp_path / "p.json")]
    for s in SPECS:
        args += ["--spec", s]
    run(args)
    out = capsys.readouterr().out
    saved = json.loads((tmp_path / "p.json").read_text())
    rec = saved["recommended"]
    assert f"recommended: {rec['name']}: {rec['bytes_per_document']} B per document" in out
    assert "token-level" in out and "pooled vector" in out
    run(["multivector", "create", str(tmp_path / "mv"), "--plan", str(tmp_path / "p.json")])
    with MultiVectorCollection.open(tmp_path / "mv", readonly=True) as col:
        assert (col.spec, col.candidates, col.fde.get_params()) == (
            rec["spec"],
            rec["candidates"],
            FDE(**rec["fde"]).get_params(),
        )
    with pytest.raises(SystemExit) as exc:
        main(args[:8] + ["-t", "1.0", "--max-candidates", "5", "--spec", "pca8/int8", "--fde", "2,8,4", "--weight", "0"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no setting reaches") and "best reached" in err and "\n" not in err


def test_default_queries_are_a_seeded_sample_and_the_plan_repeats(data):
    docs, _ = data
    a, b, c = (
        plan_multivector(
            docs, seed=s, target=0.9, k=5, max_candidates=60, specs=("binary",), weights=(1.0,), fde_settings=(SMALL,)
        )
        for s in (0, 0, 1)
    )
    assert a.n_queries == 200 and a.queries_source == "a seeded sample of 200 documents (seed 0)"

    def measured(p: MultiVectorPlan) -> list[tuple]:
        return [(q.candidates, q.recall_choose, q.recall_confirm, q.recall_at_max) for q in p.points] + [
            (q.candidates, q.recall_choose, q.recall_confirm, q.recall_at_max) for q in p.baselines
        ]

    assert measured(a) == measured(b) and a.rerank_recall == b.rerank_recall
    assert measured(a) != measured(c)  # another sample, another split
