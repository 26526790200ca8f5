"""Live model migration (Collection.migrate): merged searches, mirrored writes, the switch, resume after SIGKILL, refusals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from lowdim.exceptions import ConflictError, ParameterError, ValidationError
from lowdim.store import Collection

N, D_OLD, D_NEW = 1200, 16, 24


@pytest.fixture
def spaces():
    """``(old, new)``: the same 1,200 items under two "models" (different linear views of one latent, plus noise)."""
    rng = np.random.default_rng(3)
    latent = rng.standard_normal((N, 6))
    old = latent @ rng.standard_normal((6, D_OLD)) + 0.05 * rng.standard_normal((N, D_OLD))
    new = latent @ rng.standard_normal((6, D_NEW)) + 0.05 * rng.standard_normal((N, D_NEW))
    return old.astype(np.float32), new.astype(np.float32)


def _old_collection(path, old):
    col = Collection.create(path, dim=D_OLD, spec="int8+rerank4", model="old-model", train_size=400)
    col.add(old, metadata=[{"g": i % 3} for i in range(len(old))])
    return col


def _exact_new(new, Q, k=10):
    Xn = new / np.linalg.norm(new, axis=1, keepdims=True)
    Qn = Q / np.linalg.norm(Q, axis=1, keepdims=True)
    return np.argsort(-(Qn @ Xn.T), axis=1)[:, :k]


def test_migration_merges_both_spaces_then_switches_to_the_new_model(tmp_path, spaces):
    old, new = spaces
    path = tmp_path / "c"
    col = _old_collection(path, old)
    source = lambda ids: new[np.asarray(ids)]  # noqa: E731
    Q = new[:60] + 0.02
    truth = _exact_new(new, Q)
    status = col.migrate("new-model", vectors=source, fit_size=300, limit=300)
    assert status["state"] == "running" and status["done"] == 300 and status["total"] == N
    assert col.info()["maps"] == ["new-model"] and len(status["calibration"]) == 2
    recalls = []
    for limit in (300, 300, 299):
        res = col.search(Q, 10, model="new-model", filter={"g": {"$in": [0, 1, 2]}})
        assert res.ids.shape == (60, 10) and all(v is not None for v in res.ids.ravel())
        assert all(len(set(row)) == 10 for row in res.ids.tolist())  # each item once
        recalls.append(np.mean([len(set(r) & set(t)) / 10 for r, t in zip(res.ids.tolist(), truth.tolist())]))
        col.migrate("new-model", vectors=source, limit=limit)
    assert col.migration["done"] == N - 1 and col.model == "old-model"
    assert recalls == sorted(recalls) and recalls[-1] > 0.75, recalls  # more of the new space, better agreement with it
    own = col.search(old[:5], 10).ids  # the old model's own queries still search the old index
    assert own[:, 0].tolist() == [0, 1, 2, 3, 4]
    final = col.migrate("new-model", vectors=source)
    assert final["state"] == "switched" and final["done"] == N
    assert col.model == "new-model" and col.dim == D_NEW and col.path == path / "migration-new-model"
    res = col.search(Q, 10)
    assert np.mean([len(set(r) & set(t)) / 10 for r, t in zip(res.ids.tolist(), truth.tolist())]) > 0.95
    assert col.get([7]).metadata == [{"g": 1}]
    np.testing.assert_allclose(col.get([7]).vectors[0], new[7], rtol=1e-6)
    col.close()
    with Collection.open(path) as again:  # the old path opens the migrated collection
        assert again.model == "new-model" and len(again) == N and again.info()["migrated_from"] == [str(path)]
        assert any((path / "segments").iterdir()) and list(path.glob("codec-*"))
        again.compact()  # the old model's files go
        assert not any((path / "segments").iterdir()) and not list(path.glob("codec-*")) and not list(path.glob("map-*"))
    with Collection.open(path, readonly=True) as again:
        assert again.search(Q[:2], 3).ids.shape == (2, 3)


def test_writes_during_a_migration_are_mirrored(tmp_path, spaces):
    old, new = spaces
    col = _old_collection(tmp_path / "c", old)
    current = new.copy()
    source = lambda ids: current[np.asarray(ids)]  # noqa: E731
    col.migrate("new-model", vectors=source, fit_size=200, limit=400)
    with Collection.open(tmp_path / "c" / "migration-new-model", readonly=True) as target:
        migrated = target.ids()
    assert len(migrated) == 400 and 1199 not in migrated
    col.delete([migrated[0], 1199])  # one re-embedded, one not yet
    current[5] = -new[5]
    col.upsert(old[5:6] * 2, ids=[5])  # replaced: re-embedded again from the source
    with pytest.raises(ValidationError, match="added after the migration switches"):
        col.add(new[:1], ids=[5000], model="new-model")
    col.add(old[:1], ids=[5000])  # a new item of the old model: re-embedded too
    current = np.vstack([current, np.zeros((5000 - N, D_NEW), np.float32), new[:1]])
    col.migrate("new-model", vectors=source)
    assert col.model == "new-model" and len(col) == N - 2 + 1
    assert migrated[0] not in set(col.ids()) and 1199 not in set(col.ids())
    np.testing.assert_allclose(col.get([5]).vectors[0], -new[5], rtol=1e-6)
    np.testing.assert_allclose(col.get([5000]).vectors[0], new[0], rtol=1e-6)
    col.close()


def test_migration_refusals_change_nothing(tmp_path, spaces):
    old, new = spaces
    col = _old_collection(tmp_path / "c", old)
    before = sorted(p.name for p in (tmp_path / "c").iterdir())
    with pytest.raises(ParameterError, match="already come from model 'old-model'"):
        col.migrate("old-model", vectors=lambda ids: old[ids])
    with pytest.raises(ParameterError, match="stores no texts"):
        col.migrate("new-model")
    with pytest.raises(ParameterError, match="either vectors= .* or texts="):
        col.migrate("new-model", vectors=lambda ids: new[ids], texts={})
    with pytest.raises(ParameterError, match="'fit_size' parameter of migrate"):
        col.migrate("new-model", vectors=lambda ids: new[ids], fit_size=3)
    with pytest.raises(ValidationError, match=r"vectors\(ids\) returned shape"):
        col.migrate("new-model", vectors=lambda ids: new[: len(ids) - 1])
    with pytest.raises(ValidationError, match="models with a query map: none"):
        col.search(new[:1], 3, model="new-model")  # no map and no migration
    assert col.migration is None and sorted(p.name for p in (tmp_path / "c").iterdir()) == before
    col.migrate("new-model", vectors=lambda ids: new[np.asarray(ids)], fit_size=100, limit=100)
    with pytest.raises(ConflictError, match="a migration to model 'new-model' is in progress"):
        col.migrate("third-model", vectors=lambda ids: new[np.asarray(ids)])
    assert col.migration["to_model"] == "new-model" and col.migration["done"] == 100
    col.close()


def test_background_migration_serves_searches_and_switches(tmp_path, spaces):
    old, new = spaces

    def slow(ids):
        time.sleep(0.01)
        return new[np.asarray(ids)]

    col = _old_collection(tmp_path / "c", old)
    status = col.migrate("new-model", vectors=slow, fit_size=200, batch_size=50, background=True)
    assert status["to_model"] == "new-model"
    seen = 0
    deadline = time.time() + 60
    while col.model != "new-model" and time.time() < deadline:
        if col.migration is not None and col.migration["calibration"] is not None:
            assert col.search(new[:3], 5, model="new-model").ids.shape == (3, 5)
            seen += 1
        time.sleep(0.02)
    assert col.model == "new-model" and len(col) == N and seen > 0
    col.close()


_KILLED = """
import sys, time, numpy as np
from lowdim.store import Collection
new = np.load(sys.argv[2])
def slow(ids):
    time.sleep(0.05)
    return new[np.asarray(ids)]
col = Collection.open(sys.argv[1])
print("started", flush=True)
col.migrate("new-model", vectors=slow, fit_size=200, batch_size=40)
"""


@pytest.mark.slow
def test_sigkill_during_a_migration_then_resume_ends_in_the_same_state(tmp_path, spaces):
    old, new = spaces
    np.save(tmp_path / "new.npy", new)
    _old_collection(tmp_path / "c", old).close()
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(_KILLED))
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "c"), str(tmp_path / "new.npy")], stdout=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"started"
    time.sleep(1.0 + np.random.default_rng().uniform(0, 1.0))  # somewhere in the batches
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    with Collection.open(tmp_path / "c") as col:
        status = col.migration
        assert status is not None and status["state"] == "running" and 0 < status["done"] < N, status
        col.migrate("new-model", vectors=lambda ids: new[np.asarray(ids)])
        assert col.model == "new-model" and sorted(col.ids()) == list(range(N))
        np.testing.assert_allclose(col.get(list(range(N))).vectors, new, rtol=1e-6)
        assert col.get([10]).metadata == [{"g": 1}]


def test_cli_migrate_resumes_reports_and_switches(tmp_path, spaces, capsys):
    from typer.testing import CliRunner

    from lowdim.cli import app, main

    old, new = spaces
    np.save(tmp_path / "new.npy", new)
    _old_collection(tmp_path / "c", old).close()
    base = ["migrate", str(tmp_path / "c"), "--to-model", "new-model", "--vectors", str(tmp_path / "new.npy")]
    result = CliRunner().invoke(app, [*base, "--limit", "500", "--fit-size", "200"])
    assert result.exit_code == 0, result.output
    assert "500 of 1,200 items re-embedded" in result.output and "run again to go on" in result.output
    result = CliRunner().invoke(app, ["migrate", str(tmp_path / "c"), "--to-model", "new-model", "--status"])
    assert '"state": "running"' in result.output and '"done": 500' in result.output
    result = CliRunner().invoke(app, ["check", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    np.save(tmp_path / "bad_ids.npy", np.arange(3))
    with pytest.raises(SystemExit):
        main([*base, "--ids", str(tmp_path / "bad_ids.npy")])
    err = capsys.readouterr().err
    assert "--ids must hold 1200 integers" in err and "Traceback" not in err
    (tmp_path / "bad.jsonl").write_text('{"id": 0, "text": "a"}\n{"id": 1}\n')
    with pytest.raises(SystemExit):
        main(["migrate", str(tmp_path / "c"), "--to-model", "new-model", "--texts", str(tmp_path / "bad.jsonl")])
    err = capsys.readouterr().err
    assert "bad.jsonl line 2: expected a JSON object with 'id' and 'text'" in err and err.count("\n") == 1
    result = CliRunner().invoke(app, base)
    assert result.exit_code == 0, result.output
    assert "now serves model new-model (1,200 items)" in result.output
    result = CliRunner().invoke(app, ["info", str(tmp_path / "c")])
    assert result.exit_code == 0 and "new-model" in result.output


def test_a_background_migration_that_cannot_start_raises_at_once(tmp_path, spaces):
    old, new = spaces
    col = _old_collection(tmp_path / "c", old)
    with pytest.raises(ValidationError, match=r"vectors\(ids\) returned shape"):
        col.migrate("new-model", vectors=lambda ids: new[:0], background=True)
    assert col.migration is None
    col.close()
