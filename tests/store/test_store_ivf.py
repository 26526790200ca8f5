"""index="ivf": lists built from the codes, persisted, probed per call, kept up as rows come and go."""

from __future__ import annotations

import numpy as np
import pytest

from lowdim import FileFormatError, ParameterError
from lowdim.eval import exact_knn, recall_at_k
from lowdim.store import Collection, check_collection


@pytest.fixture
def ivf_col(tmp_path, make_vectors):
    X = make_vectors(6000, 32, seed=5, rank=8)
    col = Collection.create(tmp_path / "v", dim=32, spec="ivf32/int8+rerank4", train_size=1500)
    col.graph_min_tail = 1500
    col.add(X[:4000], metadata=[{"g": i % 3} for i in range(4000)])
    yield col, X
    col.close()


def test_spec_prefix_sets_the_index_and_lists_are_built(ivf_col, as_ids):
    col, X = ivf_col
    s, info = col.settings, col.info()
    assert (s.index, s.nlist, s.spec) == ("ivf", 32, "int8+rerank4")
    assert info["graph_nodes"] == 4000 and info["search_mode"] == "graph"
    Q = X[4000:4060]
    _, gt = exact_knn(X[:4000], Q, 10, metric="cosine")
    one = recall_at_k(as_ids(col.search(Q, 10, nprobe=1)), gt, 10)
    some = recall_at_k(as_ids(col.search(Q, 10, nprobe=8)), gt, 10)
    every = recall_at_k(as_ids(col.search(Q, 10, nprobe=32)), gt, 10)
    assert one < some <= every and every >= 0.97  # more lists probed, more found; all lists: the flat result
    with pytest.raises(ParameterError, match=r"The 'nprobe' parameter of search must be at most nlist=32. Got 33."):
        col.search(Q, 10, nprobe=33)
    with pytest.raises(ParameterError, match=r"The 'nprobe' parameter of search must be an integer >= 1. Got 0."):
        col.search(Q, 10, nprobe=0)
    with pytest.raises(ParameterError, match="'ef' parameter applies to collections with index='hnsw'"):
        col.search(Q, 10, ef=16)


def test_tail_is_scanned_then_folded_and_the_lists_persist(ivf_col, as_ids):
    col, X = ivf_col
    col.add(X[4000:4500], metadata=[{"g": 9}] * 500)  # below graph_min_tail: scanned from the codes
    assert col.info()["graph_nodes"] == 4000
    assert as_ids(col.search(X[4000:4010], 1, nprobe=1))[:, 0].tolist() == list(range(4000, 4010))
    col.build_index()
    assert col.info()["graph_nodes"] == 4500
    assert col._state.index is None  # the lists hold the codes: no second copy in RAM (the tail's are cached apart)
    before = as_ids(col.search(X[4500:4540], 10, nprobe=4))
    path = col.path
    files = sorted(p.name for p in (path / "graph").iterdir())
    col.close()
    with Collection.open(path) as again:
        assert sorted(p.name for p in (path / "graph").iterdir()) == files  # nothing rebuilt on open
        np.testing.assert_array_equal(as_ids(again.search(X[4500:4540], 10, nprobe=4)), before)
        got = as_ids(again.search(X[:5], 10, filter={"g": 9}))  # 500 matches, 11% of the rows: through the lists
        assert ((got >= 4000) & (got < 4500)).all()
        assert again._state.index is None


def _centroids(path) -> np.ndarray:
    (coarse,) = (path / "graph").glob("*.coarse.npz")
    with np.load(coarse) as f:
        return f["centroids"]


def test_growth_retrains_the_partition(ivf_col):
    col, X = ivf_col
    first = _centroids(col.path)
    col.add(np.vstack([X[4000:], X[:2000] + 0.01]))  # 8,000 rows: twice what the partition was trained on
    col.build_index()
    assert col.info()["graph_nodes"] == 8000
    assert not np.array_equal(_centroids(col.path), first)


def test_drift_into_one_list_retrains_the_partition(ivf_col):
    col, X = ivf_col
    first = _centroids(col.path)
    rng = np.random.default_rng(0)
    crowd = X[0] + 0.01 * rng.standard_normal((1500, 32)).astype(np.float32)  # 1.4x the rows, all in one list
    col.add(crowd)
    assert col.info()["graph_nodes"] == 5500
    second = _centroids(col.path)
    assert not np.array_equal(second, first)  # retrained, not just extended
    col.add(X[4000:4100])
    col.build_index()  # the retrained lists are the new baseline: the small add extends them, retrains nothing
    assert col.info()["graph_nodes"] == 5600
    np.testing.assert_array_equal(_centroids(col.path), second)


def test_deletes_filters_and_compaction(ivf_col, as_ids):
    col, X = ivf_col
    col.delete(list(range(0, 4000, 2)))
    res = as_ids(col.search(X[:100], 10, nprobe=8))
    assert (res >= 0).all() and (res % 2 == 1).all()
    got = as_ids(col.search(X[:50], 10, filter={"g": 1}, nprobe=32))
    assert (got >= 0).all() and ((got % 3) == 1).all() and (got % 2 == 1).all()
    rows = np.array([i for i in range(1, 4000, 2) if i % 3 == 1])
    _, g = exact_knn(X[rows], X[:50], 10, metric="cosine")
    assert recall_at_k(got, rows[g], 10) >= 0.95
    col.compact()  # half the entries are dead: the lists are rebuilt from the live rows
    assert col.info()["graph_nodes"] == 2000 and col.info()["deleted"] == 0
    res = as_ids(col.search(X[:100], 10))
    assert (res >= 0).all() and (res % 2 == 1).all()


def test_selective_filter_returns_k(ivf_col, as_ids):
    col, X = ivf_col
    col.subset_share = {"flat": 0.125, "hnsw": 0.05, "ivf": 0.0}  # force the lists even for a tiny match set
    col.upsert(X[4000:4012], ids=list(range(4000, 4012)), metadata=[{"g": 7}] * 12)
    col.build_index()
    got = as_ids(col.search(X[:5], 10, filter={"g": 7}, nprobe=1))
    assert (got >= 4000).all()  # the 12 matches are spread over lists nprobe=1 misses: k still come back


def test_damaged_lists_are_reported_and_rebuilt(ivf_col, as_ids):
    col, X = ivf_col
    path = col.path
    col.close()
    lists = next(p for p in (path / "graph").iterdir() if p.name.endswith(".lists.npz"))
    lists.write_bytes(lists.read_bytes()[: lists.stat().st_size // 2])
    with pytest.raises(FileFormatError, match="is truncated"):
        Collection.open(path)
    report = check_collection(path, repair=True)
    assert "rebuilt the IVF lists" in report.repaired
    with Collection.open(path) as again:
        assert again.info()["graph_nodes"] == 4000
        assert as_ids(again.search(X[:3], 1, nprobe=32))[:, 0].tolist() == [0, 1, 2]


def test_small_collection_scans_until_nlist_can_be_trained(tmp_path, make_vectors, as_ids):
    X = make_vectors(600, 16, seed=3)
    col = Collection.create(tmp_path / "s", dim=16, spec="int8", index="ivf", nlist=64, train_size=300)
    col.graph_min_tail = 100
    col.add(X)  # 600 rows < 39 x 64: no lists yet, the codes are scanned
    assert col.info()["graph_nodes"] == 0
    assert as_ids(col.search(X[:3], 1))[:, 0].tolist() == [0, 1, 2]
    with pytest.raises(ParameterError, match=r"nlist 64 needs at least 2,496 rows to train \(39 per list\)"):
        col.build_index()
    col.close()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"spec": "ivf16/int8", "index": "hnsw"}, "asks for an ivf index, but index='hnsw'"),
        ({"spec": "ivf16/int8", "nlist": 8}, "asks for nlist 16, but nlist=8"),
        ({"spec": "int8", "nlist": 8}, "'nlist' parameter applies to index='ivf'"),
        ({"spec": "int8", "index": "ivf", "nlist": 8, "nprobe": 9}, "'nprobe' parameter of Collection must be at most nlist=8"),
        ({"spec": "int8", "index": "ivf", "nlist": 0}, "'nlist' parameter of Collection must be an integer >= 1"),
        ({"spec": "ivf0/int8"}, "needs nlist >= 1"),
    ],
)
def test_bad_ivf_settings(tmp_path, kwargs, match):
    with pytest.raises((ParameterError, ValueError), match=match):
        Collection.create(tmp_path / "bad", dim=16, **kwargs)


def test_cli_and_http_take_nprobe(tmp_path, make_vectors, as_ids):
    import json

    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from lowdim.cli import app
    from lowdim.server import Client, create_app

    X = make_vectors(3000, 16, seed=8)
    np.save(tmp_path / "v.npy", X)
    np.save(tmp_path / "q.npy", X[:4])
    idx = str(tmp_path / "idx")
    run = CliRunner()
    out = run.invoke(app, ["create", idx, "--dim", "16", "--spec", "ivf16/int8+rerank4", "--nprobe", "4"])
    assert out.exit_code == 0 and "index ivf" in out.output, out.output
    assert run.invoke(app, ["add", idx, str(tmp_path / "v.npy")]).exit_code == 0
    with Collection.open(idx) as col:
        col.build_index()
        info = col.info()
        assert (info["nlist"], info["nprobe"], info["graph_nodes"]) == (16, 4, 3000)
    res = run.invoke(
        app,
        ["search", idx, "--queries", str(tmp_path / "q.npy"), "--k", "1", "--nprobe", "2", "--json", str(tmp_path / "r.json")],
    )
    assert res.exit_code == 0, res.output
    assert [r[0] for r in json.loads((tmp_path / "r.json").read_text())["ids"]] == [0, 1, 2, 3]
    bad = run.invoke(app, ["search", idx, "--queries", str(tmp_path / "q.npy"), "--nprobe", "17"])
    assert bad.exit_code != 0 and "at most nlist=16" in str(bad.exception)  # main() prints it as one line
    with TestClient(create_app(idx, refresh_interval=0)) as http:
        ok = http.post("/collections/idx/search", json={"queries": X[:2].tolist(), "k": 1, "nprobe": 3})
        assert ok.status_code == 200 and [r[0] for r in ok.json()["ids"]] == [0, 1]
        assert "nprobe" in http.get("/openapi.json").json()["components"]["schemas"]["SearchRequest"]["properties"]
        too_many = http.post("/collections/idx/search", json={"queries": X[:1].tolist(), "nprobe": 99})
        assert too_many.status_code == 422 and "at most nlist=16" in too_many.json()["error"]
        remote = Client(http=http).collection("idx")
        assert as_ids(remote.search(X[:3], 1, nprobe=16))[:, 0].tolist() == [0, 1, 2]


def test_background_retrain_is_swapped_in_atomically(ivf_col, as_ids):
    col, X = ivf_col
    col.background_from = 0  # every drift retrains in the background (the default starts at 500,000 rows)
    first = _centroids(col.path)
    col.add(np.vstack([X[4000:], X[:2000] + 0.01]))  # 8,000 rows: twice the 4,000 the partition was trained on
    info = col.info()
    # the add returned at once: the old lists took the new rows, a thread trains the next partition
    assert info["retraining"] and info["partition_rows"] == 4000 and info["graph_nodes"] == 8000
    np.testing.assert_array_equal(_centroids(col.path), first)
    assert as_ids(col.search(X[4000:4010], 1, nprobe=32))[:, 0].tolist() == list(range(4000, 4010))
    col.delete([4000, 4001])  # changes while it trains are carried over
    col.add(X[:50] + 0.02, ids=list(range(9000, 9050)))
    col.build_index()  # waits for the thread and swaps the new lists in
    info = col.info()
    assert not info["retraining"] and info["partition_rows"] == 8000 and info["graph_nodes"] == 8050
    second = _centroids(col.path)
    assert not np.array_equal(second, first)
    got = as_ids(col.search(np.vstack([X[4000:4003], X[:3] + 0.02]), 1, nprobe=32))[:, 0].tolist()
    assert got[0] not in (4000, 4001) and got[1] not in (4000, 4001) and got[2] == 4002 and got[3:] == [9000, 9001, 9002]
    path = col.path
    col.close()
    with Collection.open(path) as again:
        np.testing.assert_array_equal(_centroids(path), second)
        assert again.info()["graph_nodes"] == 8050 and again.info()["partition_rows"] == 8000


def test_closing_during_a_background_retrain_keeps_the_old_lists(ivf_col, as_ids):
    col, X = ivf_col
    col.background_from = 0
    first = _centroids(col.path)
    col.add(np.vstack([X[4000:], X[:2000] + 0.01]))
    assert col.info()["retraining"]
    path = col.path
    col.close()  # the thread is stopped; it had written nothing
    with Collection.open(path) as again:
        np.testing.assert_array_equal(_centroids(path), first)
        info = again.info()
        assert info["graph_nodes"] == 8000 and info["partition_rows"] == 4000 and not info["retraining"]
        assert (
            sorted(p.name.split(".")[0] for p in (path / "graph").iterdir())
            == sorted({p.name.split(".")[0] for p in (path / "graph").iterdir()}) * 2
        )  # one index: a coarse file and a lists file, nothing left over
        assert as_ids(again.search(X[4000:4005], 1, nprobe=32))[:, 0].tolist() == list(range(4000, 4005))
