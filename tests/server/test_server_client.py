"""``lowdim.server.Client``: a served collection behaves like a local one (results, types, errors)."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from lowdim.exceptions import (
    ConflictError,
    DimensionError,
    LowdimError,
    NotFoundError,
    ParameterError,
    UntrainedWarning,
    ValidationError,
)
from lowdim.server import Client, RemoteCollection, ServerError, create_app
from lowdim.store import Collection, CollectionResult, Records

API_KEY = "test-key-0123456789"  # the same as conftest's


@pytest.fixture
def twins(tmp_path: Path, served: Path):
    """(local Collection, RemoteCollection) over two identical copies of ``demo``."""
    local_path = tmp_path / "local" / "demo"
    local_path.parent.mkdir()
    shutil.copytree(served / "demo", local_path)
    app = create_app(served, api_key=API_KEY, refresh_interval=0)
    with TestClient(app) as http, Collection.open(local_path) as local:
        yield local, Client(http=http, api_key=API_KEY).collection("demo")


def workflow(coll, X: np.ndarray) -> dict:
    """The same code against a local or a remote collection."""
    out = {}
    out["added"] = coll.add(X[:3] * -1, ids=["m0", "m1", "m2"], metadata=[{"pos": "x", "i": -j} for j in range(3)])
    out["len1"] = len(coll)
    out["upserted"] = coll.upsert(X[3:4] * -1, ids=["m1"], metadata=[{"pos": "y"}])
    out["deleted"] = coll.delete(["m2", "not-there"])
    out["len2"] = len(coll)
    res = coll.search(X[:6] * -1, k=4, filter={"pos": {"$in": ["x", "y"]}}, with_metadata=True)
    out["search"] = (res.ids.tolist(), res.scores.tolist(), res.metadata)
    res = coll.search(X[:2], k=5, rerank=0)
    out["search_codes"] = (res.ids.tolist(), res.scores.tolist())
    rec = coll.get(["m1", 5])
    out["get"] = (rec.ids, rec.vectors.tolist(), rec.metadata)
    out["auto_ids"] = coll.add(X[:2])
    info = coll.info()
    out["info"] = {k: info[k] for k in ("dim", "metric", "spec", "count", "deleted", "trained")}
    return out


def test_one_line_moves_code_between_local_and_remote(twins, data: np.ndarray) -> None:
    local, remote = twins
    assert workflow(remote, data) == workflow(local, data)


def test_search_returns_the_same_result_type(twins, data: np.ndarray) -> None:
    local, remote = twins
    for kwargs in ({}, {"filter": {"i": {"$lt": 3}}}, {"k": 12, "filter": {"even": False}, "rerank": 2}):
        a, b = local.search(data[:4], **kwargs), remote.search(data[:4], **kwargs)
        assert isinstance(b, CollectionResult)
        assert b.ids.dtype == object and b.scores.dtype == np.float32 and b.shape == a.shape
        assert b.ids.tolist() == a.ids.tolist()
        np.testing.assert_array_equal(b.scores, a.scores)  # padding (-inf) included
        scores, ids = b  # unpacks like the local result
        assert ids is b.ids


def test_remote_errors_are_the_local_classes(twins, data: np.ndarray) -> None:
    local, remote = twins
    for coll in (local, remote):
        with pytest.raises(DimensionError, match=r"queries has 15 features, but this collection expects 16"):
            coll.search(data[:1, :15])
        with pytest.raises(ValidationError, match=r"contains NaN or infinity in 1 row\(s\): 0"):
            coll.add(np.full((1, 16), np.nan, np.float32))
        with pytest.raises(ConflictError, match=r"already in this collection \(3\); use upsert\(\) to replace them"):
            coll.add(data[:1], ids=[3])
        with pytest.raises(NotFoundError, match=r"1 of the 2 ids are not in this collection: 'zzz'"):
            coll.get([1, "zzz"])
        with pytest.raises(ParameterError, match=r"unknown filter operator '\$near'"):
            coll.search(data[:1], filter={"i": {"$near": 3}})
    with pytest.raises(ParameterError, match=r"'k' parameter of search must be <= 1000 on this server"):
        remote.search(data[:1], k=5000)


def test_unknown_collection_and_auth_errors(served: Path, data: np.ndarray, monkeypatch) -> None:
    monkeypatch.delenv("LOWDIM_API_KEY", raising=False)
    with TestClient(create_app(served, api_key=API_KEY, refresh_interval=0)) as http:
        with pytest.raises(NotFoundError, match=r"no collection named 'nope' on this server; served: demo"):
            Client(http=http).collection("nope")
        anonymous = Client(http=http).collection("demo")
        assert len(anonymous) == 400  # reads need no key
        with pytest.raises(ServerError, match=r"needs the server's API key") as err:
            anonymous.add(data[:1])
        assert err.value.status == 401
        with pytest.raises(ServerError, match=r"wrong API key"):
            Client(http=http, api_key="nope").collection("demo").delete([1])
        monkeypatch.setenv("LOWDIM_API_KEY", API_KEY)  # the key can come from the environment
        assert Client(http=http).collection("demo").delete([1]) == 1
        assert Client(http=http).collections() == ["demo"]


def test_search_is_split_at_max_batch_and_add_at_batch_size(served: Path, data: np.ndarray) -> None:
    app = create_app(served, api_key=API_KEY, max_batch=10, refresh_interval=0)
    with TestClient(app) as http, Collection.open(served / "demo", readonly=True) as local:
        expected = local.search(data[:25], k=3)
        coll = Client(http=http, api_key=API_KEY).collection("demo")
        res = coll.search(data[:25], k=3)
        assert res.ids.tolist() == expected.ids.tolist()
        with pytest.raises(ParameterError, match=r"25 vectors in one request; this server takes at most 10"):
            coll.add(data[:25] + 1)
        assert len(coll) == 400  # refused whole
        ids = coll.add(data[:25] + 1, ids=[f"b{i}" for i in range(25)], batch_size=10)
        assert ids == [f"b{i}" for i in range(25)] and len(coll) == 425
        metrics = http.get("/metrics").text
        assert 'endpoint="/collections/{name}/add",status="200"} 3' in metrics


def test_oversize_body_is_a_server_error(served: Path, data: np.ndarray) -> None:
    app = create_app(served, api_key=API_KEY, max_body_bytes=2_000, refresh_interval=0)
    with TestClient(app) as http:
        coll = Client(http=http, api_key=API_KEY).collection("demo")
        with pytest.raises(ServerError, match=r"larger than this server accepts \(2,000 bytes") as err:
            coll.add(data[:50])
        assert err.value.status == 413


def test_unreachable_server_is_one_line(h) -> None:
    port = h.free_port()  # nothing listens there
    with pytest.raises(ServerError, match=rf"cannot reach the lowdim server at http://127.0.0.1:{port}"):
        Client(f"http://127.0.0.1:{port}", timeout=2.0).collections()


def test_remote_collection_describes_itself(twins) -> None:
    local, remote = twins
    assert isinstance(remote, RemoteCollection)
    assert (remote.dim, remote.metric, remote.spec, remote.model) == (local.dim, local.metric, local.spec, local.model)
    assert remote.refresh() is remote
    with remote as same:
        assert same is remote
    assert "RemoteCollection('http://testserver', 'demo', dim=16" in repr(remote)
    rec = remote.get(np.array([2, 3]))
    assert isinstance(rec, Records) and rec.ids == [2, 3] and rec.vectors.dtype == np.float32


def text_workflow(coll) -> dict:
    """The same text code against a local or a remote text collection."""
    out = {}
    out["added"] = coll.add_texts(["a loud trumpet", "a quiet flute"], ids=["trumpet", "flute"], metadata=[{"pos": "n"}, None])
    out["upserted"] = coll.upsert_texts(("a violin played softly", "a red apple"), ["flute", "apple"], [{"pos": "n"}, None])
    res = coll.search_text(["a violin", "a fruit"], k=3, with_metadata=True)
    out["search"] = (res.ids.tolist(), res.scores.tolist(), res.metadata, res.exact_reason)
    res = coll.search_text("moving quickly", 2, filter={"pos": "v"}, rerank=2)
    out["search_filtered"] = (res.ids.tolist(), res.scores.tolist())
    out["len"] = len(coll)
    for bad in (lambda: coll.add_texts("one text"), lambda: coll.search_text([]), lambda: coll.upsert_texts(["a"], None)):
        with pytest.raises(LowdimError) as err:
            bad()
        out.setdefault("errors", []).append((type(err.value).__name__, str(err.value)))
    return out


def test_text_methods_mirror_a_local_text_collection(copy_text, tmp_path: Path) -> None:
    local_path = copy_text(tmp_path / "local")
    served = copy_text(tmp_path / "served").parent
    with TestClient(create_app(served, api_key=API_KEY, refresh_interval=0)) as http, Collection.open(local_path) as local:
        remote = Client(http=http, api_key=API_KEY).collection("words")
        assert remote.settings == local.settings and remote.is_trained is local.is_trained is True
        assert text_workflow(remote) == text_workflow(local)


def test_untrained_results_and_warning_mirror_a_local_collection(h, tmp_path: Path) -> None:
    X = h.small_data(50, 16)
    h.make_untrained(tmp_path / "raw" / "fresh", X)
    with TestClient(create_app(tmp_path / "raw", refresh_interval=0)) as http:
        remote = Client(http=http).collection("fresh")
        with Collection.open(tmp_path / "raw" / "fresh", readonly=True) as local:
            for coll in (local, remote):
                assert coll.is_trained is False
                with pytest.warns(UntrainedWarning, match=r"holds 50 vectors; spec int8\+rerank4 trains at 256") as told:
                    first = coll.search(X[:2], 3)
                # one warning, pointed at the caller as locally (the in-process server's own is recorded too, elsewhere)
                assert len([w for w in told if w.filename == __file__]) == 1
                with warnings.catch_warnings():
                    warnings.simplefilter("error")  # told once per object
                    coll.search(X[:1], 3)
            assert first.exact_reason == local.search(X[:2], 3).exact_reason is not None
            assert remote.search(X[:2], 3).to_dict() == local.search(X[:2], 3).to_dict()
