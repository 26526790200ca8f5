"""The one gate for graphs: an edge list or a sparse adjacency becomes a checked CSR matrix.

Every graph encoder (:class:`~lowdim.encoders.FastRP`, :func:`~lowdim.encoders.orbit_adjacencies`)
reads its input through :func:`as_adjacency`, and the command line reads files through
:func:`read_graph`, so bad input gets the same one-line message everywhere.

Conventions (documented once, here):

- An **edge list** ``(m, 2)`` of integer node ids is an undirected, unweighted graph on nodes
  ``0..n-1`` (``n = max id + 1`` unless ``n_nodes`` says more, so trailing isolated nodes can be
  kept). ``(u, v)`` and ``(v, u)`` are the same edge; repeated edges count once.
- A **self-loop** ``(u, u)`` is kept as the diagonal entry ``A[u, u] = 1``: it counts once in u's
  degree, so a random-walk step stays on u with probability ``1 / d_u``.
- A **scipy.sparse matrix** is used as given: square, finite, non-negative weights (a weighted
  graph); an asymmetric matrix is a directed graph whose rows propagate from out-neighbours.
- A node without edges (degree 0) is **isolated**: its row of the transition matrix is zero.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..exceptions import DimensionError, DTypeError, FileFormatError, ValidationError

__all__ = ["GRAPH_FORMATS", "as_adjacency", "read_graph", "degrees"]

#: file extensions :func:`read_graph` understands
GRAPH_FORMATS = (".npy", ".csv", ".tsv", ".txt", ".mtx")


def _check_edges(edges: Any, n_nodes: int | None, name: str) -> tuple[np.ndarray, int]:
    arr = np.asarray(edges)
    if arr.dtype == object:
        raise DTypeError(f"{name} has dtype object; expected an integer array of node-id pairs (m, 2)")
    if arr.dtype.kind == "f":
        if arr.size and not np.all(np.isfinite(arr)):
            raise ValidationError(f"{name} contains NaN or infinity; expected integer node ids")
        if arr.size and not np.all(arr == np.round(arr)):
            raise DTypeError(f"{name} has non-integer values; expected integer node ids (m, 2)")
        arr = arr.astype(np.int64)
    elif arr.dtype.kind == "b" or arr.dtype.kind not in "iu":
        raise DTypeError(f"{name} has dtype {arr.dtype}; expected integer node ids (m, 2)")
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise DimensionError(f"{name} has shape {arr.shape}; expected an edge list of shape (m, 2): one (u, v) pair per row")
    if arr.shape[0] == 0:
        raise ValidationError(f"{name} is an empty graph (0 edges); expected at least 1 edge")
    arr = arr.astype(np.int64, copy=False)
    low = int(arr.min())
    if low < 0:
        row = int(np.flatnonzero((arr < 0).any(axis=1))[0])
        raise ValidationError(f"{name} has a negative node id {low} (row {row}); node ids must be 0..n-1")
    high = int(arr.max())
    if n_nodes is None:
        n_nodes = high + 1
    elif high >= n_nodes:
        row = int(np.flatnonzero((arr >= n_nodes).any(axis=1))[0])
        raise ValidationError(f"{name} has node id {high} (row {row}) outside 0..{n_nodes - 1} (n_nodes={n_nodes})")
    return arr, n_nodes


def as_adjacency(graph: Any, *, n_nodes: int | None = None, dtype: Any = np.float32, name: str = "graph") -> sp.csr_matrix:
    """Check a graph and return its adjacency as a CSR matrix of shape (n, n).

    Parameters
    ----------
    graph : int array of shape (m, 2), or scipy.sparse matrix of shape (n, n)
        An undirected edge list, or a (weighted) adjacency used as given (see the module notes:
        repeated edges count once, a self-loop ``(u, u)`` is the diagonal entry 1).
    n_nodes : int, optional
        Number of nodes of an edge list (default: largest id + 1); ids must lie in ``0..n_nodes-1``.
    dtype : numpy dtype
        dtype of the returned matrix.

    Returns
    -------
    scipy.sparse.csr_matrix of shape (n, n), sorted indices, no explicit zeros

    Examples
    --------
    >>> as_adjacency([[0, 1], [1, 2], [2, 1]]).toarray()
    array([[0., 1., 0.],
           [1., 0., 1.],
           [0., 1., 0.]], dtype=float32)
    """
    if sp.issparse(graph):
        if graph.ndim != 2 or graph.shape[0] != graph.shape[1]:
            raise DimensionError(f"{name} is a {graph.shape[0]} x {graph.shape[1]} matrix; an adjacency must be square (n, n)")
        if n_nodes is not None and graph.shape[0] != n_nodes:
            raise DimensionError(f"{name} has {graph.shape[0]} nodes, but n_nodes={n_nodes}")
        if graph.dtype.kind not in "iufb":
            raise DTypeError(f"{name} has dtype {graph.dtype}; expected real edge weights")
        A = sp.csr_matrix(graph, dtype=dtype, copy=True)
        A.eliminate_zeros()
        if A.nnz == 0:
            raise ValidationError(f"{name} is an empty graph (no non-zero entries); expected at least 1 edge")
        if not np.all(np.isfinite(A.data)):
            raise ValidationError(f"{name} has NaN or infinite edge weights")
        if A.data.min() < 0:
            raise ValidationError(f"{name} has negative edge weights (min {A.data.min():g}); weights must be >= 0")
        A.sum_duplicates()
        A.sort_indices()
        return A
    if isinstance(graph, np.ndarray) and graph.ndim == 2 and graph.shape[0] == graph.shape[1] and graph.shape[1] != 2:
        raise DTypeError(f"{name} is a dense {graph.shape} array; pass scipy.sparse.csr_matrix(A) for an adjacency matrix")
    edges, n = _check_edges(graph, n_nodes, name)
    u, v = edges[:, 0], edges[:, 1]
    rows = np.concatenate([u, v[u != v]])
    cols = np.concatenate([v, u[u != v]])
    A = sp.csr_matrix((np.ones(len(rows), dtype=dtype), (rows, cols)), shape=(n, n))
    A.sum_duplicates()
    A.data[:] = 1  # repeated edges count once
    A.sort_indices()
    return A


def degrees(A: sp.csr_matrix) -> np.ndarray:
    """Weighted out-degrees (row sums) of an adjacency, float64 of shape (n,).

    >>> degrees(as_adjacency([[0, 1], [1, 2]])).tolist()
    [1.0, 2.0, 1.0]
    """
    return np.asarray(A.sum(axis=1, dtype=np.float64)).ravel()


def read_graph(path: str | os.PathLike[str]) -> Any:
    """Read a graph file: an edge list (int array (m, 2)) or a sparse adjacency (CSR, for ``.mtx``).

    Parameters
    ----------
    path : path
        ``.npy`` (int pairs (m, 2)), ``.csv`` / ``.tsv`` / ``.txt`` (two integer columns; lines
        starting with ``#`` or ``%`` and a non-numeric header line are skipped; extra columns are
        ignored) or ``.mtx`` (Matrix Market, square).

    Returns
    -------
    ndarray of shape (m, 2) int64, or scipy.sparse.csr_matrix of shape (n, n)
        Not yet checked: pass it to :func:`as_adjacency`.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "g.csv"
    >>> _ = p.write_text("u,v\\n0,1\\n1,2\\n")
    >>> read_graph(p).tolist()
    [[0, 1], [1, 2]]
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in GRAPH_FORMATS:
        raise FileFormatError(
            f"{path}: unsupported graph file {ext or '(no extension)'}; expected one of {', '.join(GRAPH_FORMATS)}"
        )
    if not path.is_file():
        raise FileFormatError(f"{path}: no such file")
    try:
        if ext == ".npy":
            return np.load(path, allow_pickle=False)
        if ext == ".mtx":
            import scipy.io

            return sp.csr_matrix(scipy.io.mmread(path))
        return _read_text_edges(path, "\t" if ext == ".tsv" else None)
    except (FileFormatError, ValidationError):
        raise
    except (ValueError, OSError, EOFError, IndexError) as exc:
        raise FileFormatError(
            f"{path}: could not be read as a graph ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
        ) from None


def _read_text_edges(path: Path, sep: str | None) -> np.ndarray:
    pairs: list[tuple[int, int]] = []
    header_allowed = True
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            text = line.strip()
            if not text or text[0] in "#%":
                continue
            parts = text.split(sep) if sep else text.replace(",", " ").split()
            if len(parts) < 2:
                raise FileFormatError(f"{path}:{lineno}: expected two node ids per line, got {text[:40]!r}")
            try:
                pairs.append((int(parts[0]), int(parts[1])))
            except ValueError:
                if header_allowed:  # the first data line may be a header ("src,dst")
                    header_allowed = False
                    continue
                raise FileFormatError(f"{path}:{lineno}: node ids must be integers, got {text[:40]!r}") from None
            header_allowed = False
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
