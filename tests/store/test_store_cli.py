"""lowdim create | add | search | delete | info | check | compact: outputs, JSON shape, one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from lowdim.cli import app, main
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
    assert set(res) == {"ids", "scores"}
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


def test_create_from_a_plan_file(files):
    tmp, _ = files
    (tmp / "plan.json").write_text(json.dumps({"recommended": {"spec": "binary+rerank10", "recall@10": 0.97}, "front": []}))
    _ok(["create", str(tmp / "idx"), "--dim", "16", "--plan", str(tmp / "plan.json")])
    with Collection.open(tmp / "idx") as col:
        assert col.spec == "binary+rerank10"
    # the planner's own file: dim and metric come from it unless given
    (tmp / "plan2.json").write_text(json.dumps({"d": 16, "metric": "ip", "recommended": {"spec": "pca8/int8+rerank4"}}))
    _ok(["create", str(tmp / "idx2"), "--plan", str(tmp / "plan2.json")])
    with Collection.open(tmp / "idx2") as col:
        assert (col.spec, col.dim, col.metric) == ("pca8/int8+rerank4", 16, "ip")


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
        ("spec_and_plan", "give either --spec or --plan, not both"),
        ("plan_missing", "plan file"),
        ("plan_no_spec", 'has no recommended spec; expected {"recommended": {"spec": "..."}, ...}'),
        ("plan_bad_json", "is not valid JSON"),
        ("plan_infeasible", "recommends no spec (no candidate met its targets); choose one with --spec instead"),
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
        "spec_and_plan": ["create", str(tmp / "new"), "--dim", "16", "--spec", "int8", "--plan", "p.json"],
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
    (tmp / "infeasible.json").write_text(json.dumps({"feasible": False, "recommended": None, "d": 16}))
    (tmp / "bad.jsonl").write_text('{"a": 1}\n{oops\n{"a": 3}\n')
    (tmp / "dup.txt").write_text("1\n1\n2\n")
    (tmp / "w.txt").write_text("x")
    np.save(tmp / "wide.npy", np.ones((3, 24), np.float32))
    np.save(tmp / "narrow.npy", np.ones((3, 8), np.float32))
    np.save(tmp / "w.npy", X[:3])
    err = _fail(argv, capsys)
    assert expect in err, err
