"""The thin edges' shared logic: reading record files, ids from JSON, filter validation, batched adds; the parts' seams."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from lowdim import ConflictError, DimensionError, FileFormatError, ParameterError, ValidationError
from lowdim.store import Collection, check_filter, compile_filter, normalize_ids, read_ids, read_records


@pytest.fixture
def rec_files(tmp_path, make_vectors):
    X = make_vectors(5, 8)
    np.save(tmp_path / "v.npy", X)
    (tmp_path / "m.jsonl").write_text(
        "".join(json.dumps({"key": k, "i": i}) + "\n" for i, k in enumerate(["a", 7.0, 3, "b", -2]))
    )
    (tmp_path / "ids.txt").write_text("x\n12\n-4\ny\nz\n")
    return tmp_path, X


def test_read_records_vectors_ids_metadata(rec_files):
    tmp, X = rec_files
    rec = read_records(tmp / "v.npy", ids=tmp / "ids.txt", metadata=tmp / "m.jsonl")
    np.testing.assert_array_equal(rec.vectors, X)
    assert rec.ids == ["x", 12, -4, "y", "z"] and rec.metadata[1] == {"key": 7.0, "i": 1} and len(rec) == 5
    rec = read_records(tmp / "v.npy", metadata=tmp / "m.jsonl", id_field="key")
    assert rec.ids == ["a", 7, 3, "b", -2]  # 7.0 from JSON is the integer 7
    assert read_records(tmp / "v.npy").ids is None


def test_read_records_texts_take_their_jsonl_objects_as_metadata(tmp_path):
    (tmp_path / "t.jsonl").write_text('{"text": "a cat", "id": 1}\n{"text": "a dog", "id": 2}\n')
    rec = read_records(texts=tmp_path / "t.jsonl", field="text", id_field="id")
    assert (rec.vectors, rec.texts, rec.ids) == (None, ["a cat", "a dog"], [1, 2])
    assert rec.metadata == [{"text": "a cat", "id": 1}, {"text": "a dog", "id": 2}]


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (
            {"metadata": "m3.jsonl"},
            ValidationError,
            r"^m3.jsonl has 3 line\(s\), but v.npy holds 5 vectors; expected one JSON object per vector$",
        ),
        (
            {"ids": "ids3.txt"},
            ValidationError,
            r"^ids3.txt has 3 id\(s\), but v.npy holds 5 vectors; expected one id per vector$",
        ),
        ({"ids": "blank.txt"}, ValidationError, r"^blank.txt line 2 is empty; expected one id per line$"),
        ({"ids": "nope.txt"}, FileFormatError, r"^ids file .*nope.txt does not exist$"),
        ({"metadata": "nope.jsonl"}, FileFormatError, r"^metadata file .*nope.jsonl does not exist$"),
        ({"metadata": "m.jsonl", "id_field": "missing"}, ValidationError, r"^m.jsonl line 1 has no field 'missing'$"),
        ({"id_field": "key"}, ParameterError, r"^id field 'key' needs a metadata file"),
        (
            {"ids": "ids.txt", "id_field": "key", "metadata": "m.jsonl"},
            ParameterError,
            r"^give either an ids file or an id field",
        ),
        ({"texts": "t.txt"}, ParameterError, r"^give either a vectors file or a texts file"),
    ],
)
def test_read_records_errors_are_one_line(rec_files, kwargs, error, message):
    tmp, _ = rec_files
    (tmp / "m3.jsonl").write_text("{}\n{}\n{}\n")
    (tmp / "ids3.txt").write_text("1\n2\n3\n")
    (tmp / "blank.txt").write_text("1\n\n3\n4\n5\n")
    kwargs = {k: (tmp / v if k != "id_field" else v) for k, v in kwargs.items()}
    with pytest.raises(error, match=message):
        read_records(tmp / "v.npy", **kwargs)


def test_read_ids_and_normalize_ids():
    assert normalize_ids([7.0, -3.0, 1.5, "7", True, 2.0**63, -(2.0**63), 1e19]) == [
        7,
        -3,
        1.5,
        "7",
        True,
        2.0**63,
        -(2**63),
        1e19,
    ]
    with pytest.raises(FileFormatError, match="ids file .* does not exist"):
        read_ids(Path("/nonexistent/ids.txt"))


def test_check_filter_validates_like_compile_filter_without_sql():
    assert check_filter(None) is None
    assert check_filter({"score": {"$gte": 1e19}}) == {"score": {"$gte": 1e19}}  # a REAL
    compile_filter({"score": {"$gte": 1e19}})
    for bad, message in [
        ({"score": 2**64}, r"^filter value for 'score' \$eq is 18446744073709551616, which does not fit in 64 bits"),
        ({"score": {"$in": [1, -(2**70)]}}, r"^filter value for 'score' \$in is -1180591620717411303424, which does not fit"),
        ({"year": {"$between": 1}}, r"^unknown filter operator '\$between' on field 'year'"),
        ("pos", r"^a filter must be a dict such as"),
    ]:
        with pytest.raises(ParameterError, match=message):
            check_filter(bad)
        with pytest.raises(ParameterError, match=message):
            compile_filter(bad)


def test_float_filter_values_beyond_int64_search_fine(filled, data):
    _, Q = data
    res = filled.search(Q[:2], 5, filter={"year": {"$lt": 1e19}})
    assert (res.ids != None).all()  # noqa: E711


# ---------------------------------------------------------------------------- batched adds


def test_add_in_durable_batches(tmp_path, data):
    X, Q = data
    np.save(tmp_path / "x.npy", X)
    mapped = np.load(tmp_path / "x.npy", mmap_mode="r")
    col = Collection.create(tmp_path / "c", dim=32, train_size=1000)
    ids = col.add(mapped, metadata=[{"i": i} for i in range(3000)], batch_size=1200)
    info = col.info()
    assert ids == list(range(3000)) and (info["segments"], info["generation"], info["codec_rows"]) == (3, 4, 1000)
    np.testing.assert_array_equal(col.get([0, 1199, 1200, 2999]).vectors, X[[0, 1199, 1200, 2999]])
    assert col.upsert(X[:5].tolist(), ids=[0, 1, 2, 3, "new"], batch_size=2) == [0, 1, 2, 3, "new"]
    assert col.info()["segments"] == 6 and len(col) == 3001
    col.close()


def test_batched_add_checks_everything_before_the_first_batch(tmp_path, data):
    X, _ = data
    col = Collection.create(tmp_path / "c", dim=32, train_size=1000)
    col.add(X[:10], ids=[f"x{i}" for i in range(10)])
    with pytest.raises(DimensionError, match=r"^X has 16 features, but this collection expects 32$"):
        col.add(np.zeros((50, 16), np.float32), batch_size=10)
    with pytest.raises(ValidationError, match="ids contain duplicates"):
        col.add(X[:50], ids=[0] * 50, batch_size=10)
    with pytest.raises(ConflictError, match=r"^1 of the 50 ids are already in this collection \('x3'\)"):
        col.add(X[:50], ids=[f"y{i}" for i in range(49)] + ["x3"], batch_size=10)
    with pytest.raises(ParameterError, match=r"The 'batch_size' parameter of add must be an integer >= 1. Got 0."):
        col.add(X[:50], batch_size=0)
    assert len(col) == 10 and col.info()["segments"] == 1
    col.close()


# ---------------------------------------------------------------------------- the parts' seams

STORE = Path(__file__).resolve().parents[2] / "src" / "lowdim" / "store"


def test_sql_lives_in_the_catalog_and_check_uses_public_methods():
    for path in STORE.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        if path.name != "_catalog.py":
            assert ".execute(" not in text and "executemany(" not in text, f"SQL outside the catalog: {path.name}"
    check = (STORE / "_check.py").read_text(encoding="utf-8")
    assert not re.search(r"\bcol\._", check) and "_codec_num" not in check
