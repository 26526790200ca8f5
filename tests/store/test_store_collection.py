"""Collection: create / open / add / get / delete / upsert / search, shapes, persistence and pinned errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lowdim import (
    ConflictError,
    DimensionError,
    FileFormatError,
    NotFoundError,
    ParameterError,
    UntrainedWarning,
    ValidationError,
)
from lowdim.eval import exact_knn, recall_at_k
from lowdim.store import Collection, CollectionResult


def test_create_open_round_trip(tmp_path, data, as_ids):
    X, Q = data
    path = tmp_path / "c"
    with Collection.create(path, dim=32, spec="int8+rerank4", model="m", train_size=500) as col:
        assert len(col) == 0 and not col.is_trained
        assert col.add(X[:1000]) == list(range(1000))
        assert col.is_trained and len(col) == 1000
        before = col.search(Q, 5)
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["format"] == "lowdim.Collection" and manifest["format_version"] == 1
    assert manifest["settings"] == {
        "dim": 32,
        "metric": "cosine",
        "spec": "int8+rerank4",
        "model": "m",
        "index": "flat",
        "train_size": 500,
        "vector_dtype": "float32",
        "random_state": 0,
        "hnsw_m": 32,
        "ef_construction": 40,
        "ef_search": 64,
        "nlist": None,
        "nprobe": None,
        "encoder": None,
    }
    assert manifest["counts"]["live"] == 1000
    assert all({"name", "size", "crc32"} <= set(f) for f in manifest["files"])
    with Collection.open(path) as col:
        after = col.search(Q, 5)
        assert len(col) == 1000 and col.model == "m" and col.spec == "int8+rerank4"
    np.testing.assert_array_equal(as_ids(before), as_ids(after))
    np.testing.assert_array_equal(before.scores, after.scores)


@pytest.mark.filterwarnings("ignore::lowdim.UntrainedWarning")  # a few vectors: exact on purpose
def test_search_result_has_fixed_shape_and_padding(tmp_path, make_vectors):
    X = make_vectors(5, 8)
    col = Collection.create(tmp_path / "c", dim=8, train_size=100)
    col.add(X, ids=["a", "b", "c", "d", "e"])
    res = col.search(X[:2], k=8)
    assert isinstance(res, CollectionResult)
    assert res.ids.shape == (2, 8) and res.scores.shape == (2, 8) and res.ids.dtype == object
    assert res.ids[0, 0] == "a" and res.ids[1, 0] == "b"
    assert list(res.ids[0, 5:]) == [None, None, None] and np.isneginf(res.scores[0, 5:]).all()
    ids, scores = res.to_lists()
    assert ids[0][5:] == [None] * 3 and scores[0][5:] == [None] * 3
    d = json.loads(res.to_json())
    assert np.array(d["ids"], dtype=object).shape == (2, 8)
    one = col.search(X[0].reshape(1, -1), k=3)
    assert one.ids.shape == (1, 3)
    scores, ids = one  # unpacks like lowdim.search.SearchResult
    assert ids[0, 0] == "a"


def test_search_is_exact_before_training_and_buffered_adds_survive(tmp_path, data, as_ids):
    X, Q = data
    path = tmp_path / "c"
    # pq8x8 trains at min(train_size, 9,984): at 2,500 here
    col = Collection.create(path, dim=32, spec="pq8x8", train_size=2500)
    col.add(X[:1000])
    col.add(X[1000:2000])
    assert not col.is_trained
    _, gt = exact_knn(X[:2000], Q, 10, metric="cosine")
    with pytest.warns(UntrainedWarning, match="holds 2,000 vectors; spec pq8x8 trains at 2,500"):
        res = col.search(Q, 10)
    assert recall_at_k(as_ids(res), gt, 10) == 1.0  # exact scan of the stored vectors
    col.close()
    col = Collection.open(path)
    assert len(col) == 2000 and not col.is_trained
    col.add(X[2000:])  # crosses train_size: fitted on the first 2,500 and everything encoded
    assert col.is_trained and len(col) == 3000
    assert (col.info()["codec_source"], col.info()["codec_rows"]) == ("auto", 2500)
    np.testing.assert_array_equal(col.get([0, 2999]).vectors, X[[0, 2999]])
    col.close()


def test_explicit_train_encodes_everything(tmp_path, data, as_ids):
    X, Q = data
    col = Collection.create(tmp_path / "c", dim=32, spec="pca16/int8+rerank4", train_size=10**6)
    col.add(X)  # pca16/int8 trains at 256 vectors: fitted on all 3,000 added
    assert col.is_trained and (col.info()["codec_source"], col.info()["codec_rows"]) == ("auto", 3000)
    col.train()
    assert col.is_trained and col.codec.code_size == 16
    assert (col.info()["codec_source"], col.info()["codec_rows"]) == ("train", 3000)
    _, gt = exact_knn(X, Q, 10, metric="cosine")
    assert recall_at_k(as_ids(col.search(Q, 10)), gt, 10) >= 0.95
    col.train(X[:500])  # refit on a sample: codes rewritten, ids and vectors unchanged
    assert col.info()["codec_rows"] == 500
    assert len(col) == 3000 and recall_at_k(as_ids(col.search(Q, 10)), gt, 10) >= 0.95
    col.close()


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_recall_floor_per_metric(tmp_path, data, metric, as_ids):
    X, Q = data
    col = Collection.create(tmp_path / "c", dim=32, spec="int8+rerank4", metric=metric, train_size=1000)
    col.add(X)
    scores, gt = exact_knn(X, Q, 10, metric=metric)
    res = col.search(Q, 10)
    assert recall_at_k(as_ids(res), gt, 10) >= 0.98
    # reranked: exact scores (l2 is q.q - 2 q.x + x.x in float32, so absolute error ~1e-3 near 0)
    np.testing.assert_allclose(res.scores[:, 0], scores[:, 0], rtol=1e-4, atol=1e-3 if metric == "l2" else 1e-4)
    col.close()


def test_rerank_override_and_codes_only(tmp_path, data, as_ids):
    X, Q = data
    col = Collection.create(tmp_path / "c", dim=32, spec="binary+rerank10", train_size=1000)
    col.add(X)
    _, gt = exact_knn(X, Q, 10, metric="cosine")
    with_rerank = recall_at_k(as_ids(col.search(Q, 10)), gt, 10)
    codes_only = recall_at_k(as_ids(col.search(Q, 10, rerank=0)), gt, 10)
    assert with_rerank >= 0.9 and codes_only < with_rerank
    with pytest.raises(ParameterError, match=r"The 'rerank' parameter of search must be an integer >= 0. Got -1."):
        col.search(Q, 10, rerank=-1)
    col.close()


@pytest.mark.filterwarnings("ignore::lowdim.UntrainedWarning")  # a few vectors: exact on purpose
def test_ids_are_the_users(tmp_path, data):
    X, _ = data
    col = Collection.create(tmp_path / "c", dim=32, train_size=100)
    col.add(X[:3], ids=["x", "y", "z"])
    assert col.add(X[3:5]) == [0, 1]  # auto ids start at 0
    col.add(X[5:7], ids=[100, 7])
    assert col.add(X[7:8]) == [101]  # continue after the largest integer id
    assert col.ids() == ["x", "y", "z", 0, 1, 100, 7, 101]
    recs = col.get(["z", 100])
    np.testing.assert_array_equal(recs.vectors, X[[2, 5]])
    assert recs.ids == ["z", 100]
    assert col.search(X[2:3], 1).ids[0, 0] == "z"
    col.close()


def test_int_and_str_ids_are_distinct(tmp_path, make_vectors):
    X = make_vectors(2, 8)
    col = Collection.create(tmp_path / "c", dim=8, train_size=100)
    col.add(X, ids=[1, "1"])
    np.testing.assert_array_equal(col.get("1").vectors, X[1:2])
    np.testing.assert_array_equal(col.get(1).vectors, X[:1])
    col.close()


def test_delete_upsert_get(filled, data):
    X, Q = data
    assert filled.delete([0, 1, "nope"]) == 2
    assert filled.delete(0) == 0 and len(filled) == 2998
    with pytest.raises(NotFoundError, match=r"^2 of the 3 ids are not in this collection: 0, 1$"):
        filled.get([0, 1, 2])
    res = filled.search(X[:2], 3)
    assert 0 not in res.ids and 1 not in res.ids
    new = X[10:11] * -1
    filled.upsert(new, ids=[5], metadata=[{"kind": "new"}])
    rec = filled.get(5)
    np.testing.assert_array_equal(rec.vectors, new)
    assert rec.metadata == [{"kind": "new"}]
    assert filled.search(new, 1).ids[0, 0] == 5
    assert filled.search(X[5:6], 1).ids[0, 0] != 5  # the old vector of id 5 is gone
    assert len(filled) == 2998
    filled.upsert(X[:1], ids=[0])  # upsert of a deleted or new id inserts it
    assert len(filled) == 2999 and filled.search(X[:1], 1).ids[0, 0] == 0


def test_compact_drops_deleted_rows_and_keeps_results(filled, data, as_ids):
    X, Q = data
    filled.delete(list(range(0, 3000, 3)))
    before = filled.search(Q, 10)
    assert filled.info()["deleted"] == 1000
    assert filled.compact() == 1000
    info = filled.info()
    assert (info["deleted"], info["rows"], info["segments"], info["count"]) == (0, 2000, 1, 2000)
    after = filled.search(Q, 10)
    np.testing.assert_array_equal(as_ids(before), as_ids(after))
    path = filled.path
    filled.close()
    with Collection.open(path) as col:
        np.testing.assert_array_equal(as_ids(col.search(Q, 10)), as_ids(after))
        assert sorted(p.name for p in (path / "segments").iterdir()) == sorted(
            f["name"].split("/")[-1]
            for f in json.loads((path / "manifest.json").read_text())["files"]
            if f["name"].startswith("segments/")
        )


def test_many_small_adds_merge_segments(tmp_path, data, as_ids):
    X, Q = data
    col = Collection.create(tmp_path / "c", dim=32, train_size=200)
    for i in range(0, 1500, 50):
        col.add(X[i : i + 50])
    assert col.info()["segments"] <= col.max_segments
    np.testing.assert_array_equal(col.get(list(range(1500))).vectors, X[:1500])
    _, gt = exact_knn(X[:1500], Q, 10, metric="cosine")
    assert recall_at_k(as_ids(col.search(Q, 10)), gt, 10) >= 0.98
    col.close()


def test_float16_storage(tmp_path, data):
    X, Q = data
    col = Collection.create(tmp_path / "c", dim=32, vector_dtype="float16", train_size=1000)
    col.add(X)
    assert col.info()["disk_bytes"]["vectors"] < X.nbytes * 0.51
    np.testing.assert_allclose(col.get([3]).vectors, X[3:4], rtol=1e-3, atol=1e-3)
    with pytest.raises(ValidationError, match="beyond the float16 range"):
        col.add(np.full((1, 32), 1e6, np.float32))
    col.close()


def test_len_info_repr(filled):
    info = filled.info()
    assert info["count"] == len(filled) == 3000
    assert info["code_size"] == 32 and info["ram_bytes"]["codes"] == 3000 * 32
    assert info["disk_bytes"]["vectors"] > 3000 * 32 * 4
    assert "3,000 vectors" in repr(filled) and "int8+rerank4" in repr(filled)


# ---------------------------------------------------------------------------- guards and errors


def test_model_guard_names_both_models(filled, data):
    X, _ = data
    with pytest.raises(ValidationError, match=r"vectors from model 'other' do not fit this collection \(model test-model\)"):
        filled.add(X[:2], model="other")
    with pytest.raises(ValidationError, match="model 'other'"):
        filled.search(X[:2], 3, model="other")
    filled.add(X[:2], model="test-model")  # the right model is fine


def test_width_guard_names_both_widths(filled):
    with pytest.raises(DimensionError, match=r"^X has 48 features, but this collection \(model test-model\) expects 32$"):
        filled.add(np.zeros((2, 48), np.float32))
    with pytest.raises(DimensionError, match=r"^queries has 16 features, but this collection \(model test-model\) expects 32$"):
        filled.search(np.zeros((2, 16), np.float32), 3)
    with pytest.raises(DimensionError, match=r"reshape\(1, -1\)"):
        filled.search(np.zeros(32, np.float32), 3)


def test_bad_ids_and_metadata(filled, data):
    X, _ = data
    with pytest.raises(
        ConflictError, match=r"^2 of the 2 ids are already in this collection \(0, 1\); use upsert\(\) to replace them$"
    ):
        filled.add(X[:2], ids=[0, 1])
    with pytest.raises(ValidationError, match=r"^ids contain duplicates: 'a' appears 2 times$"):
        filled.add(X[:2], ids=["a", "a"])
    with pytest.raises(ValidationError, match=r"^1 ids were given for 2 vectors; expected one id per vector$"):
        filled.add(X[:2], ids=["a"])
    with pytest.raises(ValidationError, match=r"^ids\[0\] is a float \(1.5\); ids must be strings or integers$"):
        filled.add(X[:1], ids=[1.5])
    with pytest.raises(ValidationError, match=r"^ids\[0\] is True; ids must be strings or integers$"):
        filled.add(X[:1], ids=[True])
    with pytest.raises(ValidationError, match=r"^metadata has 1 entries, but 2 vectors were given"):
        filled.add(X[:2], ids=["p", "q"], metadata=[{}])
    with pytest.raises(ValidationError, match=r"^metadata\[0\] is not JSON-serialisable"):
        filled.add(X[:1], ids=["p"], metadata=[{"x": object()}])
    with pytest.raises(ValidationError, match=r"^metadata\[0\] is a str; expected a dict \(or None\)$"):
        filled.add(X[:1], ids=["p"], metadata=["x"])
    with pytest.raises(ValidationError, match=r"contains NaN or infinity in 1 row\(s\): 0"):
        filled.add(np.full((1, 32), np.nan, np.float32))
    with pytest.raises(
        ValidationError, match=r"^metadata\[0\]\['big'\] holds 36893488147419103232, which does not fit in 64 bits"
    ):
        filled.add(X[:1], ids=["p"], metadata=[{"big": 2**65}])
    with pytest.raises(ValidationError, match=r"^metadata\[0\]\['tags'\] holds -36893488147419103232"):
        filled.add(X[:1], ids=["p"], metadata=[{"tags": ["a", -(2**65)]}])
    with pytest.raises(ValidationError, match=r"^metadata\[0\] has a string that is not valid Unicode \(a lone surrogate\)"):
        filled.add(X[:1], ids=["p"], metadata=[{"name": "bad \udc80"}])
    with pytest.raises(ValidationError, match=r"^ids\[0\] is not valid Unicode \(it has a lone surrogate\)"):
        filled.add(X[:1], ids=["\ud800"])
    with pytest.raises(ParameterError, match="upsert needs ids"):
        filled.upsert(X[:1], ids=None)
    assert len(filled) == 3000  # nothing half-added
    # a big integer nested deeper than the indexed top level is only JSON text: it round-trips
    filled.add(X[:1], ids=["deep"], metadata=[{"nested": {"big": 2**70}}])
    assert filled.get(["deep"]).metadata == [{"nested": {"big": 2**70}}]
    filled.delete(["deep"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"dim": 0}, r"The 'dim' parameter of Collection must be an integer >= 1. Got 0."),
        ({"dim": 32, "metric": "dot"}, r"The 'metric' parameter of Collection must be one of 'cosine', 'ip', 'l2'. Got 'dot'."),
        (
            {"dim": 32, "index": "ivfpq"},
            r"The 'index' parameter of Collection must be one of 'flat', 'hnsw', 'ivf'. Got 'ivfpq'.",
        ),
        ({"dim": 32, "spec": "int9"}, r"unknown piece 'int9' in spec 'int9'. Did you mean 'int8'\?"),
        ({"dim": 30, "spec": "pq8"}, r"The 'm' parameter of pq must divide n_features=30"),
        ({"dim": 32, "spec": "pq8", "train_size": 100}, r"The 'train_size' parameter of Collection must be >= 256"),
        ({"dim": 32, "vector_dtype": "int8"}, r"The 'vector_dtype' parameter of Collection must be one of 'float32', 'float16'"),
    ],
)
def test_create_validates_settings(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        Collection.create(tmp_path / "c", **kwargs)
    assert not (tmp_path / "c").exists()


def test_create_refuses_existing_and_open_refuses_missing(tmp_path):
    Collection.create(tmp_path / "c", dim=4).close()
    with pytest.raises(ConflictError, match="a collection already exists at"):
        Collection.create(tmp_path / "c", dim=4)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "x").write_text("x")
    with pytest.raises(ConflictError, match="exists and is not an empty folder"):
        Collection.create(tmp_path / "junk", dim=4)
    with pytest.raises(NotFoundError, match=r"^no collection at .*nope; create one with 'lowdim create"):
        Collection.open(tmp_path / "nope")
    with pytest.raises(FileFormatError, match=r"is not a lowdim collection \(it has no manifest.json\)$"):
        Collection.open(tmp_path / "junk")
    with pytest.raises(FileFormatError, match="cannot create collection .* does not exist"):
        Collection.create(tmp_path / "no" / "c", dim=4)


def test_search_argument_errors(filled, data):
    _, Q = data
    with pytest.raises(ParameterError, match=r"The 'k' parameter must be an integer >= 1. Got 0."):
        filled.search(Q, 0)
    with pytest.raises(
        ParameterError, match=r"The 'ef' parameter applies to collections with index='hnsw'; this one uses index='flat'"
    ):
        filled.search(Q, 3, ef=10)


def test_readonly_and_closed(filled, data):
    X, _ = data
    ro = Collection.open(filled.path, readonly=True)
    with pytest.raises(ConflictError, match="was opened with readonly=True"):
        ro.add(X[:1])
    assert len(ro) == 3000
    ro.close()
    with pytest.raises(ConflictError, match="is closed"):
        ro.search(X[:1], 1)


def test_same_seed_same_codes(tmp_path, data, as_ids):
    X, Q = data
    results = []
    for name in ("a", "b"):
        col = Collection.create(tmp_path / name, dim=32, spec="pca16/binary+rerank4", train_size=1000)
        col.add(X)
        results.append((as_ids(col.search(Q, 10)), col.search(Q, 10).scores))
        col.close()
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
