"""Readers: round trip per format, and one-line errors for truncated or corrupt files."""

from __future__ import annotations

import json
import sys

import h5py  # noqa: E402  (the io extra is part of the test install)
import numpy as np
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import pytest

from lowdim.eval import MissingDependencyError, read_ids, read_qrels_jsonl, read_vectors
from lowdim.exceptions import DimensionError, DTypeError, FileFormatError, ParameterError


def write_vecs(path, X):
    """Write TEXMEX records: int32 dim, then the row (float32 .fvecs, int32 .ivecs, uint8 .bvecs)."""
    X = np.asarray(X)
    n, d = X.shape
    if X.dtype == np.uint8:
        head = np.full((n, 1), d, dtype="<i4").view(np.uint8)
        np.hstack([head, X]).tofile(path)
    else:
        np.hstack([np.full((n, 1), d, dtype="<i4").view(X.dtype), X]).tofile(path)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# ---------------------------------------------------------------- .npy


@pytest.mark.parametrize("mmap", [True, False])
def test_npy_round_trip_keeps_float16(tmp_path, rng, mmap):
    X = rng.standard_normal((20, 6)).astype(np.float16)
    np.save(tmp_path / "corpus.npy", X)
    Y = read_vectors(tmp_path / "corpus.npy", mmap=mmap)
    assert Y.dtype == np.float16 and np.array_equal(X, Y)
    assert isinstance(Y, np.memmap) == mmap


def test_npy_truncated(tmp_path):
    path = tmp_path / "corpus.npy"
    np.save(path, np.zeros((10, 12), dtype=np.float32))  # 480 bytes of data
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size - 80)
    with pytest.raises(FileFormatError, match=r"^corpus.npy is truncated: expected 480 bytes of data, got 400$"):
        read_vectors(path)


def test_npy_trailing_bytes(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.zeros((2, 2), dtype=np.float32))
    with open(path, "ab") as f:
        f.write(b"junk")
    with pytest.raises(FileFormatError, match=r"x.npy has 4 bytes after the data its header describes"):
        read_vectors(path)


def test_npy_bad_magic_and_objects(tmp_path):
    (tmp_path / "bad.npy").write_bytes(b"this is not numpy at all")
    with pytest.raises(FileFormatError, match=r"bad.npy is not a valid .npy file"):
        read_vectors(tmp_path / "bad.npy")
    np.save(tmp_path / "obj.npy", np.array([[None]], dtype=object), allow_pickle=True)
    with pytest.raises(FileFormatError, match=r"obj.npy holds Python objects"):
        read_vectors(tmp_path / "obj.npy")


def test_npy_must_be_2d(tmp_path):
    np.save(tmp_path / "v.npy", np.zeros(5, dtype=np.float32))
    with pytest.raises(DimensionError, match=r"v.npy holds an array of shape \(5,\); expected 2-D vectors"):
        read_vectors(tmp_path / "v.npy")


# ---------------------------------------------------------------- TEXMEX


@pytest.mark.parametrize("ext,dtype", [(".fvecs", np.float32), (".ivecs", np.int32), (".bvecs", np.uint8)])
@pytest.mark.parametrize("mmap", [True, False])
def test_vecs_round_trip(tmp_path, rng, ext, dtype, mmap):
    X = rng.integers(0, 256, (9, 5)) if dtype == np.uint8 else rng.standard_normal((9, 5)) * 50
    X = X.astype(dtype)
    write_vecs(tmp_path / f"base{ext}", X)
    Y = read_vectors(tmp_path / f"base{ext}", mmap=mmap)
    assert Y.shape == (9, 5) and Y.dtype == dtype
    assert np.array_equal(np.asarray(Y), X)


def test_vecs_size_not_multiple_of_record(tmp_path, rng):
    path = tmp_path / "base.fvecs"
    write_vecs(path, rng.standard_normal((3, 4)).astype(np.float32))  # records of 4 + 16 bytes
    with open(path, "ab") as f:
        f.write(b"\0" * 7)
    with pytest.raises(
        FileFormatError,
        match=r"base.fvecs is truncated or corrupt: size 67 bytes is not a multiple of the record size 20 "
        r"\(4-byte header \+ 4 x 4-byte values, d=4 from the first record\)",
    ):
        read_vectors(path)


def test_vecs_dimension_disagreement(tmp_path):
    raw = np.zeros((3, 5), dtype="<i4")
    raw[:, 0] = 4
    raw[2, 0] = 7  # same file size, corrupt header on the third record
    raw.tofile(tmp_path / "gt.ivecs")
    with pytest.raises(FileFormatError, match=r"gt.ivecs: record 2 has dimension 7, expected 4 \(from the first record\)"):
        read_vectors(tmp_path / "gt.ivecs")


def test_vecs_empty_or_bad_header(tmp_path):
    (tmp_path / "e.fvecs").write_bytes(b"")
    with pytest.raises(FileFormatError, match=r"e.fvecs is 0 bytes; expected at least one record"):
        read_vectors(tmp_path / "e.fvecs")
    np.array([-3, 0, 0], dtype="<i4").tofile(tmp_path / "neg.fvecs")
    with pytest.raises(FileFormatError, match=r"neg.fvecs: first record has dimension -3"):
        read_vectors(tmp_path / "neg.fvecs")


# ---------------------------------------------------------------- HDF5 (ann-benchmarks layout)


def write_ann_hdf5(path, train, test, neighbors, **create_kw):
    with h5py.File(path, "w") as f:
        f.attrs["distance"] = "angular"
        f.create_dataset("train", data=train, **create_kw)
        f.create_dataset("test", data=test, **create_kw)
        f.create_dataset("neighbors", data=neighbors)
        f.create_dataset("distances", data=np.zeros(neighbors.shape, dtype=np.float32))


@pytest.mark.parametrize("create_kw", [{}, {"compression": "gzip", "chunks": (4, 3)}], ids=["contiguous", "chunked"])
def test_hdf5_round_trip(tmp_path, rng, create_kw):
    train = rng.standard_normal((12, 3)).astype(np.float32)
    test = rng.standard_normal((4, 3)).astype(np.float32)
    nn = rng.integers(0, 12, (4, 5)).astype(np.int32)
    write_ann_hdf5(tmp_path / "a.hdf5", train, test, nn, **create_kw)
    assert np.array_equal(read_vectors(tmp_path / "a.hdf5"), train)
    assert np.array_equal(read_vectors(tmp_path / "a.hdf5", dataset="test", mmap=False), test)
    assert np.array_equal(read_ids(tmp_path / "a.hdf5"), nn)


def test_hdf5_errors(tmp_path, rng):
    write_ann_hdf5(tmp_path / "a.h5", np.zeros((2, 2)), np.zeros((1, 2)), np.zeros((1, 1), dtype=np.int32))
    with pytest.raises(FileFormatError, match=r"a.h5 has no dataset 'base'; datasets: distances, neighbors, test, train"):
        read_vectors(tmp_path / "a.h5", dataset="base")
    (tmp_path / "fake.hdf5").write_bytes(b"not hdf5")
    with pytest.raises(FileFormatError, match=r"fake.hdf5 is not a readable HDF5 file"):
        read_vectors(tmp_path / "fake.hdf5")


def test_hdf5_without_h5py(tmp_path, monkeypatch):
    (tmp_path / "a.hdf5").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "h5py", None)  # makes `import h5py` raise ImportError
    with pytest.raises(
        MissingDependencyError, match=r"reading .hdf5 files needs h5py; install it with: pip install 'lowdim\[io\]'"
    ):
        read_vectors(tmp_path / "a.hdf5")


# ---------------------------------------------------------------- parquet


def test_parquet_fixed_size_and_variable_lists(tmp_path, rng):
    X = rng.standard_normal((6, 4)).astype(np.float32)
    fixed = pa.FixedSizeListArray.from_arrays(pa.array(X.ravel()), 4)
    table = pa.table({"id": np.arange(6), "emb": fixed})
    pq.write_table(table, tmp_path / "fixed.parquet")
    assert np.array_equal(read_vectors(tmp_path / "fixed.parquet"), X)

    table = pa.table({"id": np.arange(6), "emb": pa.array(list(X), type=pa.list_(pa.float32()))})
    pq.write_table(table, tmp_path / "var.parquet")
    Y = read_vectors(tmp_path / "var.parquet", mmap=False)
    assert Y.dtype == np.float32 and np.array_equal(Y, X)


def test_parquet_column_choice(tmp_path, rng):
    X = rng.standard_normal((3, 2)).astype(np.float32)
    table = pa.table(
        {
            "a": pa.array(list(X), type=pa.list_(pa.float32())),
            "b": pa.array(list(2 * X), type=pa.list_(pa.float64())),
            "t": ["x", "y", "z"],
        }
    )
    pq.write_table(table, tmp_path / "two.parquet")
    with pytest.raises(
        FileFormatError,
        match=r"two.parquet has 2 list columns; pass column= one of: "
        r"a \(list<\w+: float>\), b \(list<\w+: double>\), t \(string\)",
    ):
        read_vectors(tmp_path / "two.parquet")
    assert np.array_equal(read_vectors(tmp_path / "two.parquet", column="b"), 2 * X.astype(np.float64))
    with pytest.raises(FileFormatError, match=r"two.parquet has no column 'c'; columns: a "):
        read_vectors(tmp_path / "two.parquet", column="c")
    with pytest.raises(FileFormatError, match=r"column 't' has type string; expected list<float>"):
        read_vectors(tmp_path / "two.parquet", column="t")


def test_parquet_ragged_null_and_missing_lists(tmp_path):
    pq.write_table(pa.table({"e": pa.array([[1.0, 2.0], [3.0]], type=pa.list_(pa.float32()))}), tmp_path / "r.parquet")
    with pytest.raises(FileFormatError, match=r"r.parquet: column 'e' row 1 has 1 values, expected 2 \(from row 0\)"):
        read_vectors(tmp_path / "r.parquet")
    pq.write_table(pa.table({"e": pa.array([[1.0], None], type=pa.list_(pa.float32()))}), tmp_path / "n.parquet")
    with pytest.raises(FileFormatError, match=r"n.parquet: column 'e' has 1 null row\(s\), first at \[1\]"):
        read_vectors(tmp_path / "n.parquet")
    pq.write_table(pa.table({"x": [1.0, 2.0]}), tmp_path / "s.parquet")
    with pytest.raises(FileFormatError, match=r"s.parquet has no list<float> column; pass column= one of: x \(double\)"):
        read_vectors(tmp_path / "s.parquet")


# ---------------------------------------------------------------- dispatch and ids / qrels


def test_unknown_extension_and_missing_file(tmp_path):
    (tmp_path / "x.csv").write_text("1,2\n")
    supported = r"\.npy, \.fvecs, \.ivecs, \.bvecs, \.hdf5, \.h5, \.parquet"
    with pytest.raises(FileFormatError, match=rf"x\.csv: unsupported extension '\.csv'; supported: {supported}$"):
        read_vectors(tmp_path / "x.csv")
    with pytest.raises(FileFormatError, match=r"nope.npy: no such file"):
        read_vectors(tmp_path / "nope.npy")
    with pytest.raises(FileFormatError, match=r"is a directory"):
        read_vectors(tmp_path)


def test_format_specific_keywords_are_not_silently_ignored(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((2, 2), dtype=np.float32))
    with pytest.raises(
        ParameterError, match=r"The 'dataset' parameter of read_vectors applies to .hdf5 files only; x.npy is .npy"
    ):
        read_vectors(tmp_path / "x.npy", dataset="train")
    with pytest.raises(ParameterError, match=r"The 'column' parameter of read_vectors applies to .parquet files only"):
        read_vectors(tmp_path / "x.npy", column="emb")


def test_read_ids(tmp_path, rng):
    gt = rng.integers(0, 1000, (5, 10)).astype(np.int32)
    write_vecs(tmp_path / "groundtruth.ivecs", gt)
    np.save(tmp_path / "gt.npy", gt)
    for name in ("groundtruth.ivecs", "gt.npy"):
        out = read_ids(tmp_path / name)
        assert out.dtype == np.int32 and np.array_equal(out, gt)
    np.save(tmp_path / "f.npy", gt.astype(np.float32))
    with pytest.raises(DTypeError, match=r"f.npy holds dtype float32; expected integer ids"):
        read_ids(tmp_path / "f.npy")
    write_vecs(tmp_path / "groundtruth.fvecs", gt.astype(np.float32))
    with pytest.raises(FileFormatError, match=r"unsupported extension '.fvecs'; supported: .ivecs, .npy, .hdf5, .h5"):
        read_ids(tmp_path / "groundtruth.fvecs")


def test_read_qrels_jsonl(tmp_path):
    lines = [{"id": 0, "relevant_doc_ids": [3, 5]}, {"id": 1, "relevant_doc_ids": 7}, {"id": 2, "relevant_doc_ids": []}]
    (tmp_path / "q.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    out = read_qrels_jsonl(tmp_path / "q.jsonl")
    assert [a.tolist() for a in out] == [[3, 5], [7], []]
    assert all(a.dtype == np.int64 for a in out)

    (tmp_path / "m.jsonl").write_text('{"relevant_doc_ids": [1]}\n{"id": 1, "text": "x"}\n')
    with pytest.raises(FileFormatError, match=r"m.jsonl line 2 has no 'relevant_doc_ids' field; it has: id, text"):
        read_qrels_jsonl(tmp_path / "m.jsonl")
    (tmp_path / "bad.jsonl").write_text('{"relevant_doc_ids": [1]}\n{oops\n')
    with pytest.raises(FileFormatError, match=r"bad.jsonl line 2 is not valid JSON"):
        read_qrels_jsonl(tmp_path / "bad.jsonl")
    (tmp_path / "l.jsonl").write_text('{"relevant_doc_ids": [1]}\n[1, 2]\n')
    with pytest.raises(FileFormatError, match=r"^l.jsonl line 2 is a JSON list; expected an object$"):
        read_qrels_jsonl(tmp_path / "l.jsonl")
    (tmp_path / "bom.jsonl").write_bytes(b'\xef\xbb\xbf{"relevant_doc_ids": [4]}\n')
    assert [a.tolist() for a in read_qrels_jsonl(tmp_path / "bom.jsonl")] == [[4]]
    (tmp_path / "s.jsonl").write_text('{"rel": ["a"]}\n')
    with pytest.raises(FileFormatError, match=r"s.jsonl line 1: 'rel' must be an int or a list of ints"):
        read_qrels_jsonl(tmp_path / "s.jsonl", field="rel")
