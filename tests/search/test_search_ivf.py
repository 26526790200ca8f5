"""IVF over lowdim's codes: exact at nprobe = nlist on every kernel route, recall vs nprobe, adds, filters, files, errors."""

from __future__ import annotations

import numpy as np
import pytest

from lowdim import DimensionError, FileFormatError, ParameterError, Pipeline, ValidationError
from lowdim.eval import exact_knn, recall_at_k
from lowdim.search import CodeIndex, IVFIndex
from lowdim.spec import bytes_per_vector, parse_index_spec

#: one codec per route (the route each one takes is pinned too)
ROUTES = [
    ("f32", "cosine", "ivf-flat"),
    ("int8", "cosine", "ivf-sq"),
    ("pca16/int4", "l2", "ivf-sq"),
    ("pq16x8", "cosine", "ivf-pq"),
    ("pq16x4", "l2", "ivf-pq-fastscan"),
    ("rbq2", "cosine", "ivf-pq-fastscan"),
    ("itq/binary", "l2", "ivf-pq-fastscan"),
    ("rabitq2", "cosine", "ivf-rabitq"),
    ("hamming", "cosine", "ivf-binary"),
    ("rbq2", "l2", "generic"),
]


@pytest.fixture(scope="module")
def clustered(make_data):
    """(X, Q): 3,000 × 64 documents and 40 queries of low intrinsic dimension."""
    X = make_data(3040, 64, 8, seed=3)
    return X[:3000], X[3000:]


def _same_up_to_ties(a_ids, a_scores, b_ids, b_scores, largest=True):
    """Same scores, and the same ids wherever a score is not tied with the k-th one."""
    np.testing.assert_allclose(a_scores, b_scores, rtol=1e-5, atol=1e-5)
    for ia, sa, ib in zip(a_ids, a_scores, b_ids, strict=True):
        kth = sa[-1]
        sure = sa > kth + 1e-5 if largest else sa < kth - 1e-5
        assert set(ia[sure]) == set(ib[sure])


@pytest.mark.parametrize(("spec", "metric", "route"), ROUTES)
def test_full_probe_equals_flat_scan(clustered, spec, metric, route):
    X, Q = clustered
    p = Pipeline(spec, metric=metric).fit(X)
    codes = p.encode(X)
    flat = CodeIndex(p, codes).search(Q, 10)
    index = IVFIndex(p, nlist=16).train(X)
    assert index.route == route
    # three adds of different kinds: codes with their vectors, vectors with ids, bare codes
    index.add(codes[:1000], vectors=X[:1000])
    index.add(X[1000:2000], np.arange(1000, 2000))
    index.add(codes[2000:], vectors=X[2000:])
    assert len(index) == len(X)
    res = index.search(Q, 10, nprobe=16)
    assert res.ids.shape == res.scores.shape == (len(Q), 10) and res.ids.dtype == np.int64
    _same_up_to_ties(res.ids, res.scores, flat.ids, flat.scores, largest=p.scan_metric == "ip")


def test_recall_rises_with_nprobe(clustered):
    X, Q = clustered
    _, gt = exact_knn(X, Q, 10, metric="cosine")
    p = Pipeline("int8").fit(X)
    index = IVFIndex(p, nlist=32).train(X)
    index.add(X)
    rec = [recall_at_k(index.search(Q, 10, nprobe=n).ids, gt, 10) for n in (1, 4, 32)]
    assert rec[0] < rec[1] <= rec[2] and rec[2] > 0.95
    assert rec[0] < 0.9  # one list of 32 really is a partial search


def test_adds_after_training_land_in_their_list_and_are_found(clustered, make_data):
    X, Q = clustered
    p = Pipeline("pq16x4+rerank4").fit(X)
    new = make_data(200, 64, 8, seed=3)[:200] + 0.01  # near old rows, added later under new ids
    V = np.concatenate([X, new])
    index = IVFIndex(p, nlist=16, vectors=V).train(X)
    index.add(X)
    before = index.list_sizes().copy()
    ids = np.arange(len(X), len(V))
    index.add(new, ids)
    lists = index.assign(new)[:, 0]
    np.testing.assert_array_equal(index.list_sizes() - before, np.bincount(lists, minlength=16))
    res = index.search(new[:20], 1, nprobe=1)
    assert np.isin(res.ids[:, 0], ids).mean() >= 0.9  # each new row is found in its own list


def test_allowed_filter_and_remove(clustered):
    X, Q = clustered
    for spec in ("int8", "pq16x4", "rbq2"):
        p = Pipeline(spec, metric="l2" if spec == "rbq2" else "cosine").fit(X)
        index = IVFIndex(p, nlist=8).train(X)
        index.add(X)
        mask = np.zeros(len(X), bool)
        mask[::3] = True
        by_mask = index.search(Q, 10, nprobe=8, allowed=mask)
        assert (by_mask.ids % 3 == 0).all()
        by_ids = index.search(Q, 10, nprobe=8, allowed=np.flatnonzero(mask))
        np.testing.assert_array_equal(by_mask.ids, by_ids.ids)
        flat = CodeIndex(p, p.encode(X)).search(Q, 10, subset=np.flatnonzero(mask))
        _same_up_to_ties(by_mask.ids, by_mask.scores, flat.ids, flat.scores, largest=p.scan_metric == "ip")
        gone = index.search(Q, 1, nprobe=8).ids[:, 0]
        assert index.remove(gone) == len(np.unique(gone))
        assert not np.isin(index.search(Q, 10, nprobe=8).ids, gone).any()
        assert len(index) == len(X) - len(np.unique(gone))


def test_many_lists_use_an_hnsw_coarse_quantizer(clustered, monkeypatch):
    import faiss

    monkeypatch.setattr("lowdim.search._ivf.HNSW_COARSE_FROM", 16)  # instead of 4096: the same code path, small data
    X, Q = clustered
    p = Pipeline("pq16x4").fit(X)
    index = IVFIndex(p, nlist=32).train(X)
    assert isinstance(index.coarse, faiss.IndexHNSWFlat)
    assert len(np.unique(index.centroids.round(5), axis=0)) == 32  # two-level k-means: 6 clusters split into 32
    index.add(X)
    flat = CodeIndex(p, p.encode(X)).search(Q, 10)
    res = index.search(Q, 10, nprobe=32)
    _same_up_to_ties(res.ids, res.scores, flat.ids, flat.scores)


def test_stats(clustered):
    X, _ = clustered
    p = Pipeline("pq16x4").fit(X)
    index = IVFIndex(p, nlist=16).train(X)
    index.add(X)
    st = index.stats()
    assert st.ntotal == len(X) and st.list_sizes.sum() == len(X) and st.route == "ivf-pq-fastscan"
    assert st.imbalance >= 1.0 and st.empty_lists == 0
    assert st.ram_bytes_per_vector == pytest.approx(p.code_size + 8 + 16 * 64 * 4 / len(X))


def test_save_load_round_trip_and_corrupt_files(clustered, tmp_path):
    X, Q = clustered
    for spec in ("pq16x4+rerank4", "rabitq", "rbq2"):
        p = Pipeline(spec, metric="l2" if spec == "rbq2" else "cosine").fit(X)
        index = IVFIndex(p, nlist=16, vectors=X).train(X)
        index.add(X)
        before = index.search(Q, 10, nprobe=4)
        folder = index.save(tmp_path / spec.replace("+", "_"))
        index.save(folder)  # overwriting is atomic too
        again = IVFIndex.load(folder, p, vectors=X)
        assert again.route == index.route and len(again) == len(X)
        after = again.search(Q, 10, nprobe=4)
        np.testing.assert_array_equal(before.ids, after.ids)
        np.testing.assert_array_equal(before.scores, after.scores)
        meta, coarse, arrays = index.to_arrays()  # what a collection keeps in files of its own
        np.testing.assert_array_equal(
            IVFIndex.from_arrays(p, meta, coarse, arrays, vectors=X).search(Q, 10, nprobe=4).ids, before.ids
        )
    with pytest.raises(FileFormatError, match="is inconsistent"):
        IVFIndex.from_arrays(p, meta, {"centroids": coarse["centroids"][:3]}, arrays)
    lists = folder / "lists.npz"
    lists.write_bytes(lists.read_bytes()[:-10])
    with pytest.raises(FileFormatError, match="truncated or corrupt"):
        IVFIndex.load(folder, p)
    (folder / "ivf.json").write_text("{not json")
    with pytest.raises(FileFormatError, match="not valid JSON"):
        IVFIndex.load(folder, p)
    with pytest.raises(FileFormatError, match="not an IVF index folder"):
        IVFIndex.load(tmp_path / "nothing", p)
    other = IVFIndex(Pipeline("int8").fit(X), nlist=4).train(X)
    other.save(tmp_path / "int8")
    with pytest.raises(FileFormatError, match="holds int8 codes"):
        IVFIndex.load(tmp_path / "int8", p)


def test_bad_input_one_line_errors(clustered):
    X, Q = clustered
    p = Pipeline("int8+rerank2").fit(X)
    with pytest.raises(
        ParameterError, match=r"nlist 4,096 needs at least 159,744 training rows \(39 per list\); got 3,000: use nlist <= 64"
    ):
        IVFIndex(p, nlist=4096).train(X)
    with pytest.raises(ParameterError, match="'nlist' parameter of IVFIndex must be an integer >= 1"):
        IVFIndex(p, nlist=0)
    with pytest.raises(ParameterError, match=r"'nprobe' parameter must be an integer in 1..nlist=8"):
        IVFIndex(p, nlist=8, nprobe=9)
    index = IVFIndex(p, nlist=8)
    with pytest.raises(ParameterError, match="not trained yet"):
        index.search(Q, 5)
    index.train(X)
    index.add(X)
    for nprobe in (0, 9, 2.5):
        with pytest.raises(ParameterError, match=r"'nprobe' parameter must be an integer in 1..nlist=8"):
            index.search(Q, 5, nprobe=nprobe)
    with pytest.raises(ParameterError, match="rerank=2 needs the full-precision vectors"):
        index.search(Q, 5)
    with pytest.raises(DimensionError, match="queries has 32 features, but this ivf8/int8\\+rerank2 index expects 64"):
        index.search(Q[:, :32], 5, rerank=0)
    bad = Q.copy()
    bad[1, 3] = np.nan
    with pytest.raises(ValidationError, match=r"NaN or infinity in 1 row\(s\): 1"):
        index.search(bad, 5, rerank=0)
    with pytest.raises(ValidationError, match="NaN"):
        index.add(bad)
    with pytest.raises(DimensionError, match="expected \\(n, 64\\)"):
        index.add(p.encode(X[:2])[:, :10])
    with pytest.raises(ValidationError, match="ids must be 2 integers"):
        index.add(X[:2], ids=[1])
    with pytest.raises(ValidationError, match="ids must be >= 0"):
        index.add(X[:2], ids=[-1, 3])
    with pytest.raises(ValidationError, match="boolean mask"):
        index.search(Q, 5, rerank=0, allowed=np.ones(3, np.float32))


def test_empty_lists_pad_results(clustered):
    X, Q = clustered
    p = Pipeline("pq16x4").fit(X)
    index = IVFIndex(p, nlist=8).train(X)
    res = index.search(Q[:2], 3, nprobe=8)
    assert (res.ids == -1).all() and np.isneginf(res.scores).all()
    index.add(X[:2])
    res = index.search(Q[:2], 3, nprobe=8)
    assert (res.ids[:, 2] == -1).all() and (res.ids[:, :2] >= 0).all()


def test_spec_prefix():
    s = parse_index_spec("ivf256/pca128/int8+rerank4")
    assert (s.kind, s.params, s.codec.to_spec(), s.to_spec()) == (
        "ivf",
        {"nlist": 256},
        "pca128/int8+rerank4",
        "ivf256/pca128/int8+rerank4",
    )
    assert parse_index_spec("pq96x4+rerank10").kind == "flat"
    assert bytes_per_vector(384, "ivf1024/pq96x4+rerank10") == bytes_per_vector(384, "pq96x4") + 8 == 56
    assert bytes_per_vector(384, "ivf4096/rabitq+rerank10") == 56 + 8
    from lowdim import SpecError

    for bad, msg in [
        ("ivf0/int8", "nlist >= 1"),
        ("ivf16", "needs a codec after it"),
        ("ivf4/ivf4/int8", "more than one index prefix"),
    ]:
        with pytest.raises(SpecError, match=msg):
            parse_index_spec(bad)
    with pytest.raises(SpecError, match="is an index, not a codec stage"):
        Pipeline("ivf16/int8")


def test_wordnet_ivf_pq4_recall(wordnet):
    n = 20000
    X = np.asarray(wordnet.corpus[:n], np.float32)
    Q = np.asarray(wordnet.queries[:200], np.float32)
    _, gt = exact_knn(X, Q, 10, metric="cosine")
    p = Pipeline("pq96x4+rerank10").fit(X)
    index = IVFIndex(p, nlist=128, vectors=wordnet.corpus).train(X)
    index.add(p.encode(X), vectors=X)
    rec = recall_at_k(index.search(Q, 10, nprobe=32).ids, gt, 10)
    assert rec >= 0.9, rec
