"""Multi-vector collections over HTTP: the same answers as the Python API, token-set caps and one-line errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from lowdim.exceptions import DimensionError, NotFoundError, ParameterError, ValidationError
from lowdim.multivector import FDE, MultiVectorCollection
from lowdim.server import Client, RemoteCollection, RemoteMultiVectorCollection, create_app
from lowdim.server._limits import Limits
from lowdim.server._multivector import json_token_sets

API_KEY = "test-key-0123456789"  # the same as conftest's
D = 16
N_DOCS = 300  # int8 trains at 256
AUTH = {"authorization": f"Bearer {API_KEY}"}


def token_sets(n: int, *, seed: int) -> list[np.ndarray]:
    """Seeded unit-norm token sets with structure: each set's 2-6 tokens lie near one of 8 topic centres."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(123).standard_normal((8, D)).astype(np.float32)
    out = []
    for _ in range(n):
        c = centres[rng.integers(8)]
        t = c + 0.4 * rng.standard_normal((int(rng.integers(2, 7)), D))
        out.append((t / np.linalg.norm(t, axis=1, keepdims=True)).astype(np.float32))
    return out


@pytest.fixture
def mv_served(tmp_path: Path, h) -> Path:
    """A folder with a multi-vector collection ``mv`` (300 documents, metadata ``{"i", "even"}``) and a plain ``demo``."""
    root = tmp_path / "served"
    root.mkdir()
    with MultiVectorCollection.create(root / "mv", dim=D, spec="int8", fde=FDE(k_sim=2, d_proj=8, reps=4), candidates=20) as col:
        col.add(token_sets(N_DOCS, seed=0), metadata=[{"i": i, "even": i % 2 == 0} for i in range(N_DOCS)])
    h.make_collection(root / "demo", h.small_data())
    return root


@pytest.fixture
def http(mv_served: Path):
    with TestClient(create_app(mv_served, api_key=API_KEY, refresh_interval=0)) as client:
        yield client


def local(root: Path) -> MultiVectorCollection:
    return MultiVectorCollection.open(root / "mv", readonly=True)


def as_json(sets: list[np.ndarray]) -> list:
    return [s.tolist() for s in sets]


def count(http: TestClient) -> int:
    return int(http.get("/collections/mv").json()["count"])


def test_listed_with_its_kind_and_info(http, mv_served):
    assert http.get("/health").json()["collections"] == ["demo", "mv"]
    listing = {c["name"]: c for c in http.get("/collections").json()["collections"]}
    assert set(listing) == {"demo", "mv"} and "kind" not in listing["demo"] and listing["demo"]["dim"] == D
    info = http.get("/collections/mv").json()
    assert listing["mv"] == info
    with local(mv_served) as col:
        want = col.info()
    assert info["kind"] == "multivector" and info["name"] == "mv"
    for key in ("dim", "spec", "count", "ram_bytes_per_document", "fde", "candidates", "tokens_disk_bytes"):
        assert info[key] == want[key], key
    assert str(mv_served) not in json.dumps(info)  # no server paths, the inner collection's included


def test_search_equals_the_python_api(http, mv_served):
    queries = token_sets(12, seed=7)
    body = {"tokens": as_json(queries), "k": 5, "candidates": 30, "filter": {"even": True}, "with_metadata": True}
    got = http.post("/collections/mv/search", json=body).json()
    with local(mv_served) as col:
        want = col.search(queries, 5, candidates=30, filter={"even": True}, with_metadata=True)
        plain = col.search(queries, 3)
    assert got["ids"] == want.ids.tolist()
    np.testing.assert_allclose(np.array(got["scores"]), want.scores, rtol=1e-6)
    assert got["metadata"] == want.metadata
    assert all(i % 2 == 0 for row in got["ids"] for i in row) and np.shape(got["ids"]) == (12, 5)  # filters return k
    default = http.post("/collections/mv/search", json={"tokens": as_json(queries), "k": 3}).json()
    assert default["ids"] == plain.ids.tolist() and "metadata" not in default


def test_add_upsert_delete_then_search(http, mv_served):
    new = token_sets(3, seed=99)
    r = http.post("/collections/mv/add", json={"tokens": as_json(new), "ids": ["a", "b", "c"]}, headers=AUTH)
    assert r.status_code == 200 and r.json() == {"ids": ["a", "b", "c"]}
    assert count(http) == N_DOCS + 3
    hit = http.post("/collections/mv/search", json={"tokens": as_json(new[1:2]), "k": 1}).json()
    assert hit["ids"] == [["b"]]
    got = http.post("/collections/mv/get", json={"ids": ["c", 4]}).json()
    assert got["ids"] == ["c", 4] and got["metadata"] == [None, {"i": 4, "even": True}]
    np.testing.assert_array_equal(np.array(got["tokens"][0], np.float32), new[2].astype(np.float16).astype(np.float32))
    # upsert replaces b's tokens: a query equal to the new ones finds b
    other = token_sets(1, seed=5)
    r = http.post("/collections/mv/upsert", json={"tokens": as_json(other), "ids": ["b"], "metadata": [{"x": 1}]}, headers=AUTH)
    assert r.json() == {"ids": ["b"]}
    res = http.post("/collections/mv/search", json={"tokens": as_json(other), "k": 1, "with_metadata": True}).json()
    assert res["ids"] == [["b"]] and res["metadata"] == [[{"x": 1}]]
    assert http.post("/collections/mv/delete", json={"ids": ["b", "zzz"]}, headers=AUTH).json() == {"deleted": 1}
    after = http.post("/collections/mv/search", json={"tokens": as_json(other), "k": 5}).json()
    assert "b" not in after["ids"][0] and count(http) == N_DOCS + 2
    with local(mv_served) as col:  # the server's writes are on disk, and the Python API sees them
        assert len(col) == N_DOCS + 2 and col.search(new[2:3], 1).ids.tolist() == [["c"]]
        assert after["ids"] == col.search(other, 5).ids.tolist()


NAN_BODY = b'{"ids": [0], "tokens": [[[1.0, NaN' + b", 0" * (D - 2) + b"]]]}"  # JSON has no NaN; Python's parser reads it
BAD_TOKENS = [
    (list(range(D)), r"tokens\[0\] is a int; a token set is a list of token vectors"),
    ([], "tokens must be a non-empty list of token sets"),
    ([[]], r"tokens\[0\] is an empty token set"),
    ([[0.0] * D], r"tokens\[0\] is one token vector, not a token set"),
    ([[[0.0] * D, [0.0] * (D - 1)]], r"tokens\[0\] rows differ in length: row 0 has 16 numbers, row 1 has 15"),
    ([[[0.0] * D], [[0.0] * 8]], r"tokens\[1\] has 8 features, but multi-vector collection 'mv' expects 16"),
    ([[[0.0] * (D - 1) + ["x"]]], r"tokens\[0\]\[0\]\[15\] is a str"),
    ("abc", "tokens must be a non-empty list of token sets"),
]


def test_bad_token_sets_are_one_line_422s_and_write_nothing(http):
    for op in ("search", "add", "upsert"):
        for tokens, message in BAD_TOKENS:
            r = http.post(
                f"/collections/mv/{op}", json={"tokens": tokens, **({"ids": [0]} if op == "upsert" else {})}, headers=AUTH
            )
            assert r.status_code == 422, (op, r.text)
            error = r.json()["error"]
            assert "\n" not in error and re.search(message, error), (op, error)
        body = NAN_BODY if op == "upsert" else NAN_BODY.replace(b'"ids": [0], ', b"")
        r = http.post(f"/collections/mv/{op}", content=body, headers={**AUTH, "content-type": "application/json"})
        assert r.status_code == 422 and "NaN or infinity in 1 row" in r.json()["error"], r.text
    assert count(http) == N_DOCS
    r = http.post("/collections/mv/add", json={"tokens": [[[0.0] * D]], "ids": [0]}, headers=AUTH)  # an id clash: 409
    assert r.status_code == 409 and count(http) == N_DOCS


def test_wrong_fields_for_the_kind_are_refused(http):
    vec = [[0.0] * D]
    cases = [
        (
            "mv",
            "search",
            {"queries": vec},
            "collection 'mv' is a multi-vector collection, so it takes no 'queries': send 'tokens'",
        ),
        ("mv", "search", {"text": "dog"}, "takes no 'text'"),
        ("mv", "search", {"tokens": [vec], "rerank": 4}, "set 'candidates' (documents reranked per query) instead of 'rerank'"),
        ("mv", "search", {"k": 3}, "send 'tokens'"),
        ("mv", "add", {"vectors": vec}, "takes no 'vectors'"),
        ("mv", "search", {"tokens": [vec], "candidate": 3}, "did you mean 'candidates'"),
        ("demo", "search", {"tokens": [vec]}, "'tokens' (token sets) are for multi-vector collections"),
        ("demo", "add", {"tokens": [vec]}, "'tokens' (token sets) are for multi-vector collections"),
        ("mv", "migrate", {"to_model": "x"}, "'mv' is a multi-vector collection: this endpoint serves single-vector"),
    ]
    for name, op, body, message in cases:
        r = http.post(f"/collections/{name}/{op}", json=body, headers=AUTH)
        assert r.status_code == 422 and message in r.json()["error"], (name, op, r.text)
    assert count(http) == N_DOCS
    # the single-vector routes still serve their collections
    assert np.shape(http.post("/collections/demo/search", json={"queries": vec, "k": 2}).json()["ids"]) == (1, 2)


def test_writes_need_the_key(http, mv_served):
    body = {"tokens": [[[0.0] * D]]}
    assert http.post("/collections/mv/add", json=body).status_code == 401
    assert http.post("/collections/mv/add", json=body, headers={"authorization": "Bearer nope"}).status_code == 401
    assert http.post("/collections/mv/delete", json={"ids": [0]}).status_code == 401
    with TestClient(create_app(mv_served, refresh_interval=0)) as closed:
        assert closed.post("/collections/mv/upsert", json={**body, "ids": [1]}).status_code == 403
    assert count(http) == N_DOCS


def test_caps(mv_served):
    one = [[0.0] * D]
    with TestClient(create_app(mv_served, api_key=API_KEY, max_batch=4, max_candidates=50, refresh_interval=0)) as http:
        r = http.post("/collections/mv/search", json={"tokens": [one] * 5})
        assert (
            r.status_code == 422 and "5 token sets in one request; this server takes at most 4 (max_batch)" in r.json()["error"]
        )
        r = http.post("/collections/mv/search", json={"tokens": [one] * 3, "candidates": 20})
        assert r.status_code == 422 and "this server allows 50 per request (max_candidates)" in r.json()["error"]
        r = http.post("/collections/mv/add", json={"tokens": [one * 2049]}, headers=AUTH)
        assert r.status_code == 422 and "tokens[0] has 2049 token vectors" in r.json()["error"]
        r = http.post("/collections/mv/search", json={"tokens": [one], "k": 1001})
        assert r.status_code == 422 and "max_k" in r.json()["error"]
        assert http.get("/health").json()["limits"]["max_tokens_per_set"] == 2048
        assert count(http) == N_DOCS
        # the Client splits a search into requests within the caps (max_batch 4 here: 3 requests)
        queries = token_sets(10, seed=4)
        res = Client(http=http).collection("mv").search(queries, k=3, candidates=10)
    with local(mv_served) as col:
        assert res.ids.tolist() == col.search(queries, 3, candidates=10).ids.tolist()


def test_json_token_sets_caps_and_forms():
    limits = Limits(max_batch=3, max_tokens_per_set=4, max_tokens=6)
    ts = json_token_sets([[[1, 0]], [[0, 1], [1, 1]]], "tokens", limits)
    assert ts.offsets.tolist() == [0, 1, 3] and ts.rows.dtype == np.float32
    with pytest.raises(ParameterError, match=r"tokens\[1\] has 5 token vectors; this server takes at most 4 per set"):
        json_token_sets([[[0, 0]], [[0, 0]] * 5], "tokens", limits)
    with pytest.raises(ParameterError, match="tokens hold 8 token vectors in all; this server takes at most 6"):
        json_token_sets([[[0, 0]] * 4, [[0, 0]] * 4], "tokens", limits)
    with pytest.raises(ValidationError, match="rows differ in length"):
        json_token_sets([[[0, 0], [0]]], "tokens", limits)


def test_client_round_trip(http, mv_served):
    client = Client(http=http, api_key=API_KEY)
    remote = client.collection("mv")
    assert isinstance(remote, RemoteMultiVectorCollection) and isinstance(client.collection("demo"), RemoteCollection)
    assert len(remote) == N_DOCS and remote.dim == D
    queries = token_sets(5, seed=3)
    res = remote.search(queries, k=4, filter={"even": False}, with_metadata=True)
    with local(mv_served) as col:
        want = col.search(queries, 4, filter={"even": False}, with_metadata=True)
    assert res.ids.tolist() == want.ids.tolist() and res.metadata == want.metadata
    np.testing.assert_allclose(res.scores, want.scores, rtol=1e-6)
    new = token_sets(4, seed=11)
    new_ids = ["n0", "n1", "n2", "n3"]
    assert remote.add(new, ids=new_ids, metadata=[{"n": 1}] * 4, batch_size=3) == new_ids
    rec = remote.get(["n1", 7])
    assert rec.ids == ["n1", 7] and rec.metadata == [{"n": 1}, {"i": 7, "even": False}]
    np.testing.assert_array_equal(rec.tokens[0], new[1].astype(np.float16).astype(np.float32))
    assert remote.search([new[2]], k=1).ids.tolist() == [["n2"]]
    assert remote.upsert([new[0]], ids=["n2"]) == ["n2"]
    assert sorted(remote.search([new[0]], k=2).ids[0].tolist()) == ["n0", "n2"]  # two copies of the same tokens
    assert remote.delete(["n0", "n1"]) == 2 and len(remote) == N_DOCS + 2
    with pytest.raises(DimensionError, match=r"queries\[0\] has 8 features, but multi-vector collection 'mv' expects 16"):
        remote.search([np.zeros((2, 8), np.float32)])
    with pytest.raises(ValidationError, match="empty"):
        remote.add([np.zeros((0, D), np.float32)])
    with pytest.raises(NotFoundError):
        remote.get(["missing"])
    assert len(remote) == N_DOCS + 2


def test_another_process_writing_is_picked_up(mv_served):
    app = create_app(mv_served, api_key=API_KEY, refresh_interval=0)
    with TestClient(app) as http:
        with MultiVectorCollection.open(mv_served / "mv") as col:  # another writer (the server holds no writer yet)
            col.add(token_sets(2, seed=8), ids=["p", "q"])
        assert count(http) == N_DOCS  # the served snapshot until the poller looks
        assert app.state.registry.refresh_stale() == 1
        assert count(http) == N_DOCS + 2
        assert http.post("/collections/mv/get", json={"ids": ["q"]}).json()["ids"] == ["q"]
