"""The FastAPI app in process (TestClient): endpoints, safety defaults, caps and error bodies."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from lowdim.exceptions import ConflictError, FileFormatError, NotFoundError, ParameterError, UntrainedWarning
from lowdim.server import create_app
from lowdim.store import Collection

API_KEY = "test-key-0123456789"  # the same as conftest's
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
def http(served: Path):
    with TestClient(create_app(served, api_key=API_KEY, refresh_interval=0)) as client:
        yield client


def search(http: TestClient, body: dict, name: str = "demo"):
    return http.post(f"/collections/{name}/search", json=body)


def error_of(response) -> str:
    body = response.json()
    assert set(body) == {"error", "detail"}, body
    assert "Traceback" not in body["error"] and "\n" not in body["error"]
    return body["error"]


# -- reading ---------------------------------------------------------------------------------
def test_search_matches_the_python_api(http: TestClient, served: Path, data: np.ndarray) -> None:
    Q = data[:5] + 0.01
    body = {"queries": Q.tolist(), "k": 7, "filter": {"pos": {"$in": ["n", "v"]}}, "rerank": 2}
    r = search(http, body)
    assert r.status_code == 200
    out = r.json()
    with Collection.open(served / "demo", readonly=True) as col:
        local = col.search(Q, 7, filter={"pos": {"$in": ["n", "v"]}}, rerank=2)
    assert out["ids"] == local.ids.tolist()
    np.testing.assert_allclose(np.array(out["scores"], np.float32), local.scores, rtol=0, atol=0)
    assert np.array(out["ids"]).shape == (5, 7)


def test_search_pads_with_null_to_fixed_shape(http: TestClient, data: np.ndarray) -> None:
    out = search(http, {"queries": data[:2].tolist(), "k": 5, "filter": {"i": {"$lt": 3}}}).json()
    assert [len(row) for row in out["ids"]] == [5, 5]
    assert out["ids"][0][3:] == [None, None] and out["scores"][0][3:] == [None, None]
    assert sorted(out["ids"][0][:3]) == [0, 1, 2]


def test_search_with_metadata(http: TestClient, data: np.ndarray) -> None:
    out = search(http, {"queries": data[:1].tolist(), "k": 2, "with_metadata": True}).json()
    assert out["ids"][0][0] == 0
    assert out["metadata"][0][0] == {"pos": "n", "i": 0, "even": True}


def test_integral_json_numbers_are_integers(http: TestClient, data: np.ndarray) -> None:
    # JSON has one number type: integer vectors, k=3.0 and id 3.0 are fine (lowdim.validation.integral_number)
    r = search(http, {"queries": [[1] * 16], "k": 3.0, "rerank": 2.0})
    assert r.status_code == 200 and len(r.json()["ids"][0]) == 3
    assert http.post("/collections/demo/get", json={"ids": [3.0, 1]}).json()["ids"] == [3, 1]
    r = http.post("/collections/demo/get", json={"ids": [3.5]})
    assert r.status_code == 422 and error_of(r) == "ids[0] is a float (3.5); ids must be strings or integers"
    r = search(http, {"queries": [[1] * 16], "k": 3.5})
    assert r.status_code == 422 and error_of(r).startswith("k: Input should be a valid integer")


#: filters whose answer (hits or a one-line error) must be the same in Python and over HTTP
FILTERS = [
    {"i": {"$lt": 1e19}},  # a REAL beyond 64 bits: fine (it was a 422 over HTTP)
    {"i": {"$gt": -1e19, "$lt": 6}},
    {"i": {"$lt": 1.5e300}, "even": True},
    {"i": 2**64},  # an integer beyond 64 bits: refused, with the store's words
    {"i": {"$in": [1, 2**70]}},
    {"i": {"$nin": [1, 2, 3]}, "pos": {"$ne": "n"}},
    {"$or": [{"pos": "v"}, {"i": {"$lte": 2}}]},
    {"pos": {"$like": "n"}},
    {"i": None},
    {"$or": []},
    {"$nor": [{"i": 1}]},
    {"pos": ["n", "v"]},
    [1],
]


@pytest.mark.parametrize("flt", FILTERS, ids=[json.dumps(f) for f in FILTERS])
def test_filters_answer_as_in_python(http: TestClient, served: Path, data: np.ndarray, flt) -> None:
    with Collection.open(served / "demo", readonly=True) as col:
        try:
            expected: object = col.search(data[:3], 5, filter=flt).to_dict()
        except ParameterError as exc:
            expected = str(exc)
    r = search(http, {"queries": data[:3].tolist(), "k": 5, "filter": flt})
    if isinstance(expected, str):
        assert r.status_code == 422 and r.json()["detail"] == {"type": "ParameterError"}
        assert error_of(r) == expected
    else:
        assert r.status_code == 200 and r.json() == expected


def test_list_info_health(http: TestClient, served: Path) -> None:
    listing = http.get("/collections").json()["collections"]
    assert [c["name"] for c in listing] == ["demo"]
    info = http.get("/collections/demo").json()
    assert info["count"] == 400 and info["dim"] == 16 and info["spec"] == "int8+rerank4" and info["text"] is False
    assert "path" not in info and str(served) not in json.dumps(info)  # no server paths leak
    health = http.get("/health").json()
    assert health["status"] == "ok" and health["collections"] == ["demo"] and health["writes"] == "api_key"
    assert health["limits"]["max_k"] == 1000


def test_get_records(http: TestClient, data: np.ndarray) -> None:
    out = http.post("/collections/demo/get", json={"ids": [3, 1]}).json()
    assert out["ids"] == [3, 1] and out["metadata"][0]["i"] == 3
    np.testing.assert_array_equal(np.array(out["vectors"], np.float32), data[[3, 1]])
    missing = http.post("/collections/demo/get", json={"ids": [3, 99999]})
    assert missing.status_code == 404 and "99999" in error_of(missing)


# -- bad input is a one-line 4xx -----------------------------------------------------------------
@pytest.mark.parametrize(
    "queries, status, message",
    [
        ([[0.1] * 15], 422, r"queries has 15 features, but this collection expects 16"),
        ([[float("nan")] * 16], 422, r"queries contains NaN or infinity in 1 row\(s\): 0"),
        ([[0.1] * 16, [float("inf")] * 16], 422, r"NaN or infinity in 1 row\(s\): 1"),
        ([["a"] * 16], 422, r"queries\[0\]\[0\] is a str \('a'\); vectors hold numbers only"),
        ([[True] * 16], 422, r"queries\[0\]\[0\] is a bool"),
        ([[None] * 16], 422, r"queries\[0\]\[0\] is a NoneType"),
        ([0.1] * 16, 422, r"queries is 1-D with shape \(16,\); .* Use X.reshape\(1, -1\) for a single vector"),
        ("abc", 422, r"dtype <U3"),
        ([[0.1] * 16, [0.1] * 3], 422, r"rows differ in length: row 0 has 16 numbers, row 1 has 3"),
        ([], 422, r"queries is empty \(0 rows\)"),
        ([[1e39] * 16], 422, r"beyond the float32 range"),
        ([[10**400] * 16], 422, r"too large for a float"),
    ],
)
def test_bad_vectors(http: TestClient, queries, status: int, message: str) -> None:
    r = http.post(
        "/collections/demo/search",
        content=json.dumps({"queries": queries}),  # json.dumps writes NaN/Infinity, as some clients do
        headers={"content-type": "application/json"},
    )
    assert r.status_code == status
    assert r.json()["detail"]["type"] in ("ValidationError", "DimensionError", "DTypeError")
    assert re.search(message, error_of(r)), error_of(r)


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"queries": [[0.1] * 16], "k": 1001}, 422, r"'k' parameter of search must be <= 1000 on this server"),
        ({"queries": [[0.1] * 16], "k": 0}, 422, r"'k' parameter must be an integer >= 1"),
        ({"queries": [[0.1] * 16], "k": "5"}, 422, r"^k: Input should be a valid integer"),
        ({"queries": [[0.1] * 16], "k": True}, 422, r"^k: Input should be a valid integer"),
        ({"queries": [[0.1] * 16], "rerank": 101}, 422, r"'rerank' parameter of search must be <= 100"),
        ({"queries": [[0.1] * 16], "rerank": -1}, 422, r"'rerank' parameter of search must be an integer >= 0"),
        ({"queries": [[0.1] * 16], "ef": 10}, 422, r"'ef' parameter applies to collections with index='hnsw'"),
        ({"queries": [[0.1] * 16], "filter": {"pos": {"$like": "n"}}}, 422, r"unknown filter operator '\$like'"),
        ({"queries": [[0.1] * 16], "filter": [1]}, 422, r"a filter must be a dict such as"),
        ({"queries": [[0.1] * 16], "filter": {"x": 10**30}}, 422, r"is 10{30}, which does not fit in 64 bits"),
        ({"queries": [[0.1] * 16], "filter": {"$or": [{"i": j} for j in range(100)]}}, 422, r"more than 64 conditions"),
        ({"queries": [[0.1] * 16], "model": "other"}, 200, r""),  # the collection names no model: any is fine
        ({"query": [[0.1] * 16]}, 422, r"unknown field 'query' in the request body; did you mean 'queries'\?"),
        (
            {"vectors": [[0.1] * 16]},
            422,
            r"unknown field 'vectors'; ?|unknown field 'vectors' in the request body; valid fields: queries",
        ),
        ({}, 422, r"send exactly one of 'queries' \(vectors\) and 'text'"),
        ({"queries": [[0.1] * 16], "text": "dog"}, 422, r"send exactly one of"),
        ({"text": "dog"}, 400, r"collection 'demo' has no text encoder, so it takes no text; send vectors of 16 numbers"),
    ],
)
def test_bad_parameters(http: TestClient, body: dict, status: int, message: str) -> None:
    r = search(http, body)
    assert r.status_code == status, r.text
    if status != 200:
        assert re.search(message, error_of(r)), error_of(r)


def test_search_work_is_capped(served: Path) -> None:
    with TestClient(create_app(served, max_candidates=10_000, refresh_interval=0)) as http:
        ok = search(http, {"queries": [[0.1] * 16] * 25, "k": 100})  # 25 x 100 x rerank4 (the spec's) = 10,000
        assert ok.status_code == 200
        r = search(http, {"queries": [[0.1] * 16] * 26, "k": 100})
        assert r.status_code == 422
        assert error_of(r) == (
            "this search would rescore 10,400 candidates (26 queries x k=100 x rerank 4); "
            "this server allows 10,000 per request (max_candidates): send fewer queries or use a smaller k"
        )
        assert search(http, {"queries": [[0.1] * 16] * 26, "k": 100, "rerank": 0}).status_code == 200


def test_deep_filter_is_refused_not_crashed(http: TestClient) -> None:
    deep = '{"$and": [' * 2000 + '{"i": 1}' + "]}" * 2000  # written by hand: json.dumps would recurse too deep
    body = '{"queries": [[' + ", ".join(["0.1"] * 16) + ']], "filter": ' + deep + "}"
    r = http.post("/collections/demo/search", content=body.encode(), headers={"content-type": "application/json"})
    assert r.status_code == 400 and "too deeply nested" in error_of(r)  # beyond what the JSON parser takes
    r = search(http, {"queries": [[0.1] * 16], "filter": json.loads('{"$and": [' * 20 + '{"i": 1}' + "]}" * 20)})
    assert r.status_code == 422 and error_of(r) == "filter is nested more than 8 levels deep; flatten it"


def test_malformed_and_non_json_bodies(http: TestClient) -> None:
    r = http.post("/collections/demo/search", content=b'{"queries": [[1,', headers={"content-type": "application/json"})
    assert r.status_code == 400 and error_of(r).startswith("request body is not valid JSON")
    r = http.post("/collections/demo/search", content=b'{"queries": [[1]]}', headers={"content-type": "text/plain"})
    assert r.status_code == 422 and "Content-Type: application/json" in error_of(r)
    r = http.post("/collections/demo/search")
    assert r.status_code == 422 and "request body is missing" in error_of(r)
    deep = b"[" * 100_000 + b"]" * 100_000
    r = http.post("/collections/demo/search", content=b'{"queries": ' + deep + b"}", headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500


def test_unstorable_strings_and_integers_are_4xx(http: TestClient) -> None:
    r = http.post(
        "/collections/demo/add",
        content=b'{"vectors": [[' + b", ".join([b"0.5"] * 16) + b']], "ids": ["\\ud800"]}',
        headers={**AUTH, "content-type": "application/json"},
    )
    assert r.status_code == 422 and "lone surrogate" in error_of(r) and "ud800" in error_of(r)
    r = http.post("/collections/demo/get", content=b'{"ids": ["\\ud800"]}', headers={"content-type": "application/json"})
    assert r.status_code == 422 and "lone surrogate" in error_of(r)  # such an id can never have been stored
    r = http.post("/collections/demo/get", json={"ids": [2**64]})
    assert r.status_code == 422 and "64 bits" in error_of(r)
    r = http.post("/collections/demo/add", json={"vectors": [[0.1] * 16], "metadata": [{"big": 2**70}]}, headers=AUTH)
    assert r.status_code == 422 and "64-bit" in error_of(r)
    assert http.get("/collections/demo").json()["count"] == 400  # nothing half-written


# -- names cannot reach outside the served folders ------------------------------------------------
@pytest.mark.parametrize(
    "path",
    [
        "/collections/..%2F..%2Fetc%2Fpasswd",
        "/collections/../../etc/passwd",
        "/collections/%2e%2e",
        "/collections/..",
        "/collections/.%2e",
        "/collections/demo%2F..%2F..%2Fdemo",
        "/collections/%2Ftmp",
        "/collections/served",
    ],
)
def test_path_traversal_names_are_refused(h, http: TestClient, path: str, tmp_path: Path) -> None:
    # a collection next to the served folder must stay unreachable
    h.make_collection(tmp_path / "outside", h.small_data(50, 16))
    r = http.get(path)
    assert r.status_code == 404, r.text
    error_of(r)
    r = http.post(path.rstrip("/") + "/search", json={"queries": [[0.1] * 16]})
    assert r.status_code in (404, 405)
    r = http.get("/collections/outside")
    assert r.status_code == 404 and "served: demo" in error_of(r)


def test_unknown_collection_lists_served_names(http: TestClient) -> None:
    r = search(http, {"queries": [[0.1] * 16]}, name="nope")
    assert r.status_code == 404 and error_of(r) == "no collection named 'nope' on this server; served: demo"


def test_unknown_route_and_method(http: TestClient) -> None:
    r = http.get("/nope")
    assert r.status_code == 404 and error_of(r)
    r = http.put("/collections/demo/search", json={})
    assert r.status_code == 405 and r.headers["allow"] == "POST" and error_of(r)


# -- body and batch caps ------------------------------------------------------------------------
def test_oversize_body_is_413(served: Path) -> None:
    app = create_app(served, api_key=API_KEY, max_body_bytes=10_000, max_batch=50, refresh_interval=0)
    with TestClient(app) as http:
        big = {"queries": [[0.123456789] * 16] * 100}
        r = http.post("/collections/demo/search", json=big)
        assert r.status_code == 413 and "larger than this server accepts (10,000 bytes" in error_of(r)
        r = http.post("/collections/demo/add", json={"vectors": [[0.123456789] * 16] * 100}, headers=AUTH)
        assert r.status_code == 413
        # a chunked body without Content-Length is cut off too
        chunks = (b"x" * 4096 for _ in range(5))
        r = http.post("/collections/demo/search", content=chunks, headers={"content-type": "application/json"})
        assert r.status_code == 413
        # a batch over max_batch that fits in the body is a 422 naming the cap
        r = http.post("/collections/demo/search", json={"queries": [[1] * 16] * 60})
        assert r.status_code == 422 and "60 queries in one request; this server takes at most 50 (max_batch)" in error_of(r)
        r = http.post("/collections/demo/delete", json={"ids": list(range(60))}, headers=AUTH)
        assert r.status_code == 422 and "max_batch" in error_of(r)
        assert http.get("/collections/demo").json()["count"] == 400


# -- writes ------------------------------------------------------------------------------------
def test_writes_are_refused_without_a_configured_key(served: Path, data: np.ndarray) -> None:
    with TestClient(create_app(served, refresh_interval=0)) as http:
        assert http.get("/health").json()["writes"] == "disabled"
        for op, body in [
            ("add", {"vectors": data[:1].tolist()}),
            ("upsert", {"vectors": data[:1].tolist(), "ids": [0]}),
            ("delete", {"ids": [0]}),
        ]:
            r = http.post(f"/collections/demo/{op}", json=body, headers=AUTH)  # even with a key: none is configured
            assert r.status_code == 403 and "writes are disabled on this server" in error_of(r)
        assert http.get("/collections/demo").json()["count"] == 400


def test_writes_need_the_right_key(http: TestClient, data: np.ndarray) -> None:
    body = {"vectors": data[:2].tolist(), "ids": ["x", "y"]}
    r = http.post("/collections/demo/add", json=body)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer" and "API key" in error_of(r)
    r = http.post("/collections/demo/add", json=body, headers={"Authorization": "Bearer " + API_KEY[:-1]})
    assert r.status_code == 401 and error_of(r) == "wrong API key"
    r = http.post("/collections/demo/add", json=body, headers={"Authorization": "Basic " + API_KEY})
    assert r.status_code == 401
    assert http.get("/collections/demo").json()["count"] == 400
    r = http.post("/collections/demo/add", json=body, headers=AUTH)
    assert r.status_code == 200 and r.json() == {"ids": ["x", "y"]}


def test_unauthenticated_writes_when_allowed(served: Path, data: np.ndarray) -> None:
    with TestClient(create_app(served, allow_unauthenticated_writes=True, refresh_interval=0)) as http:
        r = http.post("/collections/demo/add", json={"vectors": data[:1].tolist()})
        assert r.status_code == 200 and r.json() == {"ids": [400]}


def test_add_upsert_delete_are_visible_to_the_next_search(http: TestClient, data: np.ndarray) -> None:
    v = (data[7] * -1).tolist()
    r = http.post("/collections/demo/add", json={"vectors": [v], "ids": ["neg7"], "metadata": [{"pos": "x"}]}, headers=AUTH)
    assert r.status_code == 200
    hit = search(http, {"queries": [v], "k": 1}).json()
    assert hit["ids"] == [["neg7"]]
    assert search(http, {"queries": [v], "k": 1, "filter": {"pos": "x"}}).json()["ids"] == [["neg7"]]
    # add refuses an id that exists, upsert replaces it
    r = http.post("/collections/demo/add", json={"vectors": [v], "ids": ["neg7"]}, headers=AUTH)
    assert r.status_code == 409 and "use upsert() to replace them" in error_of(r)
    w = data[9].tolist()
    r = http.post("/collections/demo/upsert", json={"vectors": [w], "ids": ["neg7"]}, headers=AUTH)
    assert r.status_code == 200
    assert search(http, {"queries": [v], "k": 1, "filter": {"pos": "x"}}).json()["ids"] == [[None]]
    assert http.get("/collections/demo").json()["count"] == 401
    r = http.post("/collections/demo/delete", json={"ids": ["neg7", "never"]}, headers=AUTH)
    assert r.json() == {"deleted": 1}
    assert http.get("/collections/demo").json()["count"] == 400
    r = http.post("/collections/demo/upsert", json={"vectors": [w]}, headers=AUTH)
    assert r.status_code == 422 and error_of(r) == "field 'ids' is required"


def test_bad_writes_change_nothing(http: TestClient, data: np.ndarray) -> None:
    for body, message in [
        ({"vectors": data[:2].tolist(), "ids": [1000]}, "1 ids were given for 2 vectors"),
        ({"vectors": data[:2].tolist(), "ids": [1000, 1000]}, "ids contain duplicates"),
        ({"vectors": data[:2].tolist(), "metadata": [{"a": 1}]}, "metadata has 1 entries, but 2 vectors"),
        ({"vectors": data[:2].tolist(), "metadata": {"a": 1}}, "metadata must be a JSON array"),
        ({"vectors": data[:2].tolist(), "ids": "abc"}, "ids must be a JSON array"),
        ({"vectors": data[:2].tolist(), "ids": [1.5, 2]}, r"ids\[0\] is a float"),
        ({"vectors": [[0.1] * 8]}, "vectors has 8 features, but this collection expects 16"),
        ({"vectors": [[float("nan")] * 16]}, "NaN"),
        ({"texts": ["a dog"]}, "has no text encoder"),
        ({"vectors": data[:1].tolist(), "texts": ["a"]}, "exactly one of 'vectors' and 'texts'"),
    ]:
        r = http.post("/collections/demo/add", content=json.dumps(body), headers={**AUTH, "content-type": "application/json"})
        assert 400 <= r.status_code < 500, r.text
        assert re.search(message, error_of(r)), (message, error_of(r))
    assert http.get("/collections/demo").json()["count"] == 400


# -- readers keep answering while a writer writes ---------------------------------------------------
def test_searches_do_not_wait_for_a_slow_writer(http: TestClient, data: np.ndarray, monkeypatch) -> None:
    original = Collection.add
    started = threading.Event()

    def slow_add(self, *args, **kwargs):
        started.set()
        time.sleep(1.5)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Collection, "add", slow_add)
    result: dict = {}

    def write() -> None:
        result["r"] = http.post(
            "/collections/demo/add", json={"vectors": data[:3].tolist(), "ids": ["a", "b", "c"]}, headers=AUTH
        )

    writer = threading.Thread(target=write)
    writer.start()
    assert started.wait(10)
    latencies = []
    for i in range(10):  # bounded: 10 searches while the write is held up
        t = time.perf_counter()
        r = search(http, {"queries": data[i : i + 1].tolist(), "k": 3})
        latencies.append(time.perf_counter() - t)
        assert r.status_code == 200 and r.json()["ids"][0][0] == i
    assert writer.is_alive(), "the write should still be running"
    assert max(latencies) < 1.0, latencies
    assert http.get("/collections/demo").json()["count"] == 400  # not visible before it commits
    writer.join(30)
    assert result["r"].status_code == 200
    assert http.get("/collections/demo").json()["count"] == 403  # visible once acknowledged


def test_concurrent_writers_are_serialised(http: TestClient, data: np.ndarray) -> None:
    errors: list = []

    def write(j: int) -> None:
        ids = [f"w{j}-{i}" for i in range(5)]
        r = http.post("/collections/demo/add", json={"vectors": data[:5].tolist(), "ids": ids}, headers=AUTH)
        if r.status_code != 200:
            errors.append(r.text)

    threads = [threading.Thread(target=write, args=(j,)) for j in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert http.get("/collections/demo").json()["count"] == 430


def test_another_process_writing_is_a_409(http: TestClient, served: Path, data: np.ndarray) -> None:
    import subprocess
    import sys

    code = (
        "import sys, numpy as np, time\n"
        "from lowdim.store import Collection\n"
        "c = Collection.open(sys.argv[1]); c.delete(['nothing']); c.add(np.ones((1, 16), np.float32), ids=['ext'])\n"
        "print('locked', flush=True); time.sleep(30)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(served / "demo")], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        # the server picks up what the other process committed when it polls (refresh_interval)
        assert http.post("/collections/demo/get", json={"ids": ["ext"]}).status_code == 404
        assert http.app.state.registry.refresh_stale() == 1
        assert http.post("/collections/demo/get", json={"ids": ["ext"]}).status_code == 200
        assert http.get("/collections/demo").json()["count"] == 401
        # and it cannot write while the other process holds the writer lock
        r = http.post("/collections/demo/add", json={"vectors": data[:1].tolist()}, headers=AUTH)
        assert r.status_code == 409 and "being written by another process" in error_of(r)
    finally:
        proc.kill()
        proc.wait(10)


# -- untrained collections ---------------------------------------------------------------------
# the server drops its own copy of the warning (the response carries exact_reason); pytest resets that filter
@pytest.mark.filterwarnings(r"ignore::lowdim.exceptions.UntrainedWarning:lowdim\.server\._app")
def test_an_untrained_collection_says_its_searches_are_exact(h, tmp_path: Path) -> None:
    X = h.small_data(50, 16)
    h.make_untrained(tmp_path / "raw" / "fresh", X)
    with TestClient(create_app(tmp_path / "raw", refresh_interval=0)) as http:
        info = http.get("/collections/fresh").json()
        with Collection.open(tmp_path / "raw" / "fresh", readonly=True) as col:
            local_info = col.info()
            with pytest.warns(UntrainedWarning):
                local = col.search(X[:2], 3)
        assert info["trained"] is False and info["search_mode"] == "exact"
        assert info["untrained_reason"] == local_info["untrained_reason"] and "trains at 256" in info["untrained_reason"]
        out = search(http, {"queries": X[:2].tolist(), "k": 3}, name="fresh").json()
        assert out == local.to_dict() and out["exact_reason"] == local.exact_reason is not None
        assert [c["search_mode"] for c in http.get("/collections").json()["collections"]] == ["exact"]


def test_a_trained_collection_searches_its_codes(http: TestClient, data: np.ndarray) -> None:
    info = http.get("/collections/demo").json()
    assert info["trained"] is True and info["search_mode"] == "codes" and info["untrained_reason"] is None
    assert info["codec_source"] == "auto" and info["codec_rows"] == 200
    assert search(http, {"queries": data[:1].tolist()}).json()["exact_reason"] is None


# -- metrics and schema ------------------------------------------------------------------------
def test_metrics_are_prometheus_text(http: TestClient, data: np.ndarray) -> None:
    for i in range(3):
        search(http, {"queries": data[i : i + 1].tolist()})
    search(http, {"queries": [[1.0]]})
    http.get("/collections/..%2Fetc")
    r = http.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = r.text
    assert 'lowdim_http_requests_total{method="POST",endpoint="/collections/{name}/search",status="200"} 3' in text
    assert 'lowdim_http_requests_total{method="POST",endpoint="/collections/{name}/search",status="422"} 1' in text
    assert 'lowdim_http_request_duration_seconds_bucket{method="POST",endpoint="/collections/{name}/search",le="+Inf"} 4' in text
    assert 'lowdim_http_request_duration_seconds_count{method="POST",endpoint="/collections/{name}/search"} 4' in text
    assert 'lowdim_collection_vectors{collection="demo"} 400' in text
    assert "..%2Fetc" not in text and "../etc" not in text  # raw paths never become labels
    for line in text.splitlines():  # every sample line is `name{labels} value`
        if line and not line.startswith("#"):
            name_labels, value = line.rsplit(" ", 1)
            float(value)


def test_openapi_describes_this_server(http: TestClient) -> None:
    schema = http.get("/openapi.json").json()
    comps = schema["components"]["schemas"]
    assert "exact_reason" in comps["SearchResponse"]["properties"]
    assert {"trained", "search_mode", "untrained_reason"} <= set(comps["InfoResponse"]["required"])
    values = comps["FilterValue"]["anyOf"]  # 64-bit integers, any finite non-integral number: the store's rule
    assert {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1} in values
    search_op = schema["paths"]["/collections/{name}/search"]["post"]
    assert search_op["parameters"][0]["schema"]["enum"] == ["demo"]
    body = schema["components"]["schemas"]["SearchRequest"]
    assert body["properties"]["queries"]["items"]["minItems"] == 16 == body["properties"]["queries"]["items"]["maxItems"]
    assert body["properties"]["k"]["maximum"] == 1000
    assert "ef" not in body["properties"] and "text" not in body["properties"]  # flat index, no encoder
    assert "Filter" in schema["components"]["schemas"]
    add_op = schema["paths"]["/collections/{name}/add"]["post"]
    assert add_op["security"] == [{"HTTPBearer": []}]
    assert http.get("/docs").status_code == 200


# -- serving several folders --------------------------------------------------------------------
def test_discovery_of_collection_folders(h, tmp_path: Path) -> None:
    from lowdim.server._registry import discover

    h.make_collection(tmp_path / "a" / "one", h.small_data(30, 8))
    h.make_collection(tmp_path / "a" / "two", h.small_data(30, 8, seed=1))
    (tmp_path / "a" / ".two.creating-123").mkdir()  # a collection being created is skipped
    (tmp_path / "a" / "notes").mkdir()
    h.make_collection(tmp_path / "three", h.small_data(30, 4))
    found = discover([tmp_path / "a", tmp_path / "three"])
    assert sorted(found) == ["one", "three", "two"]
    with pytest.raises(ConflictError, match=r"two served collections are named 'one'"):
        h.make_collection(tmp_path / "b" / "one", h.small_data(30, 8))
        discover([tmp_path / "a", tmp_path / "b"])
    with pytest.raises(NotFoundError, match=r"does not exist"):
        discover([tmp_path / "missing"])
    with pytest.raises(NotFoundError, match=r"no lowdim collection in"):
        discover([tmp_path / "a" / "notes"])
    with pytest.raises(ParameterError, match=r"nothing to serve"):
        discover([])
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileFormatError, match=r"is a file"):
        discover([tmp_path / "file"])
    h.make_collection(tmp_path / "c" / "bad name", h.small_data(30, 8))
    with pytest.raises(ParameterError, match=r"rename the folder. Got 'bad name'"):
        discover([tmp_path / "c"])


def test_several_collections_of_different_dims(h, tmp_path: Path) -> None:
    h.make_collection(tmp_path / "a" / "one", h.small_data(30, 8))
    h.make_collection(tmp_path / "three", h.small_data(30, 4))
    with TestClient(create_app([tmp_path / "a", tmp_path / "three"], refresh_interval=0)) as http:
        assert [c["name"] for c in http.get("/collections").json()["collections"]] == ["one", "three"]
        assert search(http, {"queries": [[0.1] * 4], "k": 1}, name="three").status_code == 200
        assert search(http, {"queries": [[0.1] * 4], "k": 1}, name="one").status_code == 422


def test_create_app_checks_its_arguments(served: Path) -> None:
    with pytest.raises(ParameterError, match=r"'max_k' parameter of create_app must be an integer >= 1. Got 0"):
        create_app(served, max_k=0)
    with pytest.raises(ParameterError, match=r"'api_key' parameter of create_app must be a non-empty string"):
        create_app(served, api_key="")
    with pytest.raises(ParameterError, match=r"'readers' parameter"):
        create_app(served, readers=0)


def test_readers_pool_and_host_check(served: Path, data: np.ndarray) -> None:
    app = create_app(served, readers=2, refresh_interval=0, allowed_hosts=["testserver"])
    with TestClient(app) as http:
        assert search(http, {"queries": data[:1].tolist(), "k": 1}).json()["ids"] == [[0]]
        r = http.get("/health", headers={"host": "evil.example:8000"})
        assert r.status_code == 400 and "answers only to the host names testserver" in error_of(r)


def test_shutdown_closes_collections_and_restart_reopens(served: Path, data: np.ndarray) -> None:
    app = create_app(served, allow_unauthenticated_writes=True, refresh_interval=0)
    with TestClient(app) as http:
        assert http.post("/collections/demo/add", json={"vectors": data[:1].tolist()}).status_code == 200
    # closed: the writer lock is free for another process
    with Collection.open(served / "demo") as col:
        col.add(data[:1], ids=["after"])
    with TestClient(app) as http:  # started again: reopened, and sees the other writer's add
        assert http.get("/collections/demo").json()["count"] == 402
