"""A pool of stateful workers over a list of work items: Ray Data's actor pool, or this process.

The batch pipelines (embed, encode) share one shape: a list of small work items (a chunk
number and its row span), a worker that is expensive to build (a loaded model, a fitted
codec) and cheap to call, and results written by the worker itself to files of a partial
folder. :func:`run_pool` runs that shape either in this process (``address=None``) or on
Ray Data: ``from_items`` over the items, ``map_batches`` with an actor class that builds
the worker once per actor, ``concurrency=workers`` actors, while the driver counts the
finished items on a progress bar.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .._progress import ProgressBar
from ..arrays import single_thread
from ..exceptions import LowdimError, ParameterError
from ._ray import connect

__all__ = ["run_pool", "cluster_cpus", "check_workers", "unwrap_error"]

#: An item is a dict of plain values (ints, strings, lists of strings); Ray Data carries it as one Arrow row.
Item = dict[str, Any]
#: A worker factory: a picklable zero-argument callable (a module-level function or a functools.partial of one).
WorkerFactory = Callable[[], Callable[[Item], int]]


def check_workers(workers: int | None, owner: str) -> int | None:
    """``workers`` as a positive int, or ``None`` (meaning: every CPU of the cluster)."""
    if workers is None:
        return None
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ParameterError(f"The 'workers' parameter of {owner} must be a positive int or None. Got {workers!r}.")
    return workers


def cluster_cpus(ray: Any) -> int:
    """CPUs of the connected Ray cluster (at least 1)."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


class _PoolActor:
    """One Ray Data actor: builds the worker once, then runs it on each batch of items."""

    def __init__(self, make_worker: WorkerFactory) -> None:
        self.work = make_worker()

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        keys = list(batch)
        n = len(batch[keys[0]])
        with single_thread():
            done = [self.work({key: _plain(batch[key][i]) for key in keys}) for i in range(n)]
        return {"units": np.asarray(done, dtype=np.int64)}


def _plain(value: Any) -> Any:
    """A value of a Ray Data numpy batch back as the plain Python value of the item."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def unwrap_error(exc: BaseException) -> None:
    """Raise, as a one-line error of its own class, the lowdim error a Ray worker raised inside ``exc``, if any.

    Ray wraps a worker's exception (``RayTaskError``, Ray Data's ``UserCodeException``) with
    the remote traceback in its message; the original is the ``cause`` of the wrapper.
    """
    inner = _unwrap(exc)
    if inner is not None:
        raise type(inner)(str(inner)) from None


def _unwrap(exc: BaseException) -> BaseException | None:
    """The lowdim error a Ray worker raised, found in the chain of Ray's wrappers, or None."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        cause = getattr(cur, "cause", None)
        if isinstance(cause, BaseException) and cause is not cur:
            cur = cause  # a Ray wrapper: its cause is what the worker raised
            continue
        if isinstance(cur, LowdimError) and type(cur).__module__.startswith("lowdim."):
            return cur
        cur = cur.__cause__ or cur.__context__
    return None


def run_pool(
    items: Sequence[Item],
    make_worker: WorkerFactory,
    *,
    address: str | None,
    workers: int | None = None,
    progress: bool = False,
    description: str = "",
    total_units: int | None = None,
    done_units: int = 0,
    on_done: Callable[[int], None] | None = None,
) -> None:
    """Run ``make_worker()`` over every item: in this process, or on a Ray Data actor pool.

    Parameters
    ----------
    items : sequence of dict
        Work items of plain values; each is passed to the worker once.
    make_worker : callable
        ``make_worker()`` returns ``work(item) -> units``: it does the item's work (writing
        its own output file) and returns how many units (rows) it finished. Must pickle
        (a module-level function, or ``functools.partial`` of one) to run on Ray.
    address : str or None
        ``None``: one worker in this process, called from ``workers`` threads (so it must be
        thread-safe); else a Ray address (see :func:`connect`): one worker per actor.
    workers : int, optional
        Threads, or Ray actors (default: this machine's or the cluster's CPUs, at most one
        per item). Either way each item runs with one BLAS/FAISS thread, so its floating-point
        results do not depend on where it ran.
    progress : bool
        Show a rich progress bar of finished units on stderr (on the driver).
    description, total_units, done_units
        The bar's label, its total and where it starts (units already done before).
    on_done : callable, optional
        ``on_done(units)`` on the driver after each finished item.
    """
    total = total_units if total_units is not None else len(items)
    with ProgressBar(progress and bool(items), total=total, description=description) as bar:
        bar.update(advance=done_units)

        def finished(units: int) -> None:
            bar.update(advance=units)
            if on_done is not None:
                on_done(units)

        if not items:
            return
        if address is None:
            work = make_worker()
            n_threads = min(len(items), workers or os.cpu_count() or 1)
            # one BLAS thread per item, as in a Ray actor: the same floating-point sums, so the same bytes
            with single_thread(), ThreadPoolExecutor(n_threads) as pool:
                try:
                    for units in pool.map(work, [dict(item) for item in items]):
                        finished(units)
                except BaseException:
                    pool.shutdown(cancel_futures=True)  # a failure stops the run where it is, as a kill would
                    raise
            return
        ray = connect(address)
        with _quiet_ray_data():
            _run_on_ray(ray, items, make_worker, workers, finished)


def _run_on_ray(
    ray: Any, items: Sequence[Item], make_worker: WorkerFactory, workers: int | None, finished: Callable[[int], None]
) -> None:
    """The Ray Data side of :func:`run_pool`: one actor per worker, one item per batch."""
    n_actors = min(len(items), workers or cluster_cpus(ray))
    ds = ray.data.from_items(list(items), override_num_blocks=len(items))
    ds = ds.map_batches(
        _PoolActor,
        fn_constructor_args=(make_worker,),
        batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=n_actors),
        num_cpus=1,
    )
    try:
        for row in ds.iter_rows():
            finished(int(row["units"]))
    except Exception as exc:
        unwrap_error(exc)
        raise


@contextlib.contextmanager
def _quiet_ray_data() -> Iterator[None]:
    """Ray Data's own progress bars and INFO lines would fight our bar on stderr (errors still show)."""
    import ray.data

    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    logger = logging.getLogger("ray.data")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
