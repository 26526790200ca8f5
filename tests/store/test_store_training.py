"""When a collection trains: at the spec's minimum, one refit at train_size, never silently uncompressed; plans."""

from __future__ import annotations

import json
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

from lowdim import ParameterError, UntrainedWarning
from lowdim.plan import TargetNotMetError
from lowdim.search import exact_knn
from lowdim.spec import Pipeline
from lowdim.store import Collection, check_collection


def _codec_files(path):
    return sorted(p.name for p in path.glob("codec-*.npz"))


def test_trains_at_the_spec_minimum_and_refits_once_at_train_size(tmp_path, data, as_ids):
    X, Q = data
    col = Collection.create(tmp_path / "c", dim=32, spec="int8+rerank4", train_size=1000)
    col.add(X[:100])
    info = col.info()
    assert (info["trained"], info["search_mode"], info["codec_source"]) == (False, "exact", None)
    assert info["untrained_reason"] == (
        "holds 100 vectors; spec int8+rerank4 trains at 256 (int8 learns its calibration from at least 256 vectors)"
        " — searches scan the full vectors exactly until then"
    )
    col.add(X[100:300])  # 300 >= 256: fitted on all 300
    info = col.info()
    assert (info["trained"], info["search_mode"], info["untrained_reason"]) == (True, "codes", None)
    assert (info["codec_source"], info["codec_rows"]) == ("auto", 300)
    first = _codec_files(col.path)
    col.add(X[300:700])
    assert col.info()["codec_rows"] == 300 and _codec_files(col.path) == first  # no refit before train_size
    col.add(X[700:1100])  # first holds train_size: one refit on the first 1,000, everything re-encoded
    assert (col.info()["codec_source"], col.info()["codec_rows"]) == ("auto", 1000)
    refitted = _codec_files(col.path)
    assert len(refitted) == 1 and refitted != first
    col.add(X[1100:])
    assert _codec_files(col.path) == refitted  # once only
    # the same codec as a collection that saw its first 1,000 vectors at once (same seed: same fit)
    with Collection.create(tmp_path / "d", dim=32, spec="int8+rerank4", train_size=1000) as one:
        one.add(X)
        np.testing.assert_array_equal(col.codec.encode(X), one.codec.encode(X))
        np.testing.assert_array_equal(as_ids(col.search(Q, 10, rerank=0)), as_ids(one.search(Q, 10, rerank=0)))
    path = col.path
    col.close()
    with Collection.open(path, verify=True) as again:  # recorded in the catalog
        assert (again.info()["codec_source"], again.info()["codec_rows"]) == ("auto", 1000)


def test_an_explicit_codec_is_never_refitted(tmp_path, data):
    X, _ = data
    col = Collection.create(tmp_path / "c", dim=32, spec="int8", train_size=500)
    col.add(X[:10])
    col.train(X[:300])
    files = _codec_files(col.path)
    col.add(X[10:1000])
    assert (col.info()["codec_source"], col.info()["codec_rows"]) == ("train", 300)
    assert _codec_files(col.path) == files
    col.close()


def test_a_codec_that_learns_nothing_trains_at_the_first_add_and_never_refits(tmp_path, data):
    X, _ = data
    col = Collection.create(tmp_path / "c", dim=32, spec="f16", train_size=100)
    col.add(X[:1])
    assert col.is_trained and col.info()["codec_rows"] == 1
    files = _codec_files(col.path)
    col.add(X[1:200])
    assert _codec_files(col.path) == files
    col.close()


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_untrained_search_is_exact_and_says_so_once(tmp_path, make_vectors, metric):
    X = make_vectors(120, 96, seed=3)
    col = Collection.create(tmp_path / "c", dim=96, spec="pq48x8", metric=metric)
    col.add(X, metadata=[{"odd": i % 2} for i in range(120)])
    reason = (
        "holds 120 vectors; spec pq48x8 trains at 9,984 (PQ needs 39 vectors per centroid)"
        " — searches scan the full vectors exactly until then"
    )
    assert col.info()["untrained_reason"] == reason
    with pytest.warns(UntrainedWarning, match="holds 120 vectors; spec pq48x8 trains at 9,984"):
        res = col.search(X[:5], 7, filter={"odd": 1})
    assert res.exact_reason == reason and res.to_dict()["exact_reason"] == reason
    rows = np.arange(1, 120, 2)
    scores, gt = exact_knn(X[rows], X[:5], 7, metric=metric)
    np.testing.assert_array_equal(res.ids.astype(np.int64), rows[gt])
    np.testing.assert_allclose(res.scores, scores, rtol=1e-5, atol=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per collection object
        assert col.search(X[:1], 1).exact_reason == reason
    col.close()
    with Collection.open(tmp_path / "c", readonly=True) as other, pytest.warns(UntrainedWarning):
        other.search(X[:1], 1)  # another object is told again


# ---------------------------------------------------------------------------- plans


def _plan(d=16, metric="cosine", spec="pca8/int8+rerank4", codec=None, feasible=True):
    """A stand-in for lowdim.plan.Plan: what Collection.create reads from a plan."""

    def require_feasible():
        if not feasible:
            raise TargetNotMetError("no candidate reaches recall@10 >= 0.99")
        return rec

    rec = SimpleNamespace(spec=spec) if feasible else None
    return SimpleNamespace(d=d, metric=metric, recommended=rec, require_feasible=require_feasible, codec=codec)


def test_create_from_a_plan_takes_width_metric_and_spec(tmp_path):
    with Collection.create(tmp_path / "c", plan=_plan(metric="ip"), train_size=300) as col:
        assert (col.dim, col.metric, col.spec, col.is_trained) == (16, "ip", "pca8/int8+rerank4", False)
    with Collection.create(tmp_path / "d", plan=_plan(), dim=16, metric="cosine") as col:  # agreeing values are fine
        assert col.spec == "pca8/int8+rerank4"


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"metric": "l2"}, ParameterError, r"^metric='l2' contradicts the plan, which was measured with metric='cosine'"),
        ({"dim": 32}, ParameterError, r"^dim=32 contradicts the plan, which was made for 16-dimensional vectors"),
        ({"spec": "int8"}, ParameterError, r"^give either spec or plan, not both \(spec='int8'\)"),
        ({"plan": _plan(feasible=False)}, TargetNotMetError, r"^no candidate reaches recall@10 >= 0.99$"),
    ],
)
def test_create_refuses_what_contradicts_the_plan(tmp_path, kwargs, error, message):
    kwargs = {"plan": _plan(), **kwargs}
    with pytest.raises(error, match=message):
        Collection.create(tmp_path / "c", **kwargs)
    assert not (tmp_path / "c").exists()


def test_the_plans_codec_is_adopted_without_refit(tmp_path, make_vectors):
    X = make_vectors(3000, 16, seed=7)
    codec = Pipeline("pca8/int8+rerank4", metric="cosine", random_state=5).fit(X[:700])
    col = Collection.create(tmp_path / "c", plan=_plan(codec=codec), train_size=1000)
    info = col.info()
    assert col.is_trained and len(col) == 0
    assert (info["codec_source"], info["codec_rows"], info["search_mode"]) == ("plan", None, "codes")
    files = _codec_files(col.path)
    col.add(X[:200])
    col.add(X[200:])  # past train_size: a plan's codec is kept
    assert _codec_files(col.path) == files and col.info()["codec_source"] == "plan"
    np.testing.assert_array_equal(col.codec.encode(X), codec.encode(X))
    res = col.search(X[:20], 1)
    assert res.exact_reason is None and res.ids[:, 0].tolist() == list(range(20))
    col.close()
    assert check_collection(tmp_path / "c").ok
    with Collection.open(tmp_path / "c") as again:
        np.testing.assert_array_equal(again.codec.encode(X[:50]), codec.encode(X[:50]))


def test_a_plans_codec_must_match_its_recommendation(tmp_path, make_vectors):
    codec = Pipeline("int8", metric="ip").fit(make_vectors(300, 16))
    with pytest.raises(ParameterError, match=r"^the plan's codec is a int8 codec \(ip, 16 features\); the plan recommends"):
        Collection.create(tmp_path / "c", plan=_plan(metric="ip", codec=codec))
    assert not (tmp_path / "c").exists()


# ---------------------------------------------------------------------------- older folders


def test_a_codec_recorded_without_number_rows_or_source_still_works(tmp_path, data, as_ids):
    """Collections written before the codec's number, rows and source were recorded open and grow."""
    from lowdim.store._catalog import Catalog

    X, Q = data
    path = tmp_path / "c"
    with Collection.create(path, dim=32, train_size=500) as col:
        col.add(X[:1000])
    cat = Catalog(path)
    doc = cat.get("codec")
    with cat.write() as tx:
        tx.put(codec={k: doc[k] for k in ("name", "size", "crc32")})
    cat.close()
    with Collection.open(path) as col:
        assert (col.info()["codec_source"], col.info()["codec_rows"]) == (None, None)
        col.add(X[1000:])  # codes named with a fresh number; never refitted
        col.delete(list(range(0, 3000, 2)))
        col.compact()
        before = as_ids(col.search(Q, 5))
    assert check_collection(path).ok
    with Collection.open(path, verify=True) as col:
        np.testing.assert_array_equal(as_ids(col.search(Q, 5)), before)
        assert json.loads((path / "manifest.json").read_text())["counts"]["live"] == 1500
