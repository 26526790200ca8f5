"""``ground_truth``: exact top-k over a corpus in row blocks, one task per block, merged by score.

Each block's exact top-k comes from :func:`lowdim.search.exact_knn` on that block alone;
the blocks' lists are merged by (score, then lower id), the rule ``exact_knn`` itself
keeps, so the result is ``exact_knn`` over the whole corpus: the same ids, and scores
equal to float rounding (BLAS sums in another order with another thread count). Every
block runs with one BLAS thread, without Ray on a pool of threads of this process, on
Ray as a task that memory-maps its rows of the corpus file (the queries put in the
object store once), so the two paths give the same bits.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from .._progress import ProgressBar
from ..arrays import larger_is_better, single_thread
from ..exceptions import DimensionError, FileFormatError
from ..validation import check_k, check_metric, check_positive_int
from ._pool import check_workers, unwrap_error
from ._ray import connect

__all__ = ["ground_truth", "merge_topk"]

#: default rows per block: a multiple of exact_knn's 4096-row score tile
DEFAULT_BLOCK_ROWS = 16 * 4096


def merge_topk(scores: list[np.ndarray], ids: list[np.ndarray], k: int, *, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Merge per-block top-k lists (each (n_queries, k_i), ids global) into the overall top-k.

    Best score first (highest for cosine/ip, lowest for l2), ties to the lower id; padding
    (-1 ids, infinite scores) comes last and stays padding.

    >>> s, i = merge_topk([np.array([[0.75, 0.5]]), np.array([[0.75, 0.625]])], [np.array([[7, 1]]), np.array([[3, 4]])], 3, metric="ip")
    >>> i.tolist(), s.tolist()
    ([[3, 7, 4]], [[0.75, 0.75, 0.625]])
    """
    S = np.concatenate(scores, axis=1).astype(np.float32, copy=False)
    ids_all = np.concatenate(ids, axis=1).astype(np.int64, copy=False)
    key = -S if larger_is_better(metric) else S
    pad = ids_all < 0
    key = np.where(pad, np.inf, key)
    tie = np.where(pad, np.iinfo(np.int64).max, ids_all)
    order = np.lexsort((tie, key), axis=-1)[:, :k]
    out_s = np.take_along_axis(S, order, axis=1)
    out_i = np.take_along_axis(ids_all, order, axis=1)
    if out_s.shape[1] < k:  # fewer candidates than k in all: pad
        extra = k - out_s.shape[1]
        fill = -np.inf if larger_is_better(metric) else np.inf
        out_s = np.concatenate([out_s, np.full((len(S), extra), fill, np.float32)], axis=1)
        out_i = np.concatenate([out_i, np.full((len(S), extra), -1, np.int64)], axis=1)
    return np.ascontiguousarray(out_s), np.ascontiguousarray(out_i)


def _corpus(source: Any) -> Any:
    if isinstance(source, str):
        from ..eval import read_vectors

        return read_vectors(source, mmap=True)
    return source


def _block_knn(source: Any, start: int, stop: int, queries: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of ``queries`` among corpus rows ``[start, stop)``, ids global."""
    from ..search import exact_knn

    corpus = _corpus(source)
    scores, ids = exact_knn(corpus[start:stop], queries, min(k, stop - start), metric=metric, block_size=stop - start)
    ids = np.where(ids >= 0, ids + start, -1)
    return scores, ids


def ground_truth(
    corpus_path: str | os.PathLike[str] | np.ndarray,
    queries: Any,
    k: int = 100,
    *,
    metric: str = "cosine",
    ray_address: str | None = None,
    block_rows: int = DEFAULT_BLOCK_ROWS,
    workers: int | None = None,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of each query over a corpus, computed in row blocks (one Ray task per block).

    Parameters
    ----------
    corpus_path : path or array of shape (n, d)
        A vector file (``.npy`` memory-mapped, or any format :func:`lowdim.eval.read_vectors`
        reads; on Ray every task opens it, so it must be on shared storage) or an array
        (on Ray put in the object store once).
    queries : array of shape (n_queries, d) or path
    k : int
        Neighbours per query; fewer corpus rows than ``k`` pad the result.
    metric : {"cosine", "ip", "l2"}
        l2 scores are squared distances.
    ray_address : str, optional
        ``None``: in this process; else a Ray address (``"local"``, ``"auto"``, ``"ray://..."``).
    block_rows : int
        Corpus rows per block (per task).
    workers : int, optional
        Threads without Ray (default: this machine's CPUs); on Ray, the most tasks in flight
        (default: all, spread over the cluster). Each block runs with one BLAS thread either
        way, so the scores are the same bits with and without Ray.
    progress : bool
        A rich progress bar of finished blocks on stderr.

    Returns
    -------
    scores : float32 array of shape (n_queries, k)
        Best first (descending for cosine/ip, ascending for l2); padding ``-inf`` / ``+inf``.
    ids : int64 array of shape (n_queries, k)
        Corpus row numbers, ties to the lower id; padding -1. Identical to
        :func:`lowdim.search.exact_knn` over the whole corpus.

    Examples
    --------
    >>> corpus = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], dtype=np.float32)
    >>> scores, ids = ground_truth(corpus, [[1.0, 0.5]], k=2, metric="ip", block_rows=2)
    >>> ids.tolist(), scores.tolist()
    ([[2, 0]], [[1.5, 1.0]])
    """
    k = check_k(k)
    metric = check_metric(metric, owner="ground_truth")
    block_rows = check_positive_int(block_rows, "block_rows", owner="ground_truth")
    workers = check_workers(workers, "ground_truth")
    source: Any
    if isinstance(corpus_path, (str, os.PathLike)):
        path = Path(corpus_path)
        if not path.is_file():
            raise FileFormatError(f"corpus file not found: {path}")
        source = str(path.resolve())
    else:
        source = corpus_path if hasattr(corpus_path, "shape") else np.asarray(corpus_path)
    corpus = _corpus(source)
    if corpus.ndim != 2:
        raise DimensionError(f"corpus has shape {corpus.shape}; expected a 2-D array (n, d)")
    if isinstance(queries, (str, os.PathLike)):
        from ..eval import read_vectors

        queries = read_vectors(queries, mmap=False)
    Q = np.ascontiguousarray(np.asarray(queries, dtype=np.float32))
    if Q.ndim != 2 or Q.shape[1] != corpus.shape[1]:
        raise DimensionError(f"queries have shape {Q.shape}; expected (n_queries, {corpus.shape[1]}) like the corpus")
    n = corpus.shape[0]
    spans = [(start, min(n, start + block_rows)) for start in range(0, n, block_rows)]
    scores: list[np.ndarray] = []
    ids: list[np.ndarray] = []
    if n == 0:
        return merge_topk([np.empty((len(Q), 0), np.float32)], [np.empty((len(Q), 0), np.int64)], k, metric=metric)
    with ProgressBar(progress, total=len(spans), description="ground truth (blocks)") as bar:
        if ray_address is None:
            n_threads = min(len(spans), workers or os.cpu_count() or 1)
            # one BLAS thread per block, as in a Ray task: the same sums, so the same scores
            with single_thread(), ThreadPoolExecutor(n_threads) as pool:
                try:
                    for s, i in pool.map(lambda span: _block_knn(source, span[0], span[1], Q, k, metric), spans):
                        scores.append(s)
                        ids.append(i)
                        bar.update(advance=1)
                except BaseException:
                    pool.shutdown(cancel_futures=True)
                    raise
        else:
            ray = connect(ray_address)
            task = ray.remote(num_cpus=1)(_block_knn)
            src_ref = source if isinstance(source, str) else ray.put(source)
            q_ref = ray.put(Q)
            waiting = list(spans)
            pending: list[Any] = []
            while waiting or pending:
                while waiting and (workers is None or len(pending) < workers):
                    start, stop = waiting.pop(0)
                    pending.append(task.remote(src_ref, start, stop, q_ref, k, metric))
                ready, pending = ray.wait(pending, num_returns=1)
                try:
                    s, i = ray.get(ready[0])
                except Exception as exc:
                    unwrap_error(exc)
                    raise
                scores.append(s)
                ids.append(i)
                bar.update(advance=1)
    return merge_topk(scores, ids, k, metric=metric)
