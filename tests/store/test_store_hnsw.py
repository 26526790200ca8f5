"""index="hnsw": the graph is built, persisted (not rebuilt on open), tuned by ef, and honours deletes and filters."""

from __future__ import annotations

import numpy as np
import pytest

from lowdim import ParameterError
from lowdim.eval import exact_knn, recall_at_k
from lowdim.store import Collection


@pytest.fixture
def graph_col(tmp_path, make_vectors):
    X = make_vectors(4000, 32, seed=5)
    col = Collection.create(tmp_path / "g", dim=32, spec="int8+rerank4", index="hnsw", hnsw_m=16, train_size=1000)
    col.graph_min_tail = 1500
    col.add(X[:3000], metadata=[{"g": i % 3} for i in range(3000)])
    yield col, X
    col.close()


def test_graph_is_built_and_searched(graph_col, as_ids):
    col, X = graph_col
    assert col.info()["graph_nodes"] == 3000
    Q = X[3000:3050]
    _, gt = exact_knn(X[:3000], Q, 10, metric="cosine")
    assert recall_at_k(as_ids(col.search(Q, 10)), gt, 10) >= 0.98
    low = recall_at_k(as_ids(col.search(Q, 10, ef=4, rerank=0)), gt, 10)
    high = recall_at_k(as_ids(col.search(Q, 10, ef=200, rerank=0)), gt, 10)
    assert high >= low and high >= 0.97
    with pytest.raises(ParameterError, match=r"The 'ef' parameter of search must be an integer >= 1. Got 0."):
        col.search(Q, 10, ef=0)


def test_tail_outside_the_graph_is_searched_and_folded_in(graph_col, as_ids):
    col, X = graph_col
    col.add(X[3000:3500], metadata=[{"g": 9}] * 500)  # below graph_min_tail: scanned from codes
    assert col.info()["graph_nodes"] == 3000
    got = as_ids(col.search(X[3000:3010], 1))
    assert got[:, 0].tolist() == list(range(3000, 3010))
    assert (as_ids(col.search(X[:20], 5, filter={"g": 9})) >= 3000).all()
    col.build_index()
    assert col.info()["graph_nodes"] == 3500
    assert as_ids(col.search(X[3000:3010], 1))[:, 0].tolist() == list(range(3000, 3010))


def test_graph_persists_and_is_not_rebuilt(graph_col, as_ids):
    col, X = graph_col
    path = col.path
    files = sorted(p.name for p in (path / "graph").iterdir())
    before = as_ids(col.search(X[3000:3040], 10))
    col.close()
    reopened = Collection.open(path)
    assert sorted(p.name for p in (path / "graph").iterdir()) == files  # same files, nothing rebuilt
    np.testing.assert_array_equal(as_ids(reopened.search(X[3000:3040], 10)), before)
    reopened.close()


def test_deletes_filters_and_compaction_with_graph(graph_col, as_ids):
    col, X = graph_col
    col.delete(list(range(0, 3000, 2)))
    res = as_ids(col.search(X[:100], 10))
    assert (res >= 0).all() and (res % 2 == 1).all()
    got = as_ids(col.search(X[:50], 10, filter={"g": 1}))
    assert (got >= 0).all() and ((got % 3) == 1).all() and (got % 2 == 1).all()
    rows = np.array([i for i in range(1, 3000, 2) if i % 3 == 1])
    _, g = exact_knn(X[rows], X[:50], 10, metric="cosine")
    assert recall_at_k(got, rows[g], 10) >= 0.95
    col.compact()  # half the nodes are dead: the graph is rebuilt from the live rows
    assert col.info()["graph_nodes"] == 1500 and col.info()["deleted"] == 0
    res = as_ids(col.search(X[:100], 10))
    assert (res >= 0).all() and (res % 2 == 1).all()


def test_restrictive_filter_on_graph_falls_back_to_a_scan(graph_col, as_ids):
    col, X = graph_col
    col.subset_share = {"flat": 0.125, "hnsw": 0.0}  # force the graph even for a tiny match set
    col.upsert(X[3000:3012], ids=list(range(3000, 3012)), metadata=[{"g": 7}] * 12)
    col.build_index()
    got = as_ids(col.search(X[:30], 10, filter={"g": 7}))
    assert (got >= 3000).all()  # k results whenever at least k items match


def test_build_index_on_flat_is_an_error(tmp_path):
    col = Collection.create(tmp_path / "f", dim=4)
    with pytest.raises(ParameterError, match="build_index applies to collections created with index='hnsw'"):
        col.build_index()
    col.close()
