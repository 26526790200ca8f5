"""gather_rows: the same rows as plain indexing, from RAM, a memory map and a view into one."""

import numpy as np
import pytest

from lowdim.arrays import gather_rows
from lowdim.store import Collection


@pytest.fixture()
def mapped(tmp_path):
    X = np.random.default_rng(0).normal(size=(3000, 24)).astype(np.float16)
    np.save(tmp_path / "x.npy", X)
    return X, np.load(tmp_path / "x.npy", mmap_mode="r")


@pytest.mark.parametrize("rows", [[5, 2999, 0, 5, 1700], list(range(0, 3000, 7)), [42]])
def test_gather_rows_matches_indexing(mapped, rows):
    X, M = mapped
    rows = np.array(rows)
    assert np.array_equal(gather_rows(M, rows), X[rows])
    assert np.array_equal(gather_rows(X, rows), X[rows])
    # a view that starts inside a page: offsets are computed from the view, not the mapping
    assert np.array_equal(gather_rows(M[13:], rows[rows < 2987]), X[13:][rows[rows < 2987]])


def test_gather_rows_out_of_range_raises_like_indexing(mapped):
    _, M = mapped
    with pytest.raises(IndexError):
        gather_rows(M, np.array([0, 3000]))
    assert gather_rows(M, np.zeros(0, np.int64)).shape == (0, 24)


def test_reranked_search_reads_mapped_segments(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(1500, 32)).astype(np.float32)
    col = Collection.create(tmp_path / "c", dim=32, spec="pq8x4+rerank4", train_size=1000)
    col.add(X)
    col.close()
    col = Collection.open(tmp_path / "c")
    assert col.info()["search_mode"] == "codes"
    res = col.search(X[:20], k=1)
    assert res.ids[:, 0].tolist() == list(range(20))
    np.testing.assert_allclose(res.scores[:, 0], 1.0, rtol=1e-3)  # exact cosine, read back from the mapped float16 rows
