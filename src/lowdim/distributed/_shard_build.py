"""``build_sharded``: fit the codec once, write every shard (Ray tasks or in this process), commit ``shards.json`` last.

Resuming
--------
A build records its parameters in ``build.json`` before it writes anything, and commits
``shards.json`` (the only file readers trust) after every shard is complete; so a build
that fails or is killed leaves the previous generation as it was. Running the same build
again resumes the same generation: the codec file is reused, and each shard task opens
its shard, checks that the rows it holds are the first ones of its share (its adds go in
source order, each batch one durable commit, so the shard's count says where to go on;
the last acknowledged id and the next one are checked) and adds only the rest. A Ray task
whose worker dies is retried by Ray the same way. No row is added twice, none acknowledged
is lost. A different build over an unfinished one is refused; delete ``build.json`` and
the unfinished ``gen-<G>`` folder to start over.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import ConflictError, FileFormatError, LowdimError, NotFoundError, ParameterError
from ..spec import Pipeline
from ..store import Collection, IdLike
from ..validation import check_positive_int
from ._ray import connect, uses_ray
from ._shard_manifest import (
    BUILD_NAME,
    ID_SCHEME,
    SHARDS_FORMAT,
    SHARDS_NAME,
    SHARDS_VERSION,
    CodecPlan,
    crc32_file,
    read_shards,
    route,
    write_json_atomic,
)

__all__ = ["build_sharded", "KILL_ONCE_ENV"]

#: test hook: a path; the first shard task that finds this file deletes it and SIGKILLs its own process
#: after its first committed batch (a worker killed mid-build)
KILL_ONCE_ENV = "LOWDIM_TEST_KILL_SHARD_TASK"


def _source(vectors: Any) -> tuple[Any, str | None]:
    """The (n, d) vectors (a .npy path is memory-mapped) and the path they came from, if any."""
    if isinstance(vectors, (str, os.PathLike)):
        p = Path(vectors)
        if not p.is_file():
            raise NotFoundError(f"vectors file {p} does not exist")
        if p.suffix != ".npy":
            raise FileFormatError(f"build_sharded reads .npy files (memory-mapped); convert {p.name} or pass an array")
        try:
            X = np.load(p, mmap_mode="r")
        except ValueError as exc:
            raise FileFormatError(f"{p} is not a readable .npy file: {str(exc).splitlines()[0]}") from None
        return X, str(p.absolute())
    X = np.asarray(vectors) if not isinstance(vectors, np.ndarray) else vectors
    return X, None


def _fingerprint(X: Any, ids: Sequence[IdLike] | None) -> str:
    """A short digest of the input (shape, a few rows, the ids): a resumed build must read the same data."""
    h = hashlib.sha256(f"{X.shape}{X.dtype}".encode())
    for r in sorted({0, len(X) // 2, len(X) - 1}):
        h.update(np.ascontiguousarray(X[r]).tobytes())
    if ids is not None:
        h.update(json.dumps(list(ids)).encode())
    return h.hexdigest()[:16]


def _shard_task(job: dict[str, Any], source: Any) -> int:
    """Write (or finish) one shard: create it with the shared codec if absent, add the rows it lacks; return its count.

    ``source``: the vectors, or the path of the .npy file holding them.
    """
    X = np.load(source, mmap_mode="r") if isinstance(source, str) else source
    rows: np.ndarray = job["rows"]
    ids: list[IdLike] = job["ids"] if job["ids"] is not None else rows.tolist()
    meta = job["metadata"]
    d = Path(job["dir"])
    if not (d / "manifest.json").exists():
        codec = Pipeline.load(job["codec"])
        Collection.create(d, plan=CodecPlan(codec), **job["settings"])
    kill = job.get("kill_flag")
    with Collection.open(d) as col:
        done = len(col)
        if done > len(ids):
            raise ConflictError(f"shard {d} holds {done} items but its share of the build has {len(ids)}; it is not this build's")
        try:
            if done:
                col.get([ids[done - 1]])  # the last acknowledged row is the one expected there
        except NotFoundError:
            raise ConflictError(f"shard {d} does not hold the rows this build expects; it is not this build's") from None
        if done < len(ids):
            try:
                col.get([ids[done]])
                raise ConflictError(f"shard {d} holds id {ids[done]!r} out of order; it is not this build's")
            except NotFoundError:
                pass
        step = job["batch_rows"]
        for s in range(done, len(ids), step):
            e = min(s + step, len(ids))
            col.add(np.asarray(X[rows[s:e]]), ids[s:e], None if meta is None else meta[s:e])
            if kill and os.path.exists(kill):
                try:
                    os.remove(kill)
                except FileNotFoundError:  # another task took it
                    continue
                os.kill(os.getpid(), signal.SIGKILL)
        return len(col)


def build_sharded(
    path: str | os.PathLike[str],
    vectors: Any,
    *,
    shards: int,
    spec: str,
    ids: Sequence[IdLike] | None = None,
    metadata: Sequence[dict | None] | None = None,
    metric: str = "cosine",
    model: str | None = None,
    train_size: int = 20_000,
    seed: int = 0,
    index: str = "flat",
    vector_dtype: str = "float16",
    ray_address: str | None = None,
    batch_rows: int = 10_000,
) -> dict[str, Any]:
    """Build a sharded collection in folder ``path`` from ``vectors``; return its ``shards.json`` content.

    Parameters
    ----------
    vectors : (n, d) array, or the path of a .npy file (memory-mapped; Ray workers map it themselves)
    shards : number of shards; row ``i`` goes to shard ``crc32(str(id_i)) % shards``
    spec : the codec spec (e.g. ``"pq48x4+rerank10"``), fitted once on a seeded sample of
        ``train_size`` rows (``seed``) and shared by every shard
    ids : n unique ints or strs (default the row numbers 0..n-1)
    metadata : n JSON objects (or None), filterable in searches
    index, vector_dtype, model : the shard collections' settings (see :meth:`lowdim.store.Collection.create`)
    ray_address : None (build the shards one after another in this process), ``"local"``,
        ``"auto"`` or ``"ray://host:port"`` (one Ray task per shard, retried when its worker dies)
    batch_rows : rows per durable add (a killed build resumes after the last one)

    A new build of an existing sharded collection writes generation G+1 beside G and
    switches ``shards.json`` to it at the end (then removes G). See the module notes for resuming.
    """
    root = Path(path)
    shards = check_positive_int(shards, "shards", owner="build_sharded")
    batch_rows = check_positive_int(batch_rows, "batch_rows", owner="build_sharded")
    train_size = check_positive_int(train_size, "train_size", owner="build_sharded")
    X, src_path = _source(vectors)
    if X.ndim != 2 or len(X) == 0 or X.shape[1] == 0:
        raise ParameterError(f"vectors must be a non-empty (n, d) array. Got shape {X.shape}.")
    if not np.issubdtype(X.dtype, np.floating):
        raise ParameterError(f"vectors must be float16, float32 or float64. Got {X.dtype}.")
    n, dim = X.shape
    uids = list(ids) if ids is not None else None
    if uids is not None:
        if len(uids) != n:
            raise ParameterError(f"got {len(uids)} ids for {n} vectors; give one id per vector")
        if len(set(uids)) != n:
            raise ParameterError("ids must be unique")
    if metadata is not None and len(metadata) != n:
        raise ParameterError(f"got {len(metadata)} metadata entries for {n} vectors; give one per vector (or None)")
    if not root.absolute().parent.is_dir():
        raise FileFormatError(f"cannot build {root}: folder {root.absolute().parent} does not exist")
    root.mkdir(exist_ok=True)
    params = {
        "shards": shards,
        "spec": spec,
        "metric": metric,
        "model": model,
        "dim": dim,
        "rows": n,
        "train_size": train_size,
        "seed": seed,
        "index": index,
        "vector_dtype": vector_dtype,
        "batch_rows": batch_rows,
        "input": _fingerprint(X, uids),
    }
    old = read_shards(root) if (root / SHARDS_NAME).exists() else None
    building = root / BUILD_NAME
    if building.exists():
        try:
            rec = json.loads(building.read_text(encoding="utf-8"))
            gen, before = int(rec["generation"]), rec["params"]
        except (OSError, ValueError, KeyError, TypeError):
            raise FileFormatError(f"{building} is damaged; delete it (and the unfinished gen-* folder) to build again") from None
        if before != params:
            diff = ", ".join(f"{k}={before.get(k)!r}" for k in params if before.get(k) != params[k])
            raise ConflictError(
                f"an unfinished build of {root} has other parameters ({diff}); run it again as it was, "
                f"or delete {building} and its gen-{gen} folder to start over"
            )
    else:
        gen = int(old["generation"]) + 1 if old is not None else 1
        shutil.rmtree(root / f"gen-{gen}", ignore_errors=True)  # leftovers of a build whose record was deleted
        write_json_atomic(building, {"generation": gen, "params": params})
    gdir = root / f"gen-{gen}"
    gdir.mkdir(exist_ok=True)
    codec_path = gdir / "codec.npz"
    if not codec_path.exists():
        codec = Pipeline(spec, metric=metric, random_state=seed, max_train=train_size).fit(X)
        tmp = gdir / ".codec.tmp.npz"
        os.replace(codec.save(tmp), codec_path)
    where = route(uids if uids is not None else range(n), shards)
    settings = {"index": index, "vector_dtype": vector_dtype, "train_size": train_size, "random_state": seed, "model": model}
    kill = os.environ.get(KILL_ONCE_ENV)
    jobs: list[dict[str, Any]] = []
    for i in range(shards):
        rows = np.flatnonzero(where == i)
        jobs.append(
            {
                "dir": str((gdir / f"shard-{i}").absolute()),
                "codec": str(codec_path.absolute()),
                "settings": settings,
                "rows": rows,
                "ids": None if uids is None else [uids[r] for r in rows.tolist()],
                "metadata": None if metadata is None else [metadata[r] for r in rows.tolist()],
                "batch_rows": batch_rows,
                "kill_flag": kill,
            }
        )
    counts = _run(jobs, X, src_path, ray_address)
    expected = [len(j["rows"]) for j in jobs]
    if counts != expected:
        raise ConflictError(f"shards of {root} hold {counts} items, {expected} expected; run the build again to finish")
    doc = {
        "format": SHARDS_FORMAT,
        "version": SHARDS_VERSION,
        "generation": gen,
        "dim": dim,
        "metric": metric,
        "spec": spec,
        "index": index,
        "id_scheme": ID_SCHEME,
        "shards": [{"path": f"gen-{gen}/shard-{i}", "count": c} for i, c in enumerate(counts)],
        "codec": {"file": f"gen-{gen}/codec.npz", "crc32": crc32_file(codec_path)},
        # as Collection: automatic ids continue after the largest integer id
        "next_auto_id": max([0, *(u + 1 for u in uids if isinstance(u, int))]) if uids is not None else n,
        "build": params,
    }
    write_json_atomic(root / SHARDS_NAME, doc)  # the commit: readers switch to this generation
    building.unlink()
    if old is not None and int(old["generation"]) != gen:
        shutil.rmtree(root / f"gen-{old['generation']}", ignore_errors=True)
    return doc


def _run(jobs: list[dict[str, Any]], X: Any, src_path: str | None, ray_address: str | None) -> list[int]:
    """Run the shard tasks: one after another here, or as Ray tasks (retried up to 3 times when a worker dies)."""
    if not uses_ray(ray_address):
        return [_shard_task(job, src_path if src_path is not None else X) for job in jobs]
    ray = connect(ray_address)
    source = src_path if src_path is not None else ray.put(np.ascontiguousarray(X))
    task = ray.remote(max_retries=3, num_cpus=1)(_shard_task)
    refs = [task.remote(job, source) for job in jobs]
    try:
        return [int(c) for c in ray.get(refs)]
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, LowdimError):
            raise cause.with_traceback(None) from None
        raise
    except ray.exceptions.RayError as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConflictError(f"a shard task failed after its retries ({first}); run the build again to resume") from None
