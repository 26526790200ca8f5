"""Durability and concurrency: SIGKILL at random points, damaged files, one writer, consistent readers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from lowdim import ConflictError, FileFormatError
from lowdim.store import Collection, check_collection

B, D = 20, 16  # vectors per add, width

# The writer: a zygote process imports lowdim once and forks one writer per round, so each
# round costs a fork rather than an interpreter start. Every writer is a real process
# (its own files, locks and SQLite connection) and is killed with SIGKILL while it writes.
# It logs "B op" before and "A op" after each operation with unbuffered write(2) calls,
# which survive the kill.
ZYGOTE = textwrap.dedent(
    r"""
    import os, sys, traceback
    import numpy as np
    from lowdim.store import Collection

    B, D = %d, %d

    def vec(seed, n=B):
        return np.random.default_rng(seed).standard_normal((n, D)).astype(np.float32)

    def kind(op):
        if op %% 25 == 24:
            return "compact"
        if op %% 5 == 3:
            return "delete"
        if op %% 5 == 1 and op %% 3 == 0:
            return "upsert"
        return "add"

    def writer(path, op, fd):
        col = Collection.open(path)
        col.graph_min_tail = 60  # an IVF collection extends its lists every few adds
        os.write(fd, b"READY\n")
        while True:
            k = kind(op)
            os.write(fd, f"B {op}\n".encode())
            if k == "add":
                col.add(vec(op), ids=[f"{op}:{i}" for i in range(B)], metadata=[{"op": op, "i": i} for i in range(B)])
            elif k == "delete":
                col.delete([f"{op - 3}:{i}" for i in range(0, B, 2)])
            elif k == "upsert":
                col.upsert(vec(10**6 + op, 5), ids=[f"{op - 1}:{i}" for i in range(5)],
                           metadata=[{"op": op, "i": i, "up": True} for i in range(5)])
            else:
                col.compact()
            os.write(fd, f"A {op}\n".encode())
            op += 1

    for line in sys.stdin:
        path, start, log = line.split()
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        pid = os.fork()
        if pid == 0:
            try:
                writer(path, int(start), fd)
            except BaseException:
                os.write(fd, ("ERR " + traceback.format_exc().replace(chr(10), " | ") + chr(10)).encode())
            os._exit(3)
        os.close(fd)
        print(f"pid {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        print(f"done {status}", flush=True)
    """
    % (B, D)
)


def _kind(op: int) -> str:
    if op % 25 == 24:
        return "compact"
    if op % 5 == 3:
        return "delete"
    if op % 5 == 1 and op % 3 == 0:
        return "upsert"
    return "add"


_VEC: dict[tuple[int, int], np.ndarray] = {}


def _vec(seed: int, n: int = B) -> np.ndarray:
    if (seed, n) not in _VEC:
        _VEC[(seed, n)] = np.random.default_rng(seed).standard_normal((n, D)).astype(np.float32)
    return _VEC[(seed, n)]


def _apply(model: dict, op: int) -> dict:
    """The expected state after ``op``: id -> (vector, metadata)."""
    model = dict(model)
    k = _kind(op)
    if k == "add":
        for i in range(B):
            model[f"{op}:{i}"] = (_vec(op)[i], {"op": op, "i": i})
    elif k == "delete":
        for i in range(0, B, 2):
            model.pop(f"{op - 3}:{i}", None)
    elif k == "upsert":
        for i in range(5):
            model[f"{op - 1}:{i}"] = (_vec(10**6 + op, 5)[i], {"op": op, "i": i, "up": True})
    return model


def _state(path: Path) -> dict:
    """Everything a reader sees, after verifying every file's checksum."""
    with Collection.open(path, readonly=True, verify=True) as col:
        ids = col.ids()
        assert len(ids) == len(col)
        if not ids:
            return {}
        recs = col.get(ids)
        return {u: (v, m) for u, v, m in zip(recs.ids, recs.vectors, recs.metadata)}


def _same(actual: dict, model: dict) -> bool:
    if actual.keys() != model.keys():
        return False
    return all(np.array_equal(actual[u][0], model[u][0]) and actual[u][1] == model[u][1] for u in model)


def _describe(actual: dict, model: dict) -> str:
    missing = sorted(model.keys() - actual.keys())[:5]
    extra = sorted(actual.keys() - model.keys())[:5]
    wrong = [u for u in model.keys() & actual.keys() if not np.array_equal(actual[u][0], model[u][0])][:5]
    return f"missing {missing}, unexpected {extra}, wrong vectors {wrong}"


@pytest.mark.slow
@pytest.mark.parametrize("spec", ["int8+rerank2", "ivf4/int8+rerank2"])
def test_sigkill_at_random_points_loses_no_acknowledged_write(tmp_path, spec):
    path = tmp_path / "c"
    rounds = 50 if spec.startswith("int8") else 25  # the IVF run re-checks the same protocol with its lists in play
    Collection.create(path, dim=D, spec=spec, train_size=300).close()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    zygote = subprocess.Popen(
        [sys.executable, "-c", ZYGOTE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1, env=env
    )
    rng = np.random.default_rng(20240611)
    model: dict = {}
    next_op, kills, in_flight_applied, in_flight_total, acked_ops = 0, 0, 0, 0, 0
    started = time.monotonic()
    try:
        while kills < rounds:
            assert time.monotonic() - started < 240, f"only {kills} kills in 240 s"
            log = tmp_path / f"writer{kills}.log"
            zygote.stdin.write(f"{path} {next_op} {log}\n")
            zygote.stdin.flush()
            pid = int(zygote.stdout.readline().split()[1])
            t0 = time.monotonic()
            while b"READY" not in log.read_bytes():
                assert time.monotonic() - t0 < 60, "writer did not start"
                time.sleep(0.002)
            # a writer runs dozens of operations (add, delete, upsert, compact) in 0.2 s; a longer window
            # only grows the collection, and every round's full check with it
            time.sleep(rng.uniform(0.0, 0.2))
            os.kill(pid, signal.SIGKILL)
            status = int(zygote.stdout.readline().split()[1])
            lines = log.read_text().splitlines()
            errors = [line for line in lines if line.startswith("ERR")]
            assert not errors, errors[0]
            assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
            begun = [int(line[2:]) for line in lines if line.startswith("B ")]
            acked = {int(line[2:]) for line in lines if line.startswith("A ")}
            for op in begun:
                if op in acked:
                    model = _apply(model, op)
            acked_ops += len(acked)
            in_flight = begun[-1] if begun and begun[-1] not in acked else None
            report = check_collection(path, repair=False)
            assert report.ok, report
            actual = _state(path)
            if in_flight is None:
                assert _same(actual, model), _describe(actual, model)
            else:
                in_flight_total += 1
                applied = _apply(model, in_flight)
                if _same(actual, applied):
                    model = applied
                    in_flight_applied += _kind(in_flight) != "compact"
                else:  # all or nothing: the interrupted operation left no trace
                    assert _same(actual, model), _describe(actual, model)
            if begun:
                next_op = begun[-1] + 1
            kills += 1
    finally:
        zygote.stdin.close()
        try:
            zygote.wait(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover - diagnostics only
            zygote.kill()
    print(
        f"{kills} kills, {acked_ops} acknowledged operations, {in_flight_total} kills inside an operation "
        f"({in_flight_applied} of those had committed), {len(model)} live vectors"
    )
    assert kills == rounds and acked_ops >= 2 * rounds, (kills, acked_ops)
    assert in_flight_total >= rounds // 2  # most kills landed inside an operation
    # a writer repairs nothing but leftovers; the final state is the model, and searchable
    report = check_collection(path)
    assert report.ok and not report.problems, report
    with Collection.open(path) as col:
        recs = col.get(col.ids())
        actual = {u: (v, m) for u, v, m in zip(recs.ids, recs.vectors, recs.metadata)}
        assert _same(actual, model), _describe(actual, model)
        if spec.startswith("ivf"):  # the lists were built and kept up under the kills, and answer searches
            assert col.info()["graph_nodes"] > 0
            some = list(model)[:3]
            assert [r[0] for r in col.search(np.stack([model[u][0] for u in some]), 1, nprobe=4).ids.tolist()] == some
        some = list(model)[:: max(1, len(model) // 50)]
        hits = col.search(np.stack([model[u][0] for u in some]), 1)
        assert hits.ids[:, 0].tolist() == some
        assert col.is_trained
    leftovers = [p.name for p in (path / "segments").iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


# ---------------------------------------------------------------------------- damaged files


@pytest.fixture
def stored(tmp_path, make_vectors):
    X = make_vectors(1200, 16, seed=9)
    path = tmp_path / "c"
    with Collection.create(path, dim=16, spec="int8+rerank4", train_size=500) as col:
        col.add(X[:600], metadata=[{"half": 0}] * 600)
        col.add(X[600:], metadata=[{"half": 1}] * 600)
    return path, X


def _files(path: Path, suffix: str) -> list[Path]:
    return sorted(p for p in (path / "segments").iterdir() if p.name.endswith(suffix))


def test_truncated_codes_name_the_file_and_check_reencodes(stored, as_ids):
    path, X = stored
    with Collection.open(path) as col:
        before = as_ids(col.search(X[:20], 5))
    codes = _files(path, ".codes.npy")[1]
    codes.write_bytes(codes.read_bytes()[:-100])
    with pytest.raises(
        FileFormatError,
        match=rf"^segments/{codes.name} in collection .* is truncated \(.* bytes; expected .*\); run 'lowdim check",
    ):
        Collection.open(path)
    report = check_collection(path)
    assert report.ok and any(codes.name in p for p in report.problems), report
    assert any("re-encoded" in r for r in report.repaired)
    with Collection.open(path, verify=True) as col:
        np.testing.assert_array_equal(as_ids(col.search(X[:20], 5)), before)
    assert not codes.exists()  # the damaged file was collected


def test_flipped_byte_in_vectors_is_found_by_verify_and_check(stored):
    path, _ = stored
    vec = _files(path, ".vectors.npy")[0]
    raw = bytearray(vec.read_bytes())
    raw[-7] ^= 0xFF
    vec.write_bytes(bytes(raw))
    Collection.open(path).close()  # sizes are right: a plain open maps it
    with pytest.raises(FileFormatError, match=rf"segments/{vec.name} in collection .* is corrupt \(checksum mismatch\)"):
        Collection.open(path, verify=True)
    report = check_collection(path)
    assert not report.ok and report.unrepairable and vec.name in report.unrepairable[0]
    assert "--drop-damaged" in report.unrepairable[0]


def test_truncated_vectors_can_be_dropped(stored, as_ids):
    path, X = stored
    vec = _files(path, ".vectors.npy")[0]
    vec.write_bytes(vec.read_bytes()[:1000])
    with pytest.raises(FileFormatError, match=rf"segments/{vec.name} .* is truncated"):
        Collection.open(path)
    assert not check_collection(path, repair=False).ok
    report = check_collection(path, drop_damaged=True)
    assert report.ok and any("dropped segment" in r for r in report.repaired), report
    with Collection.open(path) as col:
        assert len(col) == 600 and col.ids()[0] == 600
        assert (as_ids(col.search(X[:10], 5)) >= 600).all()


def test_lost_manifest_is_rebuilt(stored):
    path, _ = stored
    (path / "manifest.json").unlink()
    with pytest.raises(
        FileFormatError, match=r"^manifest.json is missing from collection .*; run 'lowdim check .*' to rebuild it"
    ):
        Collection.open(path)
    report = check_collection(path)
    assert report.ok and report.repaired == ["rewrote manifest.json from catalog.sqlite"]
    (path / "manifest.json").write_text("{not json")
    with pytest.raises(FileFormatError, match="manifest.json in collection .* is corrupt"):
        Collection.open(path)
    assert check_collection(path).ok
    with Collection.open(path) as col:
        assert len(col) == 1200


def test_corrupt_codec_is_refitted(stored, as_ids):
    path, X = stored
    codec = next(path.glob("codec-*.npz"))
    codec.write_bytes(b"garbage" * 10)
    with pytest.raises(FileFormatError, match=rf"^{codec.name} in collection .* is"):
        Collection.open(path)
    report = check_collection(path)
    assert report.ok and any("refitted the codec" in r for r in report.repaired), report
    with Collection.open(path) as col:
        assert as_ids(col.search(X[:10], 1))[:, 0].tolist() == list(range(10))


def test_corrupt_graph_is_rebuilt(tmp_path, make_vectors, as_ids):
    X = make_vectors(800, 16, seed=2)
    path = tmp_path / "g"
    with Collection.create(path, dim=16, index="hnsw", train_size=300) as col:
        col.add(X)
        col.build_index()
    links = next((path / "graph").glob("*.links.faiss"))
    raw = bytearray(links.read_bytes())
    raw[len(raw) // 2] ^= 0x55
    links.write_bytes(bytes(raw))
    with pytest.raises(FileFormatError, match=rf"graph/{links.name} in collection .* is corrupt \(checksum mismatch\)"):
        Collection.open(path)
    report = check_collection(path)
    assert report.ok and "rebuilt the HNSW graph" in report.repaired, report
    with Collection.open(path) as col:
        assert col.info()["graph_nodes"] == 800
        assert as_ids(col.search(X[:10], 1))[:, 0].tolist() == list(range(10))


def test_corrupt_catalog_is_one_line(stored):
    path, _ = stored
    (path / "catalog.sqlite").write_bytes(b"\0" * 4096)
    for name in ("catalog.sqlite-wal", "catalog.sqlite-shm"):
        (path / name).unlink(missing_ok=True)
    with pytest.raises(FileFormatError, match=r"^catalog.sqlite in collection .* cannot be read \(file is not a database\)"):
        Collection.open(path)
    report = check_collection(path)
    assert not report.ok and "catalog.sqlite" in report.unrepairable[0]


def test_leftovers_of_interrupted_writes_are_collected(stored):
    path, _ = stored
    (path / "segments" / "00000099.vectors.npy.tmp").write_bytes(b"half")
    (path / "segments" / "00000098.vectors.npy").write_bytes(b"never committed")
    (path / "codec-00000097.npz").write_bytes(b"x")
    assert check_collection(path, repair=False).ok  # leftovers are not damage
    report = check_collection(path)
    assert sorted(report.removed_files) == [
        "codec-00000097.npz",
        "segments/00000098.vectors.npy",
        "segments/00000099.vectors.npy.tmp",
    ]
    assert not (path / "segments" / "00000098.vectors.npy").exists()


# ---------------------------------------------------------------------------- concurrency

_HOLDER = textwrap.dedent(
    """
    import sys, numpy as np
    from lowdim.store import Collection
    col = Collection.open(sys.argv[1])
    col.add(np.ones((1, 16), np.float32), ids=["holder"])
    print("LOCKED", flush=True)
    sys.stdin.read()
    """
)


def test_second_writer_gets_a_clear_error(stored):
    path, X = stored
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "LOCKED"
        col = Collection.open(path)
        assert len(col) == 1201  # readers are never blocked
        with pytest.raises(
            ConflictError, match=rf"^collection .* is being written by another process \(pid {holder.pid}\); one writer at a time"
        ):
            col.add(X[:1])
        with pytest.raises(ConflictError, match="being written by another process"):
            col.compact()
        assert len(col) == 1201
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    col.add(X[:1], ids=["after"])  # the lock died with the holder
    assert len(col) == 1202
    col.close()


def test_reader_keeps_its_snapshot_until_refresh(stored, as_ids):
    path, X = stored
    reader = Collection.open(path, readonly=True)
    writer = Collection.open(path)
    writer.delete(list(range(100)))
    writer.add(X[:5] * 2, ids=["n0", "n1", "n2", "n3", "n4"])
    writer.compact()  # rewrites the files the reader has open
    assert len(reader) == 1200
    assert reader.search(X[:3], 1).ids[:, 0].tolist() == [0, 1, 2]
    np.testing.assert_array_equal(reader.get([0, 1]).vectors, X[:2])
    reader.refresh()
    assert len(reader) == 1105 and reader.search(X[:3], 1).ids[:, 0].tolist() == ["n0", "n1", "n2"]
    reader.close()
    writer.close()


_BUSY_WRITER = textwrap.dedent(
    """
    import sys, numpy as np
    from lowdim.store import Collection
    col = Collection.open(sys.argv[1])
    rng = np.random.default_rng(0)
    for b in range(40):
        col.add(rng.standard_normal((50, 16)).astype(np.float32), ids=[f"{b}:{i}" for i in range(50)])
        if b % 4 == 3:
            col.delete([f"{b - 2}:{i}" for i in range(50)])
        if b % 10 == 9:
            col.compact()
    col.close()
    """
)


def test_readers_see_whole_operations_while_a_process_writes(stored):
    path, _ = stored
    writer = subprocess.Popen([sys.executable, "-c", _BUSY_WRITER, str(path)])
    reader = Collection.open(path, readonly=True)
    rounds = 0
    try:
        while True:
            finished = writer.poll() is not None
            reader.refresh()
            ids = reader.ids()
            assert len(ids) == len(reader)
            batches: dict[str, int] = {}
            for u in ids:
                if isinstance(u, str):
                    batches[u.split(":")[0]] = batches.get(u.split(":")[0], 0) + 1
            assert set(batches.values()) <= {50}, batches  # each add / delete is all or nothing
            got = reader.get(ids[-50:])
            assert got.vectors.shape == (min(50, len(ids)), 16)
            hits = reader.search(got.vectors[:5], 1)
            assert hits.ids[:, 0].tolist() == got.ids[:5]
            rounds += 1
            if finished:
                break
    finally:
        writer.wait(timeout=120)
        reader.close()
    assert writer.returncode == 0 and rounds >= 2
    with Collection.open(path) as col:
        assert len(col) == 1200 + 40 * 50 - 10 * 50


def test_interrupt_right_after_commit_keeps_the_committed_files(stored, monkeypatch):
    """KeyboardInterrupt can land between COMMIT and the code after it: the files must stay."""
    from contextlib import contextmanager

    from lowdim.store._catalog import Catalog

    path, X = stored
    col = Collection.open(path)
    original = Catalog.write

    @contextmanager
    def commit_then_interrupt(self):
        with original(self) as conn:
            yield conn
        raise KeyboardInterrupt

    monkeypatch.setattr(Catalog, "write", commit_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        col.add(X[:3], ids=["k0", "k1", "k2"])
    monkeypatch.setattr(Catalog, "write", original)
    assert len(col) == 1203 and col.get(["k1"]).vectors.shape == (1, 16)  # mirrored after the interrupt
    col.close()
    assert check_collection(path).ok
    with Collection.open(path, verify=True) as again:
        np.testing.assert_array_equal(again.get(["k0", "k1", "k2"]).vectors, X[:3])
