"""lowdim create | add | search | delete | info | check | compact: outputs, JSON shape, one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from lowdim.cli import app, main
from lowdim.spec import Pipeline
from lowdim.store import Collection

runner = CliRunner()


def _ok(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def _fail(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


@pytest.fixture
def files(tmp_path, make_vectors):
    X = make_vectors(600, 16, seed=4)
    np.save(tmp_path / "v.npy", X)
    np.save(tmp_path / "q.npy", X[:4])
    with open(tmp_path / "m.jsonl", "w") as fh:
        for i in range(600):
            fh.write(json.dumps({"pos": "nvar"[i % 4], "name": f"item{i}"}) + "\n")
    return tmp_path, X


def test_create_add_search_json(files):
    tmp, X = files
    idx = str(tmp / "idx")
    assert "created" in _ok(["create", idx, "--dim", "16", "--spec", "int8+rerank4", "--model", "m", "--train-size", "200"])
    out = _ok(["add", idx, str(tmp / "v.npy"), "--metadata", str(tmp / "m.jsonl"), "--batch-size", "250", "--model", "m"])
    assert "added 600 vectors" in out and "(600 in the collection)" in out
    out = _ok(
        ["search", idx, "--queries", str(tmp / "q.npy"), "--k", "5", "--filter", '{"pos": "r"}', "--json", str(tmp / "out.json")]
    )
    assert "4 queries in" in out
    res = json.loads((tmp / "out.json").read_text())
    assert set(res) == {"ids", "scores", "exact_reason"} and res["exact_reason"] is None
    assert np.array(res["ids"]).shape == (4, 5) and np.array(res["scores"]).shape == (4, 5)
    assert all(i % 4 == 3 for row in res["ids"] for i in row)  # pos r: every fourth, ids 0, 1, 2, ... in order
    assert res["ids"][3][0] == 3
    out = _ok(["search", idx, "--queries", str(tmp / "q.npy"), "--k", "2", "--with-metadata", "--show", "1"])
    assert "item0" in out and "rank" in out
    with Collection.open(idx) as col:
        assert len(col) == 600 and col.info()["segments"] == 3 and col.model == "m"


def test_ids_from_field_or_file_delete_info_compact_check(files):
    tmp, X = files
    idx = str(tmp / "idx")
    _ok(["create", idx, "--dim", "16", "--train-size", "100"])
    _ok(["add", idx, str(tmp / "v.npy"), "--metadata", str(tmp / "m.jsonl"), "--id-field", "name"])
    out = _ok(["delete", idx, "item0", "item1", "nope"])
    assert "deleted 2 of 3 ids (598 left" in out
    (tmp / "ids.txt").write_text("item2\nitem3\n")
    assert "deleted 2 of 2 ids" in _ok(["delete", idx, "--ids-file", str(tmp / "ids.txt")])
    info = json.loads(_ok(["info", idx, "--json"]))
    assert info["count"] == 596 and info["deleted"] == 4 and info["spec"] == "int8+rerank4"
    assert "596" in _ok(["info", idx])
    assert "dropped 4 deleted rows" in _ok(["compact", idx])
    assert "ok" in _ok(["check", idx])
    np.save(tmp / "w.npy", X[:3])
    (tmp / "w.txt").write_text("7\nseven\n-3\n")
    np.save(tmp / "w2.npy", X[:3])
    _ok(["add", idx, str(tmp / "w2.npy"), "--ids", str(tmp / "w.txt")])
    with Collection.open(idx) as col:
        assert col.ids()[-3:] == [7, "seven", -3]


def _plan_file(path, X, *, spec="pca8/int8+rerank4", metric="ip", codec=True, feasible=True):
    """A planner JSON file (with its fitted codec beside it) recommending ``spec`` for ``X``."""
    from lowdim.plan import Candidate, Plan
    from lowdim.spec import Pipeline

    cand = Candidate(spec, spec.split("+")[0], "pca", 4, 0.97, (0.95, 0.99), 8, 64, 1000.0, meets_target=True)
    plan = Plan(
        target_recall=0.95,
        k=10,
        metric=metric,
        confidence=0.95,
        max_rerank=10,
        max_bytes=None,
        min_qps=None,
        seed=0,
        n=len(X),
        d=X.shape[1],
        n_queries=100,
        queries_source="held out",
        recommended=cand if feasible else None,
        candidates=[cand],
        pareto=[cand],
        codec=Pipeline(spec, metric=metric).fit(X) if codec and feasible else None,
    )
    return plan.write_json(path)


def test_create_from_a_plan_file(files):
    tmp, X = files
    plan = _plan_file(tmp / "plan.json", X)
    out = _ok(["create", str(tmp / "idx"), "--plan", str(plan)])
    assert "spec pca8/int8+rerank4, metric ip" in out and "codec from plan.json" in out
    with Collection.open(tmp / "idx") as col:
        # width, metric and spec from the plan; trained at creation with the plan's own codec
        assert (col.spec, col.dim, col.metric) == ("pca8/int8+rerank4", 16, "ip")
        assert col.is_trained and col.info()["codec_source"] == "plan"
        col.add(X[:50])
        np.testing.assert_array_equal(col.codec.encode(X), Pipeline.load(tmp / "plan.codec.npz").encode(X))
    # a plan read without its codec file: same settings, trained by the collection as usual
    (tmp / "plan.codec.npz").unlink()
    doc = json.loads(plan.read_text())
    doc.pop("codec_file")
    plan.write_text(json.dumps(doc))
    _ok(["create", str(tmp / "idx2"), "--plan", str(plan), "--metric", "ip", "--dim", "16"])
    with Collection.open(tmp / "idx2") as col:
        assert (col.spec, col.dim, col.metric, col.is_trained) == ("pca8/int8+rerank4", 16, "ip", False)


def test_untrained_collection_says_so_in_one_line(files):
    tmp, X = files
    idx = str(tmp / "idx")
    _ok(["create", idx, "--dim", "16", "--spec", "pq4x8"])  # trains at 9,984 vectors
    reason = "holds 600 vectors; spec pq4x8 trains at 9,984 (PQ needs 39 vectors per centroid)"
    out = _ok(["add", idx, str(tmp / "v.npy")])
    assert out.count("not trained yet: " + reason) == 1
    out = _ok(["search", idx, "--queries", str(tmp / "q.npy"), "--k", "3", "--json", str(tmp / "r.json")])
    assert out.count("exact search (not trained yet): " + reason) == 1 and "UntrainedWarning" not in out
    assert reason in json.loads((tmp / "r.json").read_text())["exact_reason"]
    assert "not trained yet: " + reason in _ok(["info", idx])
    info = json.loads(_ok(["info", idx, "--json"]))
    assert (info["trained"], info["search_mode"], info["codec_source"]) == (False, "exact", None)
    # a trained one prints no such line
    _ok(["create", str(tmp / "t"), "--dim", "16", "--train-size", "100"])
    assert "not trained" not in _ok(["add", str(tmp / "t"), str(tmp / "v.npy")])
    assert "exact search" not in _ok(["search", str(tmp / "t"), "--queries", str(tmp / "q.npy")])


def test_check_exit_codes(files):
    tmp, X = files
    idx = tmp / "idx"
    _ok(["create", str(idx), "--dim", "16", "--train-size", "100"])
    _ok(["add", str(idx), str(tmp / "v.npy")])
    (idx / "manifest.json").unlink()
    result = runner.invoke(app, ["check", str(idx), "--dry-run"])
    assert result.exit_code == 1 and "problem: manifest.json is missing" in result.output
    result = runner.invoke(app, ["check", str(idx)])
    assert result.exit_code == 0 and "repaired: rewrote manifest.json" in result.output
    vec = next((idx / "segments").glob("*.vectors.npy"))
    vec.write_bytes(vec.read_bytes()[:100])
    result = runner.invoke(app, ["check", str(idx)])
    assert result.exit_code == 1 and "cannot repair:" in result.output
    result = runner.invoke(app, ["check", str(idx), "--drop-damaged"])
    assert result.exit_code == 0 and "dropped segment" in result.output


@pytest.mark.parametrize(
    "case, expect",
    [
        ("no_dim", "lowdim create needs --dim, the width of the vectors"),
        ("bad_spec", "unknown piece 'int9' in spec 'int9'. Did you mean 'int8'?"),
        ("spec_and_plan", "give either spec or plan, not both (spec='int8')"),
        ("plan_metric", "metric='l2' contradicts the plan, which was measured with metric='ip'"),
        ("plan_dim", "dim=32 contradicts the plan, which was made for 16-dimensional vectors"),
        ("plan_missing", "plan file"),
        ("plan_no_spec", "is not a lowdim plan"),
        ("plan_bad_json", "is not valid JSON"),
        ("plan_infeasible", "no candidate reaches recall@10 >= 0.95"),
        ("exists", "a collection already exists at"),
        ("no_collection", "no collection at"),
        ("wrong_width", "X has 24 features, but this collection (model m) expects 16"),
        ("wrong_model", "vectors from model 'other' do not fit this collection (model m)"),
        ("meta_lines", "m.jsonl has 600 line(s), but w.npy holds 3 vectors; expected one JSON object per vector"),
        ("meta_bad_line", "bad.jsonl line 2 is not valid JSON"),
        ("bad_filter_json", "--filter is not valid JSON"),
        ("bad_operator", "unknown filter operator '$like' on field 'pos'; valid operators: $eq, $ne"),
        ("ef_on_flat", "The 'ef' parameter applies to collections with index='hnsw'"),
        ("json_folder", "cannot write results"),
        ("queries_width", "queries has 8 features, but this collection (model m) expects 16"),
        ("bad_vectors_file", "w.txt: unsupported extension '.txt'"),
        ("delete_nothing", "lowdim delete needs ids"),
        ("duplicate_ids", "ids contain duplicates: 1 appears 2 times"),
    ],
)
def test_errors_are_one_line_with_exit_code_2(files, capsys, case, expect):
    tmp, X = files
    idx = str(tmp / "idx")
    Collection.create(idx, dim=16, model="m", train_size=100).close()
    q = str(tmp / "q.npy")
    argv = {
        "no_dim": ["create", str(tmp / "new")],
        "bad_spec": ["create", str(tmp / "new"), "--dim", "16", "--spec", "int9"],
        "spec_and_plan": ["create", str(tmp / "new"), "--spec", "int8", "--plan", str(tmp / "plan.json")],
        "plan_metric": ["create", str(tmp / "new"), "--metric", "l2", "--plan", str(tmp / "plan.json")],
        "plan_dim": ["create", str(tmp / "new"), "--dim", "32", "--plan", str(tmp / "plan.json")],
        "plan_missing": ["create", str(tmp / "new"), "--dim", "16", "--plan", str(tmp / "p.json")],
        "plan_no_spec": ["create", str(tmp / "new"), "--dim", "16", "--plan", str(tmp / "nospec.json")],
        "plan_bad_json": ["create", str(tmp / "new"), "--dim", "16", "--plan", str(tmp / "bad.json")],
        "plan_infeasible": ["create", str(tmp / "new"), "--plan", str(tmp / "infeasible.json")],
        "exists": ["create", idx, "--dim", "16"],
        "no_collection": ["search", str(tmp / "nope"), "--queries", q],
        "wrong_width": ["add", idx, str(tmp / "wide.npy")],
        "wrong_model": ["add", idx, str(tmp / "v.npy"), "--model", "other"],
        "meta_lines": ["add", idx, str(tmp / "w.npy"), "--metadata", str(tmp / "m.jsonl")],
        "meta_bad_line": ["add", idx, str(tmp / "w.npy"), "--metadata", str(tmp / "bad.jsonl")],
        "bad_filter_json": ["search", idx, "--queries", q, "--filter", "{pos: r}"],
        "bad_operator": ["search", idx, "--queries", q, "--filter", '{"pos": {"$like": "r"}}'],
        "ef_on_flat": ["search", idx, "--queries", q, "--ef", "10"],
        "json_folder": ["search", idx, "--queries", q, "--json", str(tmp / "no" / "out.json")],
        "queries_width": ["search", idx, "--queries", str(tmp / "narrow.npy")],
        "bad_vectors_file": ["add", idx, str(tmp / "w.txt")],
        "delete_nothing": ["delete", idx],
        "duplicate_ids": ["add", idx, str(tmp / "w.npy"), "--ids", str(tmp / "dup.txt")],
    }[case]
    (tmp / "nospec.json").write_text(json.dumps({"front": []}))
    (tmp / "bad.json").write_text("{")
    _plan_file(tmp / "infeasible.json", X, feasible=False)
    _plan_file(tmp / "plan.json", X, codec=False)
    (tmp / "bad.jsonl").write_text('{"a": 1}\n{oops\n{"a": 3}\n')
    (tmp / "dup.txt").write_text("1\n1\n2\n")
    (tmp / "w.txt").write_text("x")
    np.save(tmp / "wide.npy", np.ones((3, 24), np.float32))
    np.save(tmp / "narrow.npy", np.ones((3, 8), np.float32))
    np.save(tmp / "w.npy", X[:3])
    err = _fail(argv, capsys)
    assert expect in err, err
