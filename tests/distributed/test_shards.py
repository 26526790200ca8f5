"""Sharded collections without Ray: build, search identical to one collection, routing, resume after a kill, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from typer.testing import CliRunner

from lowdim.cli import app, main
from lowdim.distributed import SHARDS_NAME, ShardedCollection, build_sharded, merge_candidates, shard_of
from lowdim.distributed._shard_build import KILL_ONCE_ENV
from lowdim.distributed._shard_manifest import CodecPlan
from lowdim.exceptions import ConflictError, DimensionError, FileFormatError, NotFoundError, ParameterError
from lowdim.spec import Pipeline
from lowdim.store import Collection

N, NQ = 20_000, 200


@pytest.fixture(scope="module")
def data(wordnet):
    X = np.asarray(wordnet.corpus[:N], dtype=np.float32)
    Q = np.asarray(wordnet.queries[:NQ], dtype=np.float32)
    meta = [{"bucket": i % 50, "rare": i % 2857 == 0} for i in range(N)]
    return X, Q, meta


def _reference(tmp, doc_path, codec_file, X, meta):
    """One collection holding every row, with the sharded build's codec (the same fitted pipeline)."""
    codec = Pipeline.load(doc_path / codec_file)
    col = Collection.create(tmp, plan=CodecPlan(codec), vector_dtype="float16", train_size=5000)
    col.add(X, metadata=meta)
    return col


@pytest.fixture(scope="module")
def built(tmp_path_factory, data):
    """A 4-shard int8+rerank4 build of 20,000 wordnet rows and the single collection to compare it with."""
    X, _, meta = data
    tmp = tmp_path_factory.mktemp("sharded")
    doc = build_sharded(tmp / "s", X, shards=4, spec="int8+rerank4", metadata=meta, train_size=5000, batch_rows=3000)
    ref = _reference(tmp / "ref", tmp / "s", doc["codec"]["file"], X, meta)
    yield tmp / "s", doc, ref
    ref.close()


def test_layout_manifest_and_routing(built, data):
    path, doc, _ = built
    X = data[0]
    on_disk = json.loads((path / SHARDS_NAME).read_text())
    assert on_disk["generation"] == 1 and on_disk["dim"] == 384 and on_disk["id_scheme"] == "crc32-utf8"
    assert [s["path"] for s in on_disk["shards"]] == [f"gen-1/shard-{i}" for i in range(4)]
    assert sum(s["count"] for s in on_disk["shards"]) == N and not (path / "build.json").exists()
    for i, s in enumerate(on_disk["shards"]):
        with Collection.open(path / s["path"], readonly=True) as col:
            ids = col.ids()
            assert len(ids) == s["count"] > 4000
            assert all(shard_of(u, 4) == i for u in ids)
            assert ids == sorted(ids)  # source order
            assert col.info()["codec_source"] == "plan"
    with ShardedCollection.open(path) as sc:
        rec = sc.get([5, 19_999, 0])
        np.testing.assert_allclose(rec.vectors, X[[5, 19_999, 0]], atol=2e-3)  # stored as float16
        assert rec.metadata[0] == {"bucket": 5, "rare": False}
        with pytest.raises(NotFoundError, match="not in this collection"):
            sc.get([N + 5])


def test_search_identical_to_one_collection(built, data):
    path, _, ref = built
    Q = data[1]
    with ShardedCollection.open(path, readonly=True) as sc:
        assert len(sc) == N
        for rerank in (None, 1, 0):
            a, b = sc.search(Q, 10, rerank=rerank), ref.search(Q, 10, rerank=rerank)
            assert a.ids.shape == (NQ, 10)
            assert (a.ids == b.ids).all(), rerank
            np.testing.assert_allclose(a.scores, b.scores, rtol=0, atol=1e-5)
        res = sc.search(Q[:20], 10, with_metadata=True)  # each hit's own metadata, from its shard
        assert all(m == {"bucket": u % 50, "rare": u % 2857 == 0} for r, ms in zip(res.ids, res.metadata) for u, m in zip(r, ms))
        one = sc.search(Q[:1], 3)  # one query: a batch of one
        assert one.ids.shape == (1, 3) and (one.ids[0] == ref.search(Q[:1], 3).ids[0]).all()
        with pytest.raises(DimensionError, match="reshape"):
            sc.search(Q[0], 3)


def test_filters_return_k_globally(built, data):
    path, _, ref = built
    Q = data[1]
    with ShardedCollection.open(path, readonly=True) as sc:
        res = sc.search(Q[:20], 10, filter={"bucket": 7}, with_metadata=True)
        assert (res.ids != None).all()  # noqa: E711 (object array)
        assert all(m["bucket"] == 7 for row in res.metadata for m in row)
        assert all(u % 50 == 7 for u in res.ids.ravel())
        rare = sc.search(Q[:5], 10, filter={"rare": True})  # 8 matches in all: every one, then padding
        assert ((rare.ids != None).sum(axis=1) == 8).all()  # noqa: E711
        assert np.isneginf(rare.scores[:, 8:]).all()
        want = ref.search(Q[:5], 10, filter={"rare": True})
        assert (rare.ids == want.ids).all()


def test_ties_at_the_candidate_boundary_are_the_only_difference_for_fast_scan_pq(tmp_path, data):
    """pq48x4 codes score through 8-bit lookup tables, so equal code scores are common. One collection breaks a tie
    at the k*R-th candidate in FAISS's order; the shards cannot know it. Every other query must be identical."""
    X, Q, _ = data
    doc = build_sharded(tmp_path / "s", X, shards=4, spec="pq48x4+rerank10", train_size=5000, batch_rows=10_000)
    ref = _reference(tmp_path / "ref", tmp_path / "s", doc["codec"]["file"], X, None)
    with ShardedCollection.open(tmp_path / "s") as sc, ref:
        a, b = sc.search(Q, 10), ref.search(Q, 10)
        code = ref.candidates(Q, 101).scores
    same = (a.ids == b.ids).all(axis=1)
    tied = code[:, 99] == code[:, 100]
    assert not (~same & ~tied).any(), np.flatnonzero(~same & ~tied)
    assert same.mean() >= 0.95
    np.testing.assert_allclose(a.scores[same], b.scores[same], rtol=0, atol=1e-5)


def test_merge_ties_go_to_the_lower_id():
    ids = np.array([[7, 3, None], ["b", "a", 2]], dtype=object)
    code = np.array([[1.0, 1.0, -np.inf], [0.5, 0.5, 0.5]], np.float32)
    out, scores, _ = merge_candidates(ids, code, None, 2, 2, metric="cosine")
    assert out.tolist() == [[3, 7], [2, "a"]]
    exact = np.array([[0.1, 0.9, -np.inf], [0.3, 0.2, 0.1]], np.float32)
    out, scores, _ = merge_candidates(ids, code, exact, 3, 2, metric="cosine")
    assert out.tolist() == [[3, 7, None], ["a", 2, None]]  # the candidates: the best 2 by code, ties to the lower id
    assert scores[0, 2] == -np.inf
    out, _, _ = merge_candidates(ids, code, None, 2, 2, metric="l2")
    assert out.tolist() == [[3, 7], [2, "a"]]


def test_add_get_delete_touch_one_shard(tmp_path, data):
    X = data[0][:3000]
    ids = [f"w{i}" for i in range(3000)]
    build_sharded(tmp_path / "s", X, shards=3, spec="int8+rerank4", ids=ids, train_size=1000)
    with ShardedCollection.open(tmp_path / "s") as sc:
        before = [s["count"] for s in sc.info()["shards"]]
        new = ["new-a", "new-b", 17]
        assert sc.add(data[0][3000:3003], ids=new) == new
        after = [s["count"] for s in sc.info()["shards"]]
        gained = np.array(after) - np.array(before)
        assert gained.tolist() == np.bincount([shard_of(u, 3) for u in new], minlength=3).tolist()
        np.testing.assert_allclose(sc.get(["new-b"]).vectors[0], data[0][3001], atol=2e-3)
        assert sc.search(data[0][3001:3002], 1).ids[0, 0] == "new-b"
        assert sc.add(data[0][3003:3004]) == [18]  # automatic ids continue after the largest integer id
        assert sc.delete(["new-a", "w5", "absent"]) == 2 and len(sc) == 3002
    reopened = json.loads((tmp_path / "s" / SHARDS_NAME).read_text())
    assert sum(s["count"] for s in reopened["shards"]) == 3002 and reopened["next_auto_id"] == 19


_KILLED_BUILD = """
import sys
from lowdim.distributed import build_sharded
build_sharded(sys.argv[1], sys.argv[2], shards=3, spec="int8+rerank4", train_size=1000, batch_rows=400)
"""


def test_killed_build_keeps_the_old_generation_and_resumes(tmp_path, data):
    X = data[0][:4000]
    np.save(tmp_path / "x.npy", X)
    out = tmp_path / "s"
    build_sharded(out, tmp_path / "x.npy", shards=3, spec="int8+rerank4", train_size=1000, batch_rows=400)
    with ShardedCollection.open(out) as sc:
        before = sc.search(data[1][:20], 5)
    flag = tmp_path / "kill-once"
    flag.touch()
    env = {**os.environ, KILL_ONCE_ENV: str(flag)}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(_KILLED_BUILD), str(out), str(tmp_path / "x.npy")], env=env)
    assert proc.returncode == -signal.SIGKILL and not flag.exists()
    assert (out / "build.json").exists() and (out / "gen-2" / "shard-0").is_dir()
    assert json.loads((out / SHARDS_NAME).read_text())["generation"] == 1  # the old generation still serves
    with ShardedCollection.open(out) as sc:
        assert (sc.search(data[1][:20], 5).ids == before.ids).all()
    with pytest.raises(ConflictError, match="unfinished build .* other parameters .*shards=3"):
        build_sharded(out, tmp_path / "x.npy", shards=4, spec="int8+rerank4", train_size=1000, batch_rows=400)
    doc = build_sharded(out, tmp_path / "x.npy", shards=3, spec="int8+rerank4", train_size=1000, batch_rows=400)
    assert doc["generation"] == 2 and not (out / "build.json").exists() and not (out / "gen-1").exists()
    for i, s in enumerate(doc["shards"]):
        with Collection.open(out / s["path"], readonly=True) as col:
            got = col.ids()
        want = [r for r in range(4000) if shard_of(r, 3) == i]
        assert got == want  # every row once, none lost, none twice
    with ShardedCollection.open(out) as sc:
        assert (sc.search(data[1][:20], 5).ids == before.ids).all()


def test_errors_are_one_line(tmp_path, data, capsys):
    X, Q, _ = data
    with pytest.raises(NotFoundError, match="no sharded collection at"):
        ShardedCollection.open(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileFormatError, match="not a sharded lowdim collection: it has no shards.json"):
        ShardedCollection.open(tmp_path / "empty")
    out = tmp_path / "s"
    build_sharded(out, X[:1000], shards=2, spec="int8", train_size=500)
    good = (out / SHARDS_NAME).read_text()
    (out / SHARDS_NAME).write_text(good[:40])
    with pytest.raises(FileFormatError, match="shards.json is damaged"):
        ShardedCollection.open(out)
    doc = json.loads(good)
    doc["codec"]["crc32"] += 1
    (out / SHARDS_NAME).write_text(json.dumps(doc))
    with pytest.raises(FileFormatError, match="does not match the CRC"):
        ShardedCollection.open(out)
    (out / SHARDS_NAME).write_text(good)
    with ShardedCollection.open(out) as sc:
        with pytest.raises(DimensionError, match="has 10 features, but this collection expects 384"):
            sc.search(Q[:2, :10], 3)
        with pytest.raises(ParameterError, match="rerank"):
            sc.search(Q[:2], 3, rerank=-1)
    with pytest.raises(ParameterError, match="Ray address 'bogus'"):
        ShardedCollection.open(out, ray_address="bogus")
    with pytest.raises(ParameterError, match="ids must be unique"):
        build_sharded(tmp_path / "t", X[:10], shards=2, spec="f16", ids=[1] * 10)
    with pytest.raises(ParameterError, match="'shards' parameter"):
        build_sharded(tmp_path / "t", X[:10], shards=0, spec="f16")
    with pytest.raises(SystemExit):
        main(["shard", "info", str(tmp_path / "absent")])
    err = capsys.readouterr().err
    assert err.startswith("error: no sharded collection") and err.count("\n") == 1


def test_cli_build_info_search(tmp_path, data):
    X, Q, _ = data
    np.save(tmp_path / "x.npy", X[:2000])
    np.save(tmp_path / "q.npy", Q[:4])
    runner = CliRunner()
    out = str(tmp_path / "s")
    r = runner.invoke(app, ["shard", "build", str(tmp_path / "x.npy"), out, "--shards", "2", "--spec", "int8+rerank4"])
    assert r.exit_code == 0, r.output
    assert "2,000 vectors in 2 shards" in r.output
    r = runner.invoke(app, ["shard", "info", out])
    assert r.exit_code == 0 and "gen-1/shard-1" in r.output
    r = runner.invoke(
        app, ["shard", "search", out, "--queries", str(tmp_path / "q.npy"), "--k", "3", "--json", str(tmp_path / "r.json")]
    )
    assert r.exit_code == 0, r.output
    with ShardedCollection.open(out) as sc:
        assert json.loads((tmp_path / "r.json").read_text())["ids"] == sc.search(Q[:4], 3).to_lists()[0]


def test_server_fronts_a_sharded_collection(built, data):
    from fastapi.testclient import TestClient

    from lowdim.server import create_app

    path, _, ref = built
    Q = data[1][:3]
    with TestClient(create_app([path], allow_unauthenticated_writes=True)) as client:
        r = client.get("/collections")
        assert r.status_code == 200 and r.json()["collections"][0]["count"] == N
        r = client.post(f"/collections/{path.name}/search", json={"queries": Q.tolist(), "k": 5})
        assert r.status_code == 200, r.text
        assert r.json()["ids"] == ref.search(Q, 5).to_lists()[0]
        r = client.post(f"/collections/{path.name}/get", json={"ids": [3]})
        assert r.status_code == 200 and r.json()["metadata"] == [{"bucket": 3, "rare": False}]
        r = client.post(f"/collections/{path.name}/delete", json={"ids": [3]})
        assert r.status_code == 409 and "sharded and served read-only" in r.text


def test_collection_candidates_and_rescore(built, data):
    """The two public stages a merge needs: code scores even over few rows, and a rerank's exact scores."""
    _, _, ref = built
    Q = data[1][:8]
    full = ref.search(Q, 10)  # int8+rerank4: 40 candidates by code score, then exact
    cand = ref.candidates(Q, 40)
    exact = ref.rescore(Q, cand.ids)
    assert exact.shape == (8, 40) and exact.dtype == np.float32
    order = np.argsort(-exact, axis=1, kind="stable")[:, :10]
    assert (np.take_along_axis(cand.ids, order, axis=1) == full.ids).all()
    np.testing.assert_allclose(np.take_along_axis(exact, order, axis=1), full.scores, atol=1e-6)
    few = ref.candidates(Q, 10, filter={"rare": True})  # 8 matches: still code scores, not exact ones
    assert ((few.ids != None).sum(axis=1) == 8).all()  # noqa: E711
    assert not np.allclose(few.scores[:, :8], ref.rescore(Q, few.ids)[:, :8], atol=1e-6)
    padded = ref.rescore(Q[:1], np.array([[few.ids[0, 0], None]], dtype=object))
    assert padded[0, 1] == -np.inf and padded[0, 0] > 0
    with pytest.raises(NotFoundError, match="not in this collection"):
        ref.rescore(Q[:1], np.array([[N + 1]], dtype=object))
    with pytest.raises(ParameterError, match=r"\(n_queries, m\)"):
        ref.rescore(Q[:2], np.array([[1]], dtype=object))


def test_query_map_serves_another_models_queries_on_every_shard(built, data, tmp_path):
    from lowdim.compat import fit_map

    path, _, ref = built
    X, Q, _ = data
    R = np.linalg.qr(np.random.default_rng(5).standard_normal((X.shape[1], X.shape[1])))[0].astype(np.float32)
    qmap = fit_map(X[:3000] @ R, X[:3000], kind="procrustes")  # a "new model": the old one rotated
    with ShardedCollection.open(path) as sc:
        sc.add_map(qmap, model="rotated")
        mapped = sc.search(Q[:50] @ R, 10, model="rotated")
        own = sc.search(Q[:50], 10)
        assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(mapped.ids.tolist(), own.ids.tolist())]) > 0.97
    with ShardedCollection.open(path, readonly=True) as sc:  # stored in every shard: a new process has it
        assert (sc.search(Q[:50] @ R, 10, model="rotated").ids == mapped.ids).all()
        with pytest.raises(DimensionError, match="query map"):
            sc.search(Q[:2, :100], 10, model="rotated")
