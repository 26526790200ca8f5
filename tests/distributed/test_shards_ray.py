"""Sharded collections on a local Ray cluster (2 workers): build with a worker killed, fan-out search with actors killed."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

from lowdim.distributed import SHARDS_NAME, ShardedCollection, build_sharded
from lowdim.distributed._shard_build import KILL_ONCE_ENV
from lowdim.exceptions import ConflictError, ParameterError
from lowdim.store import Collection

pytestmark = pytest.mark.cluster

N, NQ = 20_000, 200


def _shard_contents(path, doc):
    out = []
    for s in doc["shards"]:
        with Collection.open(path / s["path"], readonly=True) as col:
            ids = col.ids()
            out.append((ids, col.get(ids).vectors))
    return out


def test_build_on_ray_with_a_killed_worker_matches_the_local_build(ray_local, tmp_path, wordnet, monkeypatch):
    X = np.asarray(wordnet.corpus[:N], dtype=np.float32)
    np.save(tmp_path / "x.npy", X)
    kw = {"shards": 4, "spec": "int8+rerank4", "train_size": 5000, "batch_rows": 2000}
    local = build_sharded(tmp_path / "local", tmp_path / "x.npy", **kw)
    flag = tmp_path / "kill-once"
    flag.touch()
    monkeypatch.setenv(KILL_ONCE_ENV, str(flag))  # the first shard task SIGKILLs its worker after one batch
    on_ray = build_sharded(tmp_path / "ray", tmp_path / "x.npy", ray_address="local", **kw)
    monkeypatch.delenv(KILL_ONCE_ENV)
    assert not flag.exists()  # a worker was killed mid-build, and Ray retried its task
    assert on_ray["codec"]["crc32"] == local["codec"]["crc32"]
    assert [s["count"] for s in on_ray["shards"]] == [s["count"] for s in local["shards"]]
    for (ids_a, va), (ids_b, vb) in zip(
        _shard_contents(tmp_path / "local", local), _shard_contents(tmp_path / "ray", on_ray), strict=True
    ):
        assert ids_a == ids_b and len(set(ids_b)) == len(ids_b)  # exactly the rows, no duplicates
        np.testing.assert_array_equal(va, vb)

    Q = np.asarray(wordnet.queries[:NQ], dtype=np.float32)
    with ShardedCollection.open(tmp_path / "local") as sc:
        want = sc.search(Q, 10)
    with ShardedCollection.open(tmp_path / "ray", ray_address="local", readonly=True) as sc:
        got = sc.search(Q, 10)
        assert (got.ids == want.ids).all()
        np.testing.assert_array_equal(got.scores, want.scores)
        with pytest.raises(ParameterError, match="filter"):  # an actor's error comes back as the same one-line error
            sc.search(Q[:2], 10, filter={"$nope": 1})

        # an actor killed while a search is in flight: Ray restarts it and retries; the answer is complete
        pids = sc.shard_pids()
        assert len(set(pids)) == 4 and os.getpid() not in pids
        box: dict = {}
        t = threading.Thread(target=lambda: box.update(res=sc.search(Q, 10)))
        t.start()
        time.sleep(0.05)
        os.kill(pids[1], signal.SIGKILL)
        t.join(60)
        assert (box["res"].ids == want.ids).all()
        assert sc.shard_pids()[1] != pids[1]

        # a shard whose actor keeps dying (restarts exhausted): one line naming it, never a short result
        for _ in range(3):
            try:
                os.kill(sc.shard_pids()[2], signal.SIGKILL)
            except ConflictError:
                break
            time.sleep(0.2)
        with pytest.raises(ConflictError, match=r"1 of 4 shards unavailable \(gen-1/shard-2\)"):
            sc.search(Q, 10)
    assert (tmp_path / "ray" / SHARDS_NAME).is_file()
