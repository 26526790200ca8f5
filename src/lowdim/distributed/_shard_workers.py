"""The shards of an open :class:`ShardedCollection`: one worker per shard, in this process or as Ray actors.

A :class:`ShardWorker` holds one shard's :class:`~lowdim.store.Collection` and answers the
coordinator's calls. :class:`LocalShards` runs them one after another in this process;
:class:`RayShards` makes each an actor (``max_restarts=2, max_task_retries=2``: an actor
that dies is restarted, reopens its shard, and the calls it had in flight are retried), and
fans a call out to all of them with one ``ray.get``. A shard that stays unavailable is a
one-line :class:`~lowdim.exceptions.ConflictError` naming it, never a short answer.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..exceptions import ConflictError, LowdimError
from ..store import Collection

__all__ = ["ShardWorker", "LocalShards", "RayShards"]


class ShardWorker:
    """One shard's collection, opened on construction (in a Ray actor: on every restart)."""

    def __init__(self, path: str, readonly: bool) -> None:
        self.col = Collection.open(path, readonly=readonly)

    def query(
        self, Q: np.ndarray, c: int, flt: Any, ef: int | None, nprobe: int | None, with_metadata: bool
    ) -> tuple[np.ndarray, np.ndarray, Any]:
        """The shard's top ``c`` by code score: (ids (nq, c) object, code scores (nq, c) float32, metadata or None)."""
        res = self.col.candidates(Q, c, filter=flt, ef=ef, nprobe=nprobe, with_metadata=with_metadata)
        return res.ids, res.scores, res.metadata

    def rescore(self, Q: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Exact scores (nq, m) of the shard's items ``ids`` (nq, m) object, None for none."""
        return self.col.rescore(Q, ids)

    def get(self, ids: list[Any]) -> Any:
        return self.col.get(ids)

    def add_map(self, query_map: Any, model: str) -> None:
        self.col.add_map(query_map, model=model)

    def query_map(self, model: str) -> Any:
        return self.col.query_map(model)

    def add(self, X: np.ndarray, ids: list[Any], metadata: list[Any] | None) -> list[Any]:
        return self.col.add(X, ids, metadata)

    def delete(self, ids: list[Any]) -> int:
        return self.col.delete(ids)

    def count(self) -> int:
        return len(self.col)

    def describe(self) -> tuple[Any, int]:
        """(the shard's Settings, its live count)."""
        return self.col.settings, len(self.col)

    def pid(self) -> int:
        return os.getpid()

    def close(self) -> None:
        self.col.close()


class LocalShards:
    """Every shard's worker in this process; calls run one shard after another."""

    def __init__(self, paths: Sequence[str], readonly: bool) -> None:
        self.workers: list[ShardWorker] = []
        try:
            for p in paths:
                self.workers.append(ShardWorker(p, readonly))
        except BaseException:
            self.close()
            raise

    def call(self, method: str, args: dict[int, tuple]) -> dict[int, Any]:
        """``{shard: getattr(worker, method)(*args[shard])}``."""
        return {i: getattr(self.workers[i], method)(*a) for i, a in args.items()}

    def close(self) -> None:
        for w in self.workers:
            w.close()
        self.workers = []


class RayShards:
    """One Ray actor per shard (restarted by Ray when it dies); calls fan out and are gathered with one ``ray.get``."""

    def __init__(self, ray: Any, paths: Sequence[str], readonly: bool, names: Sequence[str]) -> None:
        self.ray = ray
        self.names = list(names)
        actor = ray.remote(max_restarts=2, max_task_retries=2, num_cpus=0, scheduling_strategy="SPREAD")(ShardWorker)
        self.actors = [actor.remote(p, readonly) for p in paths]
        self.call("count", {i: () for i in range(len(paths))})  # every shard opened, or one line naming those that did not

    def call(self, method: str, args: dict[int, tuple]) -> dict[int, Any]:
        ray = self.ray
        put: dict[int, Any] = {}  # one object-store copy of each large array argument, shared by every shard
        refs = {}
        for i, a in args.items():
            a2 = tuple(put.setdefault(id(v), ray.put(v)) if isinstance(v, np.ndarray) and v.nbytes > 1 << 16 else v for v in a)
            refs[i] = getattr(self.actors[i], method).remote(*a2)
        try:
            got = ray.get(list(refs.values()))
            return dict(zip(refs, got, strict=True))
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, LowdimError):
                raise cause.with_traceback(None) from None
            raise
        except ray.exceptions.RayError:
            pass
        out, missing = {}, []
        for i, ref in refs.items():  # which shards failed: each one's own answer
            try:
                out[i] = ray.get(ref)
            except ray.exceptions.RayTaskError as exc:
                cause = getattr(exc, "cause", None)
                if isinstance(cause, LowdimError):
                    raise cause.with_traceback(None) from None
                missing.append(i)
            except ray.exceptions.RayError:
                missing.append(i)
        if missing:
            shown = ", ".join(self.names[i] for i in missing)
            raise ConflictError(
                f"{len(missing)} of {len(self.actors)} shards unavailable ({shown}): their actors died and Ray could not "
                f"restart them; no result without them (reopen the sharded collection to retry)"
            )
        return out

    def close(self) -> None:
        try:  # release the shards' writer locks and catalogs before the actors go
            self.ray.get([a.close.remote() for a in self.actors], timeout=30)
        except Exception:  # an actor already gone holds nothing
            pass
        for a in self.actors:
            try:
                self.ray.kill(a)
            except Exception:  # already gone
                pass
        self.actors = []
