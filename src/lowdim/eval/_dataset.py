"""A benchmark data set on disk (corpus, queries, ground truth, qrels) and :func:`load_dataset`."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import DimensionError, DTypeError, FileFormatError, ParameterError, ValidationError
from ._readers import PathLike, _hdf5_info, read_ids, read_qrels_jsonl, read_vectors

__all__ = ["Dataset", "load_dataset", "CORPUS_FILES", "QUERY_FILES", "GT_FILES", "QRELS_FILES"]

# Looked for in a data folder, first match wins.
CORPUS_FILES = ("corpus.npy", "corpus.f16.npy", "base.npy", "base.fvecs", "base.bvecs")
QUERY_FILES = ("queries.npy", "queries.fvecs", "query.fvecs", "query.npy", "queries.bvecs", "query.bvecs")
GT_FILES = ("gt_top100.npy", "gt.npy", "groundtruth.ivecs", "gt.ivecs")
QRELS_FILES = ("queries.jsonl",)

# ann-benchmarks' "distance" attribute -> our metric names.
_ANN_METRICS = {"angular": "cosine", "cosine": "cosine", "euclidean": "l2", "l2": "l2", "dot": "ip", "ip": "ip"}

ArrayOrPath = PathLike | np.ndarray


@dataclass
class Dataset:
    """Vectors and truth of one benchmark.

    Attributes
    ----------
    corpus : ndarray of shape (n, d)
        As stored (float16 stays float16, possibly memory-mapped); convert blocks as needed.
    queries : ndarray of shape (n_queries, d)
    gt : int ndarray of shape (n_queries, k_gt), optional
        Exact nearest corpus row ids per query, best first.
    qrels : list of n_queries int64 arrays, optional
        Relevant corpus row ids per query.
    name : str
        Folder name or file stem.
    paths : dict of str to Path
        Where each part came from (``"corpus"``, ``"queries"``, ``"gt"``, ``"qrels"``).
    metric : str, optional
        ``"ip"``, ``"cosine"`` or ``"l2"`` when the files say (ann-benchmarks HDF5).
    """

    corpus: np.ndarray
    queries: np.ndarray
    gt: np.ndarray | None = None
    qrels: list[np.ndarray] | None = None
    name: str = ""
    paths: dict[str, Path] = field(default_factory=dict)
    metric: str | None = None

    @property
    def n(self) -> int:
        """Number of corpus vectors."""
        return int(self.corpus.shape[0])

    @property
    def d(self) -> int:
        """Number of features."""
        return int(self.corpus.shape[1])

    @property
    def n_queries(self) -> int:
        """Number of queries."""
        return int(self.queries.shape[0])


def _find(folder: Path, names: tuple[str, ...]) -> Path | None:
    for name in names:
        if (folder / name).is_file():
            return folder / name
    return None


def _has_field(path: Path, field_name: str) -> bool:
    """Whether the first record of a jsonl file has ``field_name`` (queries.jsonl may hold text only)."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    return True  # let read_qrels_jsonl report the line
                return isinstance(rec, dict) and field_name in rec
    return False


def _is_path(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike))


def _vectors(value: Any, role: str, paths: dict[str, Path]) -> np.ndarray:
    if not _is_path(value):
        return np.asarray(value)
    paths[role] = Path(value)
    return read_vectors(value)


def _ids(value: Any, paths: dict[str, Path]) -> np.ndarray:
    if not _is_path(value):
        return np.asarray(value)
    paths["gt"] = Path(value)
    return read_ids(value)


def _id_rows(ids: np.ndarray) -> list[np.ndarray]:
    """One id per query (1-D) or rows padded with -1 (2-D) -> list of int64 arrays."""
    rows = ids.reshape(-1, 1) if ids.ndim == 1 else ids
    return [row[row >= 0].astype(np.int64) for row in rows]


def _qrels(value: Any, paths: dict[str, Path]) -> list[np.ndarray]:
    if _is_path(value):
        p = Path(value)
        paths["qrels"] = p
        return read_qrels_jsonl(p) if p.suffix.lower() == ".jsonl" else _id_rows(read_ids(p))
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "iu" or value.ndim not in (1, 2):
            raise ValidationError(
                f"qrels array has dtype {value.dtype} and shape {value.shape}; "
                f"expected integer ids of shape (n_queries,) or (n_queries, m)"
            )
        return _id_rows(value)
    out = []
    try:
        for row in value:
            row = sorted(row) if isinstance(row, (set, frozenset)) else row
            out.append(np.atleast_1d(np.asarray(row, dtype=np.int64)))
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"qrels must be a list of per-query id collections: {exc}") from None
    return out


def load_dataset(
    data: PathLike,
    *,
    queries: ArrayOrPath | None = None,
    gt: ArrayOrPath | None = None,
    qrels: Any = None,
) -> Dataset:
    """Load a benchmark from a folder or a single file; vectors stay memory-mapped where the format allows.

    ``data`` is either

    - a **folder** holding a corpus (first of ``corpus.npy``, ``corpus.f16.npy``,
      ``base.npy``, ``base.fvecs``, ``base.bvecs``), queries (``queries.npy``,
      ``queries.fvecs``, ``query.fvecs``, ...), optionally exact neighbours
      (``gt_top100.npy``, ``gt.npy``, ``groundtruth.ivecs``, ``gt.ivecs``) and optionally
      ``queries.jsonl`` whose lines carry ``relevant_doc_ids`` (qrels); or
    - a **file**: an ann-benchmarks ``.hdf5`` gives train as corpus, test as queries and
      neighbors as gt; a ``.npy``/``.fvecs``/``.bvecs``/``.parquet`` file is the corpus
      and needs ``queries=``.

    Keyword arguments override what the folder holds; each is a path or an array
    (``qrels`` also a list of id collections). Given ``queries``, the folder's ground truth
    and judgements are left out (they belong to the folder's own queries): pass ``gt=``
    and ``qrels=`` for the new queries, or let the ground truth be computed.

    Parameters
    ----------
    data : str or PathLike
    queries : path or ndarray of shape (n_queries, d), optional
    gt : path or int ndarray of shape (n_queries, k), optional
    qrels : path (.jsonl, or .npy/.ivecs of ids padded with -1), or list of n_queries id collections, optional

    Returns
    -------
    Dataset

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> folder = tempfile.mkdtemp()
    >>> np.save(folder + "/corpus.npy", np.eye(4, dtype=np.float32))
    >>> np.save(folder + "/queries.npy", np.ones((2, 4), dtype=np.float32))
    >>> ds = load_dataset(folder)
    >>> ds.n, ds.n_queries, ds.gt is None
    (4, 2, True)
    """
    root = Path(data)
    paths: dict[str, Path] = {}
    metric = None
    found_q = found_gt = found_qrels = None
    if root.is_dir():
        corpus_path = _find(root, CORPUS_FILES)
        if corpus_path is None:
            present = ", ".join(sorted(p.name for p in root.iterdir())[:12]) or "(empty)"
            raise FileFormatError(f"{root} holds no corpus file; looked for {', '.join(CORPUS_FILES)}. It holds: {present}")
        paths["corpus"] = corpus_path
        corpus = read_vectors(corpus_path)
        found_q = _find(root, QUERY_FILES)
        if queries is None and found_q is None:
            raise FileFormatError(
                f"{root} holds no queries file; looked for {', '.join(QUERY_FILES)}. Pass queries= a path or an array"
            )
        if queries is None:
            # the folder's ground truth and judgements belong to the folder's queries: with other
            # queries they would be silently wrong (or fail on a count), so they are not picked up
            found_gt = _find(root, GT_FILES)
            found_qrels = _find(root, QRELS_FILES)
            if found_qrels is not None and not _has_field(found_qrels, "relevant_doc_ids"):
                found_qrels = None
        name = root.name
    elif root.is_file():
        name = root.name.split(".")[0]
        paths["corpus"] = root
        if root.suffix.lower() in (".hdf5", ".h5"):
            attrs, names = _hdf5_info(root)
            corpus = read_vectors(root, dataset="train")
            if queries is None:
                queries = read_vectors(root, dataset="test")
                paths["queries"] = root
            if gt is None and "neighbors" in names:  # a file without neighbours is still a usable data set
                gt = read_ids(root, dataset="neighbors")
                paths["gt"] = root
            metric = _ANN_METRICS.get(str(attrs.get("distance", "")).lower())
        else:
            corpus = read_vectors(root)
            if queries is None:
                raise ParameterError(
                    f"{root.name} is a single corpus file; pass queries= a path or an array "
                    f"(or point load_dataset at a folder holding {QUERY_FILES[0]})"
                )
    else:
        raise FileFormatError(f"{root}: no such file or folder")

    q = _vectors(queries if queries is not None else found_q, "queries", paths)
    g = _ids(gt, paths) if gt is not None else (_ids(found_gt, paths) if found_gt is not None else None)
    r_src = qrels if qrels is not None else found_qrels
    r = _qrels(r_src, paths) if r_src is not None else None
    ds = Dataset(corpus=corpus, queries=q, gt=g, qrels=r, name=name, paths=paths, metric=metric)
    _check(ds)
    return ds


def _check(ds: Dataset) -> None:
    """Cross-check shapes so a mismatched file fails here, not deep inside a benchmark."""
    for role, arr in (("corpus", ds.corpus), ("queries", ds.queries)):
        if arr.ndim != 2:
            raise DimensionError(f"{role} has shape {arr.shape}; expected a 2-D array (n, d)")
    if ds.queries.shape[1] != ds.corpus.shape[1]:
        raise DimensionError(f"queries have {ds.queries.shape[1]} features, but the corpus has {ds.corpus.shape[1]}")
    if ds.gt is not None:
        if ds.gt.dtype.kind not in "iu":
            raise DTypeError(f"gt has dtype {ds.gt.dtype}; expected integer corpus row ids")
        if ds.gt.ndim != 2 or ds.gt.shape[0] != ds.n_queries:
            raise DimensionError(f"gt has shape {ds.gt.shape}; expected ({ds.n_queries}, k), one row per query")
        if ds.gt.size and int(ds.gt.max()) >= ds.n:
            raise ValidationError(f"gt holds id {int(ds.gt.max())}, but the corpus has only {ds.n} rows")
    if ds.qrels is not None:
        if len(ds.qrels) != ds.n_queries:
            raise DimensionError(f"qrels has {len(ds.qrels)} queries, but there are {ds.n_queries} queries")
        top = max((int(r.max()) for r in ds.qrels if r.size), default=-1)
        if top >= ds.n:
            raise ValidationError(f"qrels hold doc id {top}, but the corpus has only {ds.n} rows")
