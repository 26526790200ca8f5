"""Query maps stored in a collection: add_map, search with another model, refusals, check."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from lowdim.cli import app, main
from lowdim.compat import fit_map
from lowdim.exceptions import DimensionError, FileFormatError, ParameterError, ValidationError
from lowdim.store import Collection, check_collection


@pytest.fixture
def pairs(make_data):
    """``(old, new)``: 600 × 16 old-model vectors and the same items from a rotated "new model"."""
    old = make_data(600, 16, 4, seed=7)
    R = np.linalg.qr(np.random.default_rng(8).standard_normal((16, 16)))[0]
    return old, (old @ R.T).astype(np.float32)  # new @ R == old


def _collection(path, old):
    col = Collection.create(path, dim=16, spec="int8+rerank4", metric="cosine", model="old-model", train_size=300)
    col.add(old)
    return col


def test_search_with_a_mapped_model_matches_the_old_models_search(tmp_path, pairs):
    old, new = pairs
    col = _collection(tmp_path / "c", old)
    with pytest.raises(ValidationError, match=r"vectors from model 'new-model' do not fit .* models with a query map: none"):
        col.search(new[:3], 5, model="new-model")
    qmap = fit_map(new, old, kind="procrustes", models=("new-model", "old-model"))
    assert col.add_map(qmap, model="new-model") is col
    want = col.search(old[:20], 5)
    got = col.search(new[:20], 5, model="new-model")
    assert got.ids.tolist() == want.ids.tolist()
    np.testing.assert_allclose(got.scores, want.scores, atol=1e-4)
    with pytest.raises(ValidationError, match=r"model 'other' do not fit .*models with a query map: 'new-model' \(fit one"):
        col.search(new[:1], 5, model="other")
    assert col.info()["maps"] == ["new-model"]
    col.add_map(fit_map(new, old, kind="ridge"), model="new-model")  # replaces the first: its file is collected
    col.close()
    assert len(list((tmp_path / "c").glob("map-*.npz"))) == 1
    with Collection.open(tmp_path / "c", readonly=True) as ro:
        assert ro.search(new[:20], 5, model="new-model").ids[:, 0].tolist() == want.ids[:, 0].tolist()
        assert ro.search(old[:2], 5, model="old-model").ids.tolist() == want.ids[:2].tolist()  # own model: no map
    assert check_collection(tmp_path / "c").ok


def test_add_map_refuses_bad_maps_and_changes_nothing(tmp_path, pairs):
    old, new = pairs
    col = _collection(tmp_path / "c", old)
    before = sorted(p.name for p in (tmp_path / "c").iterdir())
    with pytest.raises(
        DimensionError, match="the query map outputs 8 features, but this collection \\(model old-model\\) expects 16"
    ):
        col.add_map(fit_map(new, old[:, :8], kind="ridge"), model="new-model")
    with pytest.raises(ParameterError, match="model 'old-model' is this collection's own model"):
        col.add_map(fit_map(new, old, kind="ridge"), model="old-model")
    with pytest.raises(ParameterError, match="add_map needs a lowdim.compat.QueryMap"):
        col.add_map(np.eye(16), model="new-model")
    wide = fit_map(np.hstack([new, new]), old, kind="ridge")
    col.add_map(wide, model="wide-model")
    with pytest.raises(DimensionError, match="queries has 16 features, but this query map expects 32"):
        col.search(new[:2], 3, model="wide-model")
    col.close()
    after = sorted(p.name for p in (tmp_path / "c").iterdir())
    assert [n for n in after if n not in before and not n.startswith("map-")] == []


def test_check_finds_a_corrupt_map_and_unregisters_it(tmp_path, pairs):
    old, new = pairs
    with _collection(tmp_path / "c", old) as col:
        col.add_map(fit_map(new, old, kind="ridge"), model="new-model")
    (path,) = (tmp_path / "c").glob("map-*.npz")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with Collection.open(tmp_path / "c", readonly=True) as ro:
        with pytest.raises(FileFormatError, match=rf"{path.name} .*corrupt \(checksum mismatch\)"):
            ro.search(new[:2], 3, model="new-model")
    report = check_collection(tmp_path / "c", repair=False)
    assert not report.ok and any(f"{path.name} is corrupt" in p and "'new-model'" in p for p in report.problems)
    report = check_collection(tmp_path / "c")
    assert report.ok and any("unregistered the damaged query map for model 'new-model'" in r for r in report.repaired)
    with Collection.open(tmp_path / "c", readonly=True) as ro:
        assert ro.info()["maps"] == []
        with pytest.raises(ValidationError, match="models with a query map: none"):
            ro.search(new[:2], 3, model="new-model")
    assert not path.exists()


def _ok(args: list[str]) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def _fail(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    return err


def test_cli_map_fit_add_and_search(tmp_path, pairs, capsys):
    old, new = pairs
    np.save(tmp_path / "old.npy", old)
    np.save(tmp_path / "new.npy", new)
    np.save(tmp_path / "q.npy", new[:3])
    _collection(tmp_path / "c", old).close()
    fit = ["map", "fit", str(tmp_path / "new.npy"), str(tmp_path / "old.npy"), "-o", str(tmp_path / "m.npz")]
    out = _ok([*fit, "--kind", "procrustes,ridge"])
    assert "procrustes" in out and "ridge" in out and "wrote" in out
    assert "models with a map: new-model" in _ok(
        ["map", "add", str(tmp_path / "c"), str(tmp_path / "m.npz"), "--model", "new-model"]
    )
    search = ["search", str(tmp_path / "c"), "--queries", str(tmp_path / "q.npy"), "--k", "3"]
    _ok([*search, "--model", "new-model", "--json", str(tmp_path / "r.json")])
    ids = json.loads((tmp_path / "r.json").read_text())["ids"]
    assert [row[0] for row in ids] == [0, 1, 2]
    assert "models with a query map: 'new-model'" in _fail([*search, "--model", "nope"], capsys)
    bad = ["map", "fit", str(tmp_path / "new.npy"), str(tmp_path / "q.npy"), "-o", str(tmp_path / "x.npz")]
    assert "new has 600 rows but old has 3" in _fail(bad, capsys)
    assert "The 'kind' parameter of fit_map must be one of" in _fail([*fit, "--kind", "rigde"], capsys)
    assert "is a plain .npy array, not an .npz" in _fail(
        ["map", "add", str(tmp_path / "c"), str(tmp_path / "q.npy"), "--model", "x"], capsys
    )


def test_text_collection_of_the_onnx_old_model_searched_with_new_model_texts(tmp_path):
    from lowdim.encoders import TextEncoder

    col = Collection.create(tmp_path / "t", encoder="paraphrase-MiniLM-L3-v2", spec="f16")
    assert col.model == "sentence-transformers/paraphrase-MiniLM-L3-v2"
    col.add_texts(["a large wild cat", "a small boat", "a musical instrument with strings", "a domestic dog", "a fast car"])
    words = "cat dog boat car guitar violin tiger lion ship truck piano wolf horse train plane drum fox bus yacht cello".split()
    new, old = TextEncoder("all-MiniLM-L6-v2").encode(words * 3), col.encoder.encode(words * 3)
    col.add_map(fit_map(new, old, kind="ridge", holdout=0.25), model="all-MiniLM-L6-v2")  # stored under the canonical name
    assert col.info()["maps"] == ["sentence-transformers/all-MiniLM-L6-v2"]
    own = col.search_text(["tiger", "ship"], 2).ids.tolist()
    assert col.search_text(["tiger", "ship"], 2, model="all-MiniLM-L6-v2").ids.tolist() == own == [[0, 3], [1, 4]]
    col.close()


def test_http_search_model_field_goes_through_the_map(tmp_path, pairs):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from lowdim.server import create_app

    old, new = pairs
    (tmp_path / "served").mkdir()
    with _collection(tmp_path / "served" / "c", old) as col:
        col.add_map(fit_map(new, old, kind="procrustes"), model="new-model")
        want = col.search(old[:4], 3).ids.tolist()
    with TestClient(create_app(tmp_path / "served")) as http:
        r = http.post("/collections/c/search", json={"queries": new[:4].tolist(), "k": 3, "model": "new-model"})
        assert r.status_code == 200, r.text
        assert r.json()["ids"] == want
        r = http.post("/collections/c/search", json={"queries": new[:1].tolist(), "k": 3, "model": "other"})
        assert r.status_code == 422 and "models with a query map: 'new-model'" in r.json()["error"]
