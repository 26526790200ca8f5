"""Text collections over HTTP: the server calls ``search_text`` / ``add_texts`` / ``upsert_texts`` of a real
collection (all-MiniLM-L6-v2, bundled offline), answers as Python does, and loads the model once."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from lowdim.exceptions import LowdimError
from lowdim.server import create_app
from lowdim.store import Collection

API_KEY = "test-key-0123456789"  # the same as conftest's
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
def twins(copy_text, tmp_path: Path):
    """(local text Collection, TestClient serving an identical copy named ``words``)."""
    local_path = copy_text(tmp_path / "local")
    served = copy_text(tmp_path / "served").parent
    with TestClient(create_app(served, api_key=API_KEY, refresh_interval=0)) as http, Collection.open(local_path) as local:
        yield local, http


def error_of(response) -> str:
    body = response.json()
    assert set(body) == {"error", "detail"}, body
    assert "Traceback" not in body["error"] and "\n" not in body["error"]
    return body["error"]


def python_error(fn, *args, **kwargs) -> str:
    with pytest.raises(LowdimError) as err:
        fn(*args, **kwargs)
    return str(err.value)


def test_text_search_matches_the_python_api(twins) -> None:
    local, http = twins
    info = http.get("/collections/words").json()
    assert info["text"] is True and info["dim"] == 384 and info["model"] == local.model
    for body, kwargs in [
        ({"text": ["a big cat", "a ship"], "k": 3}, {}),
        ({"text": "moving quickly", "k": 2, "filter": {"pos": "v"}, "with_metadata": True}, {"filter": {"pos": "v"}}),
        ({"text": "moving quickly", "k": 2, "rerank": 2}, {"rerank": 2}),  # the text method takes rerank (and ef)
    ]:
        r = http.post("/collections/words/search", json=body)
        assert r.status_code == 200, r.text
        res = local.search_text(body["text"], body["k"], with_metadata=body.get("with_metadata", False), **kwargs)
        assert r.json() == res.to_dict()
    assert http.post("/collections/words/search", json={"text": "a big cat", "k": 1}).json()["ids"] == [["tiger"]]


def test_add_and_upsert_texts_are_the_python_api(twins) -> None:
    """The bug: HTTP upsert with texts answered 400 'collection has no text encoder' on a real text collection."""
    local, http = twins
    writes = [
        ("add", {"texts": ["a loud trumpet", "a quiet flute"], "ids": ["trumpet", "flute"], "metadata": [{"pos": "n"}, None]}),
        ("upsert", {"texts": ["a violin played softly"], "ids": ["flute"], "metadata": [{"pos": "n"}]}),
        ("upsert", {"texts": ["a grand piano"], "ids": ["piano"]}),
    ]
    for op, body in writes:
        r = http.post(f"/collections/words/{op}", json=body, headers=AUTH)
        assert r.status_code == 200, r.text
        method = local.add_texts if op == "add" else local.upsert_texts
        assert r.json() == {"ids": method(body["texts"], body["ids"], body.get("metadata"))}
    assert http.get("/collections/words").json()["count"] == len(local) == 11
    for text in ("a violin", "a flute", "a piano"):
        r = http.post("/collections/words/search", json={"text": text, "k": 3, "with_metadata": True})
        assert r.json() == local.search_text(text, 3, with_metadata=True).to_dict()
    got = http.post("/collections/words/get", json={"ids": ["flute"]}).json()
    np.testing.assert_array_equal(np.array(got["vectors"], np.float32), local.get(["flute"]).vectors)


@pytest.mark.parametrize(
    "endpoint, body, call",
    [
        ("search", {"text": 5}, lambda c: c.search_text(5)),
        ("search", {"text": []}, lambda c: c.search_text([])),
        ("search", {"text": ["a", 3]}, lambda c: c.search_text(["a", 3])),
        ("add", {"texts": []}, lambda c: c.add_texts([])),
        ("add", {"texts": "one text"}, lambda c: c.add_texts("one text")),
        ("add", {"texts": [None]}, lambda c: c.add_texts([None])),
        ("add", {"texts": ["a", "b"], "ids": ["x"]}, lambda c: c.add_texts(["a", "b"], ["x"])),
        ("upsert", {"texts": ["a"], "ids": None}, lambda c: c.upsert_texts(["a"], None)),
        ("add", {"texts": ["a"], "ids": ["dog"]}, lambda c: c.add_texts(["a"], ["dog"])),
    ],
)
def test_bad_texts_get_the_python_error(twins, endpoint: str, body: dict, call) -> None:
    local, http = twins
    r = http.post(f"/collections/words/{endpoint}", json=body, headers=AUTH)
    assert 400 <= r.status_code < 500 and r.status_code != 400, r.text
    assert error_of(r) == python_error(call, local)
    assert http.get("/collections/words").json()["count"] == 8


def test_text_caps_and_arguments_the_methods_do_not_take(copy_text, tmp_path: Path) -> None:
    served = copy_text(tmp_path / "served").parent
    with TestClient(create_app(served, api_key=API_KEY, max_batch=3, refresh_interval=0)) as http:
        r = http.post("/collections/words/search", json={"text": ["a"] * 4})
        assert r.status_code == 422 and "4 texts in one request; this server takes at most 3 (max_batch)" in error_of(r)
        r = http.post("/collections/words/add", json={"texts": ["a"] * 4}, headers=AUTH)
        assert r.status_code == 422 and "max_batch" in error_of(r)
        r = http.post("/collections/words/add", json={"texts": ["a"], "model": "m"}, headers=AUTH)
        assert r.status_code == 422 and re.search(r"'model' applies to vectors; .* leave it out", error_of(r))
        # search text with another model: embedded by that model's encoder, then mapped; an unknown model is named
        r = http.post("/collections/words/search", json={"text": "a", "model": "m"})
        assert r.status_code == 404 and "'m'" in error_of(r)
        assert http.get("/collections/words").json()["count"] == 8
        schema = http.get("/openapi.json").json()["components"]["schemas"]
        for name in ("SearchRequest", "AddRequest", "UpsertRequest"):
            assert "oneOf" in schema[name], name
        assert "text" in schema["SearchRequest"]["properties"] and "texts" in schema["UpsertRequest"]["properties"]


def test_the_model_is_loaded_once_across_writes_and_snapshots(copy_text, tmp_path: Path, monkeypatch) -> None:
    """The bug: every snapshot the server opened (one after each write) built its own encoder and loaded the model again."""
    import sentence_transformers

    loads: list[str] = []
    original = sentence_transformers.SentenceTransformer

    def counted(*args, **kwargs):
        loads.append(str(args[0]) if args else "")
        return original(*args, **kwargs)

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", counted)
    served = copy_text(tmp_path / "served").parent
    app = create_app(served, api_key=API_KEY, readers=2, refresh_interval=0)
    encoders = []
    with TestClient(app) as http:
        entry = app.state.registry.get("words")
        for j in range(3):
            r = http.post("/collections/words/add", json={"texts": [f"new text {j}"], "ids": [f"t{j}"]}, headers=AUTH)
            assert r.status_code == 200, r.text
            r = http.post("/collections/words/search", json={"text": f"new text {j}", "k": 1})
            assert r.json()["ids"] == [[f"t{j}"]]
            with entry.reading() as col:  # a snapshot opened after this write
                encoders.append(col.encoder)
        assert entry.generation > 0 and len(set(map(id, encoders))) == 1
    assert len(loads) <= 1, loads  # 0 when an earlier test of this process loaded it already


def test_info_does_not_reveal_a_local_model_folder(tmp_path):
    """A collection built from a local model folder is described by the folder's name, not its path on the server."""
    from lowdim.encoders import resolve_model

    folder, _ = resolve_model("all-MiniLM-L6-v2")
    Collection.create(tmp_path / "local", encoder=str(folder), spec="f16").close()
    with TestClient(create_app(tmp_path / "local")) as http:
        info = http.get("/collections/local").json()
    assert info["settings"]["encoder"] == folder.name and str(folder.parent) not in json.dumps(info)
