"""What the planner measures on: the corpus, the queries and their exact neighbours.

``plan`` accepts a :class:`~lowdim.eval.Dataset`, an array, or a path (a data-set
folder or one vector file). Without queries it holds out a seeded sample of the
corpus rows as queries and removes them from the corpus it measures, so no query
finds itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..arrays import sample_indices, to_float32
from ..eval import CORPUS_FILES, QUERY_FILES, Dataset, exact_knn, load_dataset, read_ids, read_vectors
from ..exceptions import DimensionError, DTypeError, FileFormatError, ParameterError, ValidationError
from ..validation import as_float_rows, check_embeddings

__all__ = ["PlanInputs", "resolve_inputs", "split_queries"]

#: fewest held-out queries worth a plan (the CI would be meaningless below)
MIN_HOLDOUT = 20


@dataclass
class PlanInputs:
    """The measured corpus, the queries and their ground truth.

    Attributes
    ----------
    corpus : (n, d) float array or memmap, stored dtype (held-out rows removed)
    queries : (nq, d) float32
    gt : (nq, k) int64, exact neighbours as ``corpus`` row numbers, or None until computed
    source : str
        Where the queries come from, in words (printed and written to JSON).
    name : str
        Data-set name (folder or file stem), "" for arrays.
    held_out : (nq,) int64 or None
        Rows of the original corpus used as queries.
    sampled_from : int or None
        Rows of the whole corpus when the plan measures a seeded sample of it (``sample=``).
    """

    corpus: np.ndarray
    queries: np.ndarray
    gt: np.ndarray | None
    source: str
    name: str = ""
    held_out: np.ndarray | None = None
    sampled_from: int | None = None


def _is_path(x: Any) -> bool:
    return isinstance(x, (str, os.PathLike))


def _find(folder: Path, names: tuple[str, ...]) -> Path | None:
    return next((folder / n for n in names if (folder / n).is_file()), None)


def _load_path(path: Path) -> tuple[np.ndarray, Dataset | None, str]:
    """A folder with queries loads as a Dataset; a folder or file without them gives just the corpus."""
    if path.is_dir():
        if _find(path, QUERY_FILES) is not None:
            ds = load_dataset(path)
            return ds.corpus, ds, path.name
        corpus_path = _find(path, CORPUS_FILES)
        if corpus_path is None:
            raise FileFormatError(f"{path} holds none of {', '.join(CORPUS_FILES)}")
        return read_vectors(corpus_path), None, path.name
    if not path.exists():
        raise FileFormatError(f"{path}: no such file or folder")
    if path.suffix.lower() in (".hdf5", ".h5"):
        ds = load_dataset(path)
        return ds.corpus, ds, path.name.split(".")[0]
    return read_vectors(path), None, path.name.split(".")[0]


def check_gt(gt: Any, nq: int, n: int, k: int) -> np.ndarray:
    """The true top-``k`` corpus rows per query from ``gt`` (n_queries, >= k), checked; -1 pads short rows."""
    arr = np.asarray(gt)
    if arr.dtype.kind not in "iu":
        raise DTypeError(f"gt has dtype {arr.dtype}; expected integer corpus row ids of shape (n_queries, >= k)")
    if arr.ndim != 2 or arr.shape[0] != nq:
        raise DimensionError(f"gt has shape {arr.shape}; expected ({nq}, >= {k}), one row per query")
    if arr.shape[1] < k:
        raise DimensionError(
            f"gt has shape {arr.shape}; expected ({nq}, >= {k}): {arr.shape[1]} neighbours per query, "
            f"fewer than k={k}; pass k <= {arr.shape[1]}"
        )
    top = arr[:, :k]
    bad = top[(top < -1) | (top >= n)]
    if bad.size:
        raise ValidationError(f"gt holds id {int(bad[0])}, outside [0, {n}) of the corpus (-1 pads short rows)")
    return top.astype(np.int64)


def resolve_inputs(
    data: Any,
    *,
    queries: Any = None,
    gt: Any = None,
    k: int,
    n_holdout: int,
    seed: int,
    sample: int | None = None,
) -> PlanInputs:
    """Corpus, queries and (given) ground truth for a plan; held-out queries when none are given.

    Parameters
    ----------
    data : Dataset, (n, d) array, or path to a data-set folder / vector file
    queries : (nq, d) array or path, optional
        Overrides the data set's queries.
    gt : (nq, >= k) int array or path, optional
        Exact neighbours of ``queries``; computed when absent.
    n_holdout : int
        Queries to hold out when there are none: ``min(n_holdout, n // 10)``.
    sample : int, optional
        Measure on a seeded sample of this many corpus rows (read into memory) when the
        corpus is larger; the ground truth is then computed on the sample (a given ``gt``
        numbers rows of the whole corpus and is set aside).
    """
    name = ""
    ds: Dataset | None = None
    if isinstance(data, Dataset):
        corpus, ds, name = data.corpus, data, data.name
    elif _is_path(data):
        corpus, ds, name = _load_path(Path(data))
    else:
        corpus = data
    corpus = as_float_rows(corpus, name="corpus")
    n, d = corpus.shape
    if gt is not None and queries is None:
        raise ParameterError("gt= was given without queries=; pass the queries whose neighbours gt holds")
    source = "given"
    if queries is not None:
        source = f"given ({Path(queries).name})" if _is_path(queries) else "given"
        Q = read_vectors(queries) if _is_path(queries) else queries
        G = (read_ids(gt) if _is_path(gt) else gt) if gt is not None else None
    elif ds is not None:
        Q, G = ds.queries, ds.gt
        where = ds.paths.get("queries")
        source = f"given ({where.name})" if where is not None else "given (data set)"
    else:
        Q = G = None
    sampled_from = None
    if Q is not None:
        Q = check_embeddings(Q, n_features=d, name="queries", what="the corpus")
        G = check_gt(G, len(Q), n, k) if G is not None else None
    if sample is not None and n > sample:
        rows = sample_indices(n, sample, seed)
        corpus, sampled_from, G = np.asarray(corpus[rows]), n, None
        n = len(corpus)
    if Q is not None:
        return PlanInputs(corpus, Q, G, source, name, sampled_from=sampled_from)
    n_q = min(n_holdout, n // 10)
    if n_q < MIN_HOLDOUT:
        raise ParameterError(
            f"the corpus has only {n} rows, too few to hold out {MIN_HOLDOUT} queries (a tenth of it); "
            "pass queries= (and gt=) explicitly"
        )
    rng = np.random.default_rng(seed)
    held = np.sort(rng.choice(n, n_q, replace=False)).astype(np.int64)
    keep = np.ones(n, bool)
    keep[held] = False
    Q = check_embeddings(to_float32(np.asarray(corpus[held])), name="held-out queries")
    rest = np.asarray(corpus[keep]) if isinstance(corpus, np.memmap) else corpus[keep]
    source = (
        f"held out: {n_q} corpus rows drawn with seed {seed}, removed from the corpus for the measurement "
        f"(pass queries= to plan on your own queries)"
    )
    return PlanInputs(rest, Q, None, source, name, held_out=held, sampled_from=sampled_from)


def ground_truth(inputs: PlanInputs, *, k: int, metric: str, progress: bool = False) -> np.ndarray:
    """Exact top-k ids of the queries in the measured corpus (computed in blocks when not given)."""
    if inputs.gt is None:
        _, ids = exact_knn(inputs.corpus, inputs.queries, k, metric=metric, progress=progress)
        inputs.gt = ids
    return inputs.gt


def split_queries(n_queries: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The planning queries' two halves: (rows to choose on, rows to confirm on), sorted int64.

    A seeded half (``ceil(n/2)`` rows) chooses and the rest confirms, so the same queries
    and seed always split the same way. A single query is both halves (nothing to split).

    Examples
    --------
    >>> a, b = split_queries(10, seed=0)
    >>> len(a), len(b), sorted(set(a) | set(b)) == list(range(10)), set(a) & set(b)
    (5, 5, True, set())
    """
    rows = np.arange(n_queries, dtype=np.int64)
    if n_queries < 2:
        return rows, rows
    choose = sample_indices(n_queries, (n_queries + 1) // 2, seed)
    keep = np.ones(n_queries, bool)
    keep[choose] = False
    return choose, rows[keep]
