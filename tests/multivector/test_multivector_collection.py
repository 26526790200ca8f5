"""MultiVectorCollection: exact Chamfer against brute force, writes, reopen, filters, bad input, kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from lowdim.exceptions import ConflictError, DimensionError, NotFoundError, ParameterError, ValidationError
from lowdim.multivector import FDE, TOKENS_KEY, MultiVectorCollection, TokenSets, chamfer_topk

DIM = 16
SMALL_FDE = FDE(k_sim=2, d_proj=8, reps=4, seed=0)


def token_sets(n: int, *, seed: int = 0, dim: int = DIM) -> list[np.ndarray]:
    """Documents with structure: tokens scattered around one of 8 topic centres, 2-7 tokens each, unit rows."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(8, dim))
    out = []
    for _ in range(n):
        c = centres[rng.integers(8)]
        t = c + 0.6 * rng.normal(size=(int(rng.integers(2, 8)), dim))
        out.append((t / np.linalg.norm(t, axis=1, keepdims=True)).astype(np.float32))
    return out


def make(tmp_path, docs=None, *, spec: str = "f32", **kw) -> MultiVectorCollection:
    col = MultiVectorCollection.create(tmp_path / "mv", dim=DIM, spec=spec, fde=SMALL_FDE, **kw)
    if docs is not None:
        col.add(docs, metadata=[{"topic": i % 3} for i in range(len(docs))])
    return col


def test_search_with_every_candidate_equals_brute_force_chamfer(tmp_path):
    docs, queries = token_sets(120), token_sets(6, seed=1)
    with make(tmp_path, docs) as col:
        res = col.search(queries, k=5, candidates=len(docs))
    s, ids = chamfer_topk(queries, docs, 5)
    assert res.ids.tolist() == ids.tolist()
    np.testing.assert_allclose(res.scores, s, rtol=1e-2, atol=1e-2)  # tokens are stored as float16


def test_first_stage_finds_the_document_itself_and_is_the_fused_score(tmp_path):
    docs = token_sets(200)
    with make(tmp_path, docs, pooled_weight=1.0) as col:
        res = col.search(docs[:10], k=1, candidates=10)
        assert [r[0] for r in res.ids.tolist()] == list(range(10))
        X, Q = col.encode_documents(docs[:3]), col.encode_queries(docs[:1])
        fde = col.fde
        raw = fde.encode_queries(docs[:1]) @ fde.encode_documents(docs[:3]).T / (len(docs[0]) * fde.reps)
        pooled = [d.mean(0) / np.linalg.norm(d.mean(0)) for d in docs[:3]]
        cos = np.array([pooled[0] @ p for p in pooled])
        np.testing.assert_allclose((Q @ X.T)[0], raw[0] + cos, rtol=1e-4, atol=1e-5)


def test_add_delete_upsert_get_and_reopen(tmp_path):
    docs = token_sets(60)
    with make(tmp_path, docs) as col:
        assert col.add(token_sets(2, seed=5), ids=["a", "b"], metadata=[{"x": 1}, None]) == ["a", "b"]
        assert col.delete([3, 4, 999]) == 2
        new = token_sets(1, seed=9)
        col.upsert(new, ids=[5], metadata=[{"topic": 7}])
        got = col.get([0, 5, "a", "b"])
        assert got.metadata == [{"topic": 0}, {"topic": 7}, {"x": 1}, None]
        np.testing.assert_allclose(got.tokens[0], docs[0], atol=1e-3)
        np.testing.assert_allclose(got.tokens[1], new[0], atol=1e-3)
        with pytest.raises(NotFoundError, match="not in this collection"):
            col.get([3])
    with MultiVectorCollection.open(tmp_path / "mv", readonly=True) as col:
        assert len(col) == 60
        res = col.search(new + [docs[0]], k=1, candidates=62, with_metadata=True)
        assert res.ids[:, 0].tolist() == [5, 0]
        assert res.metadata is not None and res.metadata[0][0] == {"topic": 7}  # the reserved key is stripped
        assert 3 not in col.search([docs[3]], k=10, candidates=62).ids.tolist()[0]
        with pytest.raises(ConflictError, match="readonly"):
            col.add(docs[:1])
        assert col.info()["token_files"] == 3


def test_filters_return_k(tmp_path):
    docs = token_sets(150)
    with make(tmp_path, docs) as col:
        res = col.search(token_sets(4, seed=2), k=10, candidates=12, filter={"topic": 2}, with_metadata=True)
    assert all(v is not None for v in res.ids.ravel())
    assert res.metadata is not None and all(m == {"topic": 2} for row in res.metadata for m in row)
    assert all(i % 3 == 2 for i in res.ids.ravel())


def test_compact_deletes_unreferenced_token_files(tmp_path):
    docs = token_sets(40)
    with make(tmp_path, docs[:20]) as col:
        col.add(docs[20:], ids=list(range(20, 40)))
        (tmp_path / "mv" / "tokens" / "00000007.npy").write_bytes(b"left by a crash")
        col.delete(list(range(20)))  # every document of the first token file
        assert col.compact() == 2
        assert sorted(p.name for p in (tmp_path / "mv" / "tokens").iterdir()) == ["00000001.npy"]
        assert col.search([docs[30]], k=1, candidates=20).ids[0, 0] == 30
        assert col.info()["token_files"] == 1


def _files(root):
    return sorted((p.relative_to(root).as_posix(), p.stat().st_size) for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    ("bad", "error", "match"),
    [
        ((np.ones((5, DIM), np.float32), np.array([0, 2, 4])), ValidationError, "offsets run from 0 to 4"),
        ([np.ones((2, DIM)), np.ones((0, DIM))], ValidationError, "empty"),
        ([np.ones((2, DIM + 1))], DimensionError, f"17 features, but this collection expects {DIM}"),
        ([np.ones((2, DIM)), np.array([[np.nan] * DIM])], ValidationError, "NaN"),
    ],
)
def test_bad_token_sets_are_one_line_errors_and_nothing_is_written(tmp_path, bad, error, match):
    with make(tmp_path, token_sets(10)) as col:
        before = _files(tmp_path / "mv")
        with pytest.raises(error, match=match) as info:
            col.add(bad)
        assert "\n" not in str(info.value)
        with pytest.raises(ValidationError, match="reserved key"):
            col.add(token_sets(1), metadata=[{TOKENS_KEY: 1}])
        with pytest.raises(Exception, match="already"):
            col.add(token_sets(1), ids=[0])  # a duplicate id fails in the inner add: the token file is removed
        assert _files(tmp_path / "mv") == before
        assert len(col) == 10


def test_bad_settings(tmp_path):
    with pytest.raises(ParameterError, match="drop \\+rerank"):
        MultiVectorCollection.create(tmp_path / "a", dim=DIM, spec="int8+rerank4")
    with pytest.raises(ParameterError, match="pooled_weight"):
        MultiVectorCollection.create(tmp_path / "b", dim=DIM, pooled_weight=-1)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    with make(tmp_path) as col:
        fde_dim = col.fde.output_dim
    assert not SMALL_FDE.is_fitted  # the collection fits its own copy
    with pytest.raises(ConflictError, match="not an empty folder"):
        make(tmp_path)
    settings = json.loads((tmp_path / "mv" / "multivector.json").read_text())
    assert settings["fde"]["k_sim"] == 2 and settings["inner_dim"] == fde_dim + DIM == 4 * 4 * 8 + DIM


def test_pooled_weight_zero_leaves_the_pooled_part_out(tmp_path):
    docs = token_sets(30)
    with make(tmp_path, docs, pooled_weight=0.0) as col:
        assert col.info()["first_stage_dim"] == col.fde.output_dim
        assert col.search(docs[:3], k=1, candidates=30).ids[:, 0].tolist() == [0, 1, 2]


_WRITER = textwrap.dedent(
    """
    import sys, numpy as np
    from lowdim.multivector import FDE, MultiVectorCollection
    rng = np.random.default_rng(0)
    col = MultiVectorCollection.open(sys.argv[1])
    for b in range(10_000):
        sets = [rng.normal(size=(3, 16)).astype(np.float32) for _ in range(20)]
        col.add(sets, ids=[f"{b}-{i}" for i in range(20)])
        print(b, flush=True)  # acknowledged
    """
)


def test_kill_9_during_adds_loses_no_acknowledged_document(tmp_path):
    make(tmp_path).close()
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path / "mv")], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    acked = -1
    deadline = time.time() + 30
    while acked < 5 and time.time() < deadline:
        line = proc.stdout.readline()
        if line:
            acked = int(line)
    os.kill(proc.pid, signal.SIGKILL)
    rest = proc.stdout.read()
    proc.wait()
    acked = max([acked] + [int(x) for x in rest.split()])
    assert acked >= 5
    with MultiVectorCollection.open(tmp_path / "mv") as col:
        have = set(col.ids())
        want = {f"{b}-{i}" for b in range(acked + 1) for i in range(20)}
        assert want <= have
        got = col.get(sorted(have, key=str))  # every stored document's tokens are readable (none points at a lost file)
        assert got.tokens.lengths.tolist() == [3] * len(have)
        col.compact()
        n_files = len(list((tmp_path / "mv" / "tokens").iterdir()))
        assert n_files == len({str(k).split("-")[0] for k in have})  # the unreferenced file of the killed add is gone


def test_token_sets_forms_and_one_query(tmp_path):
    docs = token_sets(20)
    ts = TokenSets.from_list(docs)
    with make(tmp_path) as col:
        col.add((ts.rows, ts.offsets))
        a = col.search([docs[2]], k=3, candidates=20)
        b = col.search(TokenSets.from_list([docs[2]]), k=3, candidates=20)
    assert a.ids.shape == (1, 3) and a.ids.tolist() == b.ids.tolist() and a.ids[0, 0] == 2


def test_batch_size_writes_one_token_file_per_batch(tmp_path):
    docs = token_sets(30)
    with make(tmp_path) as col:
        assert col.add(docs, batch_size=7) == list(range(30))
        assert col.info()["token_files"] == 5
        got = col.get([6, 7, 29])
        for i, j in enumerate([6, 7, 29]):
            np.testing.assert_allclose(got.tokens[i], docs[j], atol=1e-3)
        assert col.search(docs[20:23], k=1, candidates=30).ids[:, 0].tolist() == [20, 21, 22]


def test_a_reader_keeps_its_snapshot_across_a_compact(tmp_path):
    docs = token_sets(40)
    with make(tmp_path) as col:
        col.add(docs[:20])
        col.add(docs[20:])
        (tmp_path / "mv" / "tokens" / "00000002.npy").write_bytes(b"")  # a file an add was killed in
        reader = MultiVectorCollection.open(tmp_path / "mv", readonly=True)
        col.delete(list(range(20)))
        assert col.compact() == 2  # the first batch's file and the empty one
        assert reader.search([docs[3]], k=1, candidates=40).ids[0, 0] == 3  # still mapped: its snapshot has 3
        reader.refresh()
        assert len(reader) == 20 and reader.search([docs[3]], k=1, candidates=40).ids[0, 0] != 3
        reader.close()
