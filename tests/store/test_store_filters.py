"""Metadata filters: SQL semantics against a Python oracle (Hypothesis), and filtered search end to end."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lowdim import ParameterError
from lowdim.eval import exact_knn, recall_at_k
from lowdim.store import FILTER_OPERATORS, Collection, compile_filter
from lowdim.store._filters import check_metadata, index_rows

# ---------------------------------------------------------------------------- a Python oracle


def _norm(v):
    return int(v) if isinstance(v, bool) else v


def _same_type(a, b) -> bool:
    return isinstance(a, str) == isinstance(b, str)


def _values(meta: dict, field: str) -> list:
    if field not in meta:
        return []
    v = meta[field]
    items = v if isinstance(v, list) else [v]
    return [_norm(x) for x in items if isinstance(x, (str, int, float, bool))]


def _op(meta: dict, field: str, op: str, arg) -> bool:
    vals = _values(meta, field)
    if op == "$eq":
        return any(_same_type(v, _norm(arg)) and v == _norm(arg) for v in vals)
    if op == "$ne":
        return not _op(meta, field, "$eq", arg)
    if op == "$in":
        return any(_op(meta, field, "$eq", a) for a in arg)
    if op == "$nin":
        return not _op(meta, field, "$in", arg)
    a = _norm(arg)
    cmp = {"$lt": lambda x: x < a, "$lte": lambda x: x <= a, "$gt": lambda x: x > a, "$gte": lambda x: x >= a}[op]
    return any(_same_type(v, a) and cmp(v) for v in vals)


def oracle(flt: dict, meta: dict) -> bool:
    for key, cond in flt.items():
        if key == "$and":
            ok = all(oracle(f, meta) for f in cond)
        elif key == "$or":
            ok = any(oracle(f, meta) for f in cond)
        elif isinstance(cond, dict):
            ok = all(_op(meta, key, op, arg) for op, arg in cond.items())
        else:
            ok = _op(meta, key, "$eq", cond)
        if not ok:
            return False
    return True


def _db(metas: list[dict]) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.executescript(
        "CREATE TABLE items (rowid INTEGER PRIMARY KEY, uid NOT NULL UNIQUE, meta TEXT);"
        "CREATE TABLE meta_kv (key TEXT NOT NULL, value NOT NULL, rowid INTEGER NOT NULL, PRIMARY KEY (key, value, rowid)) WITHOUT ROWID;"
    )
    for rid, m in enumerate(metas):
        conn.execute("INSERT INTO items VALUES (?, ?, NULL)", (rid, rid))
        conn.executemany("INSERT OR IGNORE INTO meta_kv VALUES (?, ?, ?)", list(index_rows(rid, m)))
    return conn


def _run(conn: sqlite3.Connection, flt: dict) -> set[int]:
    sql, params = compile_filter(flt)
    return {r[0] for r in conn.execute(sql, params)}


scalar = st.one_of(st.integers(-3, 3), st.sampled_from(["x", "y", "z"]), st.sampled_from([0.5, 2.0, -1.5]), st.booleans())
value = st.one_of(scalar, st.lists(scalar, max_size=3))
metas_st = st.lists(st.dictionaries(st.sampled_from(["a", "b", "c"]), value, max_size=3), min_size=1, max_size=25)
op_st = st.sampled_from(FILTER_OPERATORS)


@st.composite
def conditions(draw):
    op = draw(op_st)
    arg = draw(st.lists(scalar, max_size=3)) if op in ("$in", "$nin") else draw(scalar)
    return {op: arg}


@st.composite
def filters(draw, depth: int = 2):
    out = {}
    for field in draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=2, unique=True)):
        out[field] = draw(st.one_of(scalar, conditions()))
    if depth and draw(st.booleans()):
        out[draw(st.sampled_from(["$and", "$or"]))] = draw(st.lists(filters(depth=depth - 1), min_size=1, max_size=2))
    return out


@settings(max_examples=150, deadline=None)
@given(metas=metas_st, flt=filters())
def test_sql_matches_the_oracle(metas, flt):
    conn = _db(metas)
    assert _run(conn, flt) == {i for i, m in enumerate(metas) if oracle(flt, m)}


def test_semantics_examples():
    metas = [
        {"pos": "n", "year": 2021, "tag": ["a", "b"]},
        {"pos": "v", "year": "2021", "tag": "c"},
        {"pos": "n", "year": 2019, "flag": True},
        {"year": 2020.5},
    ]
    conn = _db(metas)
    assert _run(conn, {"pos": "n"}) == {0, 2}
    assert _run(conn, {"year": {"$gte": 2020}}) == {0, 3}  # the string "2021" is not a number
    assert _run(conn, {"year": {"$gte": "2020"}}) == {1}
    assert _run(conn, {"tag": "a"}) == {0}  # any element of a list
    assert _run(conn, {"tag": {"$in": ["b", "c"]}}) == {0, 1}
    assert _run(conn, {"pos": {"$ne": "n"}}) == {1, 3}  # includes items without the field
    assert _run(conn, {"tag": {"$nin": ["a"]}}) == {1, 2, 3}
    assert _run(conn, {"pos": "n", "year": {"$lt": 2020}}) == {2}
    assert _run(conn, {"flag": True}) == {2} and _run(conn, {"flag": 1}) == {2}
    assert _run(conn, {"$or": [{"pos": "v"}, {"year": {"$gt": 2020, "$lt": 2021}}]}) == {1, 3}
    assert _run(conn, {"year": {"$in": []}}) == set()
    assert _run(conn, {}) == {0, 1, 2, 3}


def test_selective_filters_use_the_index():
    sql, params = compile_filter({"pos": "n", "year": {"$gte": 2020}})
    conn = _db([{"pos": "n", "year": 2020}])
    plan = " ".join(str(r[-1]) for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
    assert "SCAN meta_kv" not in plan and "USING PRIMARY KEY" in plan or "USING COVERING INDEX" in plan


@pytest.mark.parametrize(
    "flt, message",
    [
        (
            {"year": {"$between": [1, 2]}},
            r"^unknown filter operator '\$between' on field 'year'; valid operators: \$eq, \$ne, \$lt, \$lte, \$gt, \$gte, \$in, \$nin \(and \$and, \$or to combine filters\)$",
        ),
        ({"$not": {"a": 1}}, r"^unknown filter operator '\$not' at the top level; valid operators: \$eq"),
        ({"tag": {"$in": "a"}}, r"^filter operator \$in on 'tag' needs a list of values; got str 'a'$"),
        ({"tag": ["a", "b"]}, r"use \{'tag': \{'\$in': \[...\]\}\} to match any of several values"),
        ({"x": None}, r"^filter value for 'x' \$eq is None; null cannot be filtered on"),
        ({"x": {"$gt": {"a": 1}}}, r"^filter value for 'x' \$gt must be a string, a finite number or a boolean; got dict"),
        ({"x": float("nan")}, r"must be a string, a finite number or a boolean; got float nan"),
        ({"x": {}}, r"^filter condition for 'x' is an empty dict"),
        ({"$or": []}, r"^filter operator \$or needs a non-empty list of filters"),
        ([("a", 1)], r"^a filter must be a dict such as"),
        ({"x": 2**64}, r"^filter value for 'x' \$eq is 18446744073709551616, which does not fit in 64 bits"),
        ({"x": {"$in": ["ok", "\udcff"]}}, r"^filter value for 'x' \$in is not valid Unicode \(it has a lone surrogate\)"),
    ],
)
def test_bad_filters_are_one_line_errors(flt, message):
    with pytest.raises(ParameterError, match=message):
        compile_filter(flt)


def test_metadata_validation():
    assert check_metadata(None, 2) == [None, None]
    assert check_metadata([{"a": 1}, None], 2) == ['{"a":1}', None]
    with pytest.raises(ValueError, match="not one dict"):
        check_metadata({"a": 1}, 1)
    with pytest.raises(ValueError, match=r"metadata\[0\] has a non-string key 1"):
        check_metadata([{1: "x"}], 1)
    with pytest.raises(ValueError, match=r"metadata\[0\] is not JSON-serialisable"):
        check_metadata([{"x": float("inf")}], 1)


# ---------------------------------------------------------------------------- filtered search end to end


def _exact_filtered(X, Q, rows, k=10):
    _, g = exact_knn(X[rows], Q, k, metric="cosine")
    return rows[g]


@pytest.mark.parametrize(
    "flt, pick",
    [
        ({"kind": "rare"}, lambda i, m: m["kind"] == "rare"),  # 3%: subset scan
        ({"kind": "tenth"}, lambda i, m: m["kind"] == "tenth"),  # 10%
        ({"kind": {"$ne": "rare"}}, lambda i, m: m["kind"] != "rare"),  # 97%: post-filter
        ({"tags": "even", "year": {"$gte": 2010, "$lt": 2015}}, lambda i, m: i % 2 == 0 and 10 <= i % 25 < 15),
        ({"$or": [{"kind": "rare"}, {"flag": True}]}, lambda i, m: m["kind"] == "rare" or m["flag"]),
        ({"score": {"$gt": 9.5}}, lambda i, m: m["score"] > 9.5),
    ],
)
def test_filtered_search_returns_k_and_high_recall(filled, data, meta, as_ids, flt, pick):
    X, Q = data
    rows = np.array([i for i, m in enumerate(meta) if pick(i, m)])
    res = filled.search(Q, 10, filter=flt)
    got = as_ids(res)
    assert (got >= 0).all(), "k results whenever at least k items match"
    assert set(got.ravel()) <= set(rows.tolist())
    assert recall_at_k(got, _exact_filtered(X, Q, rows), 10) >= 0.95


def test_long_or_lists_are_nested_below_sqlites_compound_limit(filled, data, meta, as_ids):
    """SQLite refuses compound SELECTs of more than 500 terms; 2,000 alternatives still work."""
    _, Q = data
    years = sorted({m["year"] for m in meta})[:3]
    alternatives = [{"year": y} for y in years] + [{"kind": f"none-{i}"} for i in range(2000)]
    got = as_ids(filled.search(Q[:2], 10, filter={"$or": alternatives}))
    want = {i for i, m in enumerate(meta) if m["year"] in years}
    assert (got >= 0).all() and set(got.ravel()) <= want
    deep = {"$and": [{"$or": alternatives}] * 3 + [{"kind": {"$nin": [f"x{i}" for i in range(3000)]}}]}
    got = as_ids(filled.search(Q[:1], 5, filter=deep))
    assert (got >= 0).all() and set(got.ravel()) <= want


def test_filter_with_fewer_than_k_matches_pads(filled, data, meta):
    _, Q = data
    res = filled.search(Q[:3], 10, filter={"year": 2003, "kind": "rare"})
    want = {i for i, m in enumerate(meta) if m["year"] == 2003 and m["kind"] == "rare"}
    assert 0 < len(want) < 10
    for row in res.ids:
        assert set(v for v in row if v is not None) == want
        assert list(row[len(want) :]) == [None] * (10 - len(want))
    none = filled.search(Q[:2], 5, filter={"kind": "absent"})
    assert (none.ids == None).all() and np.isneginf(none.scores).all()  # noqa: E711


def test_filters_see_deletes_and_upserts(filled, data, meta):
    X, Q = data
    rare = [i for i, m in enumerate(meta) if m["kind"] == "rare"]
    filled.delete(rare[:40])
    res = filled.search(Q, 10, filter={"kind": "rare"})
    assert not set(rare[:40]) & set(res.ids.ravel().tolist())
    assert all(v is not None for v in res.ids.ravel())
    filled.upsert(X[rare[50] : rare[50] + 1], ids=[rare[50]], metadata=[{"kind": "moved"}])
    assert filled.search(X[rare[50] : rare[50] + 1], 1, filter={"kind": "moved"}).ids[0, 0] == rare[50]
    assert rare[50] not in filled.search(Q, 100, filter={"kind": "rare"}).ids


def test_broad_filter_far_from_the_queries_still_fills_k(tmp_path, make_vectors, as_ids):
    # 75% of the rows (group "a") lie far from every query; the nearest candidates are all
    # group "b", so the post-filter has to grow its oversampling until it reaches group "a".
    A = make_vectors(1500, 16, seed=3) + 20.0
    B = make_vectors(500, 16, seed=4) - 20.0
    X = np.vstack([A, B])
    col = Collection.create(tmp_path / "c", dim=16, spec="int8+rerank2", metric="l2", train_size=500)
    col.add(X, metadata=[{"g": "a"}] * 1500 + [{"g": "b"}] * 500)
    Q = B[:20] + 0.01
    got = as_ids(col.search(Q, 10, filter={"g": "a"}))
    assert (got >= 0).all() and got.max() < 1500
    _, gt = exact_knn(A, Q, 10, metric="l2")
    assert recall_at_k(got, gt, 10) >= 0.95
    col.delete(list(range(0, 1500, 2)))  # deletes and a filter together
    got = as_ids(col.search(Q, 10, filter={"g": "a"}))
    assert (got >= 0).all() and (got % 2 == 1).all() and got.max() < 1500
    col.close()


def test_heavy_deletes_fill_k_and_pad_beyond(tmp_path, make_vectors, as_ids):
    X = make_vectors(2000, 16, seed=3)
    col = Collection.create(tmp_path / "c", dim=16, spec="binary+rerank2", train_size=500)
    col.add(X, metadata=[{"g": i % 2} for i in range(2000)])
    col.delete([i for i in range(2000) if i % 2 == 0 and i % 50 != 0])  # 40 items of group 0 remain
    got = as_ids(col.search(X[:20], 10, filter={"g": 0}))
    assert (got >= 0).all() and set(got.ravel()) <= set(range(0, 2000, 50))
    counts = (as_ids(col.search(X[:20], 50, filter={"g": 0})) >= 0).sum(axis=1)
    assert counts.tolist() == [40] * 20
    col.close()


def test_with_metadata(filled, data, meta):
    _, Q = data
    res = filled.search(Q[:2], 3, filter={"kind": "tenth"}, with_metadata=True)
    assert [[m["kind"] for m in row] for row in res.metadata] == [["tenth"] * 3] * 2
    assert res.metadata[0][0] == meta[res.ids[0, 0]]


@pytest.fixture(scope="module")
def prop_col(tmp_path_factory):
    rng = np.random.default_rng(11)
    X = (rng.standard_normal((1500, 4)) @ rng.standard_normal((4, 16)) + 0.1 * rng.standard_normal((1500, 16))).astype(np.float32)
    metas = [
        {"a": int(rng.integers(0, 50)), "b": str(rng.choice(["x", "y", "z"])), "c": [int(v) for v in rng.integers(0, 9, 2)]}
        for _ in range(1500)
    ]
    col = Collection.create(tmp_path_factory.mktemp("prop") / "c", dim=16, spec="binary+rerank4", train_size=500)
    col.add(X, metadata=metas)
    col.delete(list(range(0, 1500, 7)))
    live = [i for i in range(1500) if i % 7]
    yield col, X, metas, live
    col.close()


@settings(max_examples=60, deadline=None)
@given(
    lo=st.integers(0, 50),
    width=st.integers(0, 50),
    bs=st.lists(st.sampled_from(["x", "y", "z"]), max_size=3),
    c=st.integers(0, 9),
    k=st.integers(1, 60),
    q=st.integers(0, 1499),
)
def test_search_returns_min_k_matches_and_only_matches(prop_col, lo, width, bs, c, k, q):
    col, X, metas, live = prop_col
    flt = {"a": {"$gte": lo, "$lt": lo + width}, "$or": [{"b": {"$in": bs}}, {"c": c}]}
    want = {i for i in live if oracle(flt, metas[i])}
    res = col.search(X[q : q + 1] + 0.01, k, filter=flt)
    got = [v for v in res.ids[0] if v is not None]
    assert len(got) == min(k, len(want)) and set(got) <= want
    assert len(set(got)) == len(got)
    assert list(res.ids[0, len(got) :]) == [None] * (k - len(got))
