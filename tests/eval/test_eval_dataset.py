"""load_dataset: folder layouts, single files, overrides, cross-checks, and the real data set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lowdim.eval import Dataset, load_dataset
from lowdim.exceptions import DimensionError, DTypeError, FileFormatError, ParameterError, ValidationError

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
WORDNET = DATA / "wordnet-minilm"


def write_vecs(path, X):
    X = np.asarray(X)
    np.hstack([np.full((X.shape[0], 1), X.shape[1], dtype="<i4").view(X.dtype), X]).tofile(path)


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "corpus.f16.npy", rng.standard_normal((30, 8)).astype(np.float16))
    np.save(tmp_path / "queries.npy", rng.standard_normal((4, 8)).astype(np.float32))
    np.save(tmp_path / "gt.npy", rng.integers(0, 30, (4, 10)).astype(np.int32))
    rows = [{"id": i, "text": "q", "relevant_doc_ids": [i, i + 1]} for i in range(4)]
    (tmp_path / "queries.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path


def test_folder_with_everything(folder):
    ds = load_dataset(folder)
    assert isinstance(ds, Dataset)
    assert (ds.n, ds.d, ds.n_queries) == (30, 8, 4)
    assert ds.corpus.dtype == np.float16 and isinstance(ds.corpus, np.memmap)
    assert ds.gt.shape == (4, 10)
    assert [q.tolist() for q in ds.qrels] == [[0, 1], [1, 2], [2, 3], [3, 4]]
    assert ds.name == folder.name and ds.metric is None
    assert {k: p.name for k, p in ds.paths.items()} == {
        "corpus": "corpus.f16.npy",
        "queries": "queries.npy",
        "gt": "gt.npy",
        "qrels": "queries.jsonl",
    }


def test_texmex_folder(tmp_path):
    rng = np.random.default_rng(1)
    write_vecs(tmp_path / "base.fvecs", rng.standard_normal((20, 6)).astype(np.float32))
    write_vecs(tmp_path / "query.fvecs", rng.standard_normal((3, 6)).astype(np.float32))
    write_vecs(tmp_path / "groundtruth.ivecs", rng.integers(0, 20, (3, 5)).astype(np.int32))
    ds = load_dataset(tmp_path)
    assert (ds.n, ds.d, ds.n_queries, ds.gt.shape, ds.qrels) == (20, 6, 3, (3, 5), None)


def test_jsonl_without_qrels_field_is_not_qrels(folder):
    (folder / "queries.jsonl").write_text('{"id": 0, "text": "only text"}\n')
    assert load_dataset(folder).qrels is None


def test_overrides_take_paths_or_arrays(folder, tmp_path_factory):
    other = tmp_path_factory.mktemp("other")
    q = np.ones((2, 8), dtype=np.float32)
    np.save(other / "q.npy", q)
    ds = load_dataset(folder, queries=other / "q.npy", gt=np.zeros((2, 3), dtype=np.int64), qrels=[{5}, [6, 7]])
    assert ds.n_queries == 2 and ds.paths["queries"] == other / "q.npy" and "gt" not in ds.paths
    assert [r.tolist() for r in ds.qrels] == [[5], [6, 7]]
    ds = load_dataset(folder, queries=q.tolist(), qrels=np.array([1, 2]), gt=np.zeros((2, 1), dtype=np.int32))
    assert ds.queries.shape == (2, 8) and [r.tolist() for r in ds.qrels] == [[1], [2]]


def test_hdf5_single_file(tmp_path):
    import h5py

    rng = np.random.default_rng(2)
    with h5py.File(tmp_path / "glove-25-angular.hdf5", "w") as f:
        f.attrs["distance"] = "angular"
        f.create_dataset("train", data=rng.standard_normal((15, 5)).astype(np.float32))
        f.create_dataset("test", data=rng.standard_normal((3, 5)).astype(np.float32))
        f.create_dataset("neighbors", data=rng.integers(0, 15, (3, 4)).astype(np.int32))
        f.create_dataset("distances", data=np.zeros((3, 4), dtype=np.float32))
    ds = load_dataset(tmp_path / "glove-25-angular.hdf5")
    assert (ds.n, ds.n_queries, ds.gt.shape, ds.metric, ds.name) == (15, 3, (3, 4), "cosine", "glove-25-angular")


def test_single_corpus_file_needs_queries(tmp_path):
    np.save(tmp_path / "c.npy", np.zeros((5, 2), dtype=np.float32))
    with pytest.raises(ParameterError, match=r"c.npy is a single corpus file; pass queries="):
        load_dataset(tmp_path / "c.npy")
    ds = load_dataset(tmp_path / "c.npy", queries=np.zeros((1, 2), dtype=np.float32))
    assert ds.n == 5 and ds.name == "c"


def test_missing_pieces_are_named(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(
        FileFormatError,
        match=r"holds no corpus file; looked for corpus.npy, corpus.f16.npy, base.npy, base.fvecs, base.bvecs. It holds: notes.txt",
    ):
        load_dataset(tmp_path)
    np.save(tmp_path / "corpus.npy", np.zeros((5, 2), dtype=np.float32))
    with pytest.raises(FileFormatError, match=r"holds no queries file; looked for queries.npy, queries.fvecs, query.fvecs"):
        load_dataset(tmp_path)
    with pytest.raises(FileFormatError, match=r"nowhere: no such file or folder"):
        load_dataset(tmp_path / "nowhere")


def test_cross_checks(folder):
    with pytest.raises(DimensionError, match=r"queries have 3 features, but the corpus has 8"):
        load_dataset(folder, queries=np.zeros((4, 3), dtype=np.float32))
    with pytest.raises(DimensionError, match=r"gt has shape \(5, 10\); expected \(4, k\), one row per query"):
        load_dataset(folder, gt=np.zeros((5, 10), dtype=np.int32))
    with pytest.raises(DTypeError, match=r"gt has dtype float64; expected integer corpus row ids"):
        load_dataset(folder, gt=np.zeros((4, 10)))
    with pytest.raises(ValidationError, match=r"gt holds id 30, but the corpus has only 30 rows"):
        load_dataset(folder, gt=np.full((4, 2), 30, dtype=np.int32))
    with pytest.raises(DimensionError, match=r"qrels has 3 queries, but there are 4 queries"):
        load_dataset(folder, qrels=[[1], [2], [3]])
    with pytest.raises(ValidationError, match=r"qrels hold doc id 99, but the corpus has only 30 rows"):
        load_dataset(folder, qrels=[[1], [2], [3], [99]])


def test_wordnet_minilm_folder():
    ds = load_dataset(WORDNET)
    assert (ds.n, ds.d, ds.n_queries) == (116697, 384, 2000)
    assert ds.corpus.dtype == np.float16 and ds.queries.dtype == np.float32
    assert ds.gt.shape == (2000, 100)
    assert len(ds.qrels) == 2000 and all(len(r) == 1 for r in ds.qrels)
    assert ds.paths["corpus"].name == "corpus.f16.npy" and ds.paths["qrels"].name == "queries.jsonl"
    assert ds.name == "wordnet-minilm"


def test_given_queries_do_not_take_the_folders_truth_or_judgements(folder, tmp_path_factory):
    """Regression: the folder's gt and qrels belong to its own queries, not to queries passed in their place."""
    other = tmp_path_factory.mktemp("other")
    np.save(other / "q.npy", np.ones((3, 8), dtype=np.float32))
    ds = load_dataset(folder, queries=other / "q.npy")
    assert ds.n_queries == 3 and ds.gt is None and ds.qrels is None
    assert set(ds.paths) == {"corpus", "queries"}
    np.save(other / "g.npy", np.zeros((3, 5), dtype=np.int64))
    ds = load_dataset(folder, queries=other / "q.npy", gt=other / "g.npy")
    assert ds.gt.shape == (3, 5) and ds.qrels is None
