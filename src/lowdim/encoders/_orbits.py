"""Graphlet-orbit adjacencies (the GRADCO idea) for graphlets of up to 3 nodes, exactly.

A random walk of a few steps sees who is near whom, but not *how* two nodes are related: an
edge inside a triangle and a bridge look alike to it. Orbit adjacencies separate those cases:
``M[u, v]`` counts the induced graphlets in which ``u`` and ``v`` sit on a given pair of orbits.
For the connected graphlets of 2 and 3 nodes (edge; induced 2-path or "wedge" ``a - c - b`` with
ends ``a, b`` and centre ``c``; triangle) that gives four symmetric matrices:

=====================  ==========================================================  ====================
name                   ``M[u, v]`` counts, for ``u != v``                           formula
=====================  ==========================================================  ====================
``edge``               the edge ``u - v`` (orbit pair 0-0)                           ``A``
``wedge_ends``         induced wedges with ends ``u`` and ``v`` (1-1)                ``A²`` off ``A``
``wedge_end_centre``   induced wedges with ``u``, ``v`` an end and the centre        ``d_u + d_v - 2 - 2 T``
                       (1-2 and 2-1, summed so the matrix is symmetric)              on edges
``triangle``           triangles through the edge ``u - v`` (3-3)                    ``T = A ∘ A²``
=====================  ==========================================================  ====================

The graph is taken as simple and undirected: weights become 1, self-loops are ignored. Counts are
exact (float64 holds them exactly up to 2**53). ``wedge_ends`` has as many entries as there are
2-hop pairs (``Σ d²`` at most), the one matrix that can be much larger than ``A``.

Four-node graphlets (GRADCO's remaining 24 orbit-pair matrices) are not computed here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..exceptions import ParameterError, ValidationError
from ._graph import as_adjacency

__all__ = ["ORBIT_PAIRS", "orbit_adjacencies", "combine_orbits", "parse_orbits"]

#: the orbit-pair matrices :func:`orbit_adjacencies` computes, in this order
ORBIT_PAIRS = ("edge", "wedge_ends", "wedge_end_centre", "triangle")


def _simple(A: sp.csr_matrix) -> sp.csr_matrix:
    S = sp.csr_matrix(A, dtype=np.float64, copy=True)
    S.setdiag(0)
    S.eliminate_zeros()
    S = ((S + S.T) > 0).astype(np.float64).tocsr()  # undirected, unweighted
    S.sort_indices()
    return S


def _check_kinds(kinds: Iterable[str]) -> list[str]:
    out = list(kinds)
    for k in out:
        if k not in ORBIT_PAIRS:
            raise ParameterError(f"Unknown orbit pair {k!r}; valid ones are {', '.join(ORBIT_PAIRS)}")
    return out


def orbit_adjacencies(graph: Any, *, n_nodes: int | None = None, kinds: Iterable[str] = ORBIT_PAIRS) -> dict[str, sp.csr_matrix]:
    """Orbit-adjacency matrices of the 2- and 3-node graphlets (see the module table).

    Parameters
    ----------
    graph : int array of shape (m, 2) or scipy.sparse matrix of shape (n, n)
        Edge list or adjacency (see :func:`~lowdim.encoders.as_adjacency`); read as simple and undirected.
    n_nodes : int, optional
        Number of nodes of an edge list.
    kinds : iterable of str
        Which matrices to compute, from :data:`ORBIT_PAIRS`.

    Returns
    -------
    dict name -> scipy.sparse.csr_matrix of shape (n, n), float64 counts, symmetric, zero diagonal

    Examples
    --------
    >>> m = orbit_adjacencies([[0, 1], [1, 2], [0, 2], [2, 3]])
    >>> int(m["triangle"][0, 1]), int(m["wedge_ends"][0, 3]), int(m["wedge_end_centre"][2, 3])
    (1, 1, 2)
    """
    wanted = _check_kinds(kinds)
    A = _simple(as_adjacency(graph, n_nodes=n_nodes, dtype=np.float64))
    out: dict[str, sp.csr_matrix] = {}
    if "edge" in wanted:
        out["edge"] = A.copy()
    if not set(wanted) - {"edge"}:
        return out
    A2 = (A @ A).tocsr()
    A2.setdiag(0)
    A2.eliminate_zeros()
    # common neighbours of each edge's ends, aligned with A's (sorted) entries
    rows, cols = A.nonzero()
    t = np.asarray(A2[rows, cols]).ravel() if len(rows) else np.zeros(0)
    if "triangle" in wanted:
        T = sp.csr_matrix((t, (rows, cols)), shape=A.shape)
        T.eliminate_zeros()
        out["triangle"] = T
    if "wedge_ends" in wanted:
        W = (A2 - A2.multiply(A)).tocsr()
        W.eliminate_zeros()
        out["wedge_ends"] = W
    if "wedge_end_centre" in wanted:
        d = np.diff(A.indptr).astype(np.float64)
        vals = d[rows] + d[cols] - 2.0 - 2.0 * t
        C = sp.csr_matrix((vals, (rows, cols)), shape=A.shape)
        C.eliminate_zeros()
        out["wedge_end_centre"] = C
    return {k: out[k] for k in wanted}


def parse_orbits(text: str | Mapping[str, float]) -> dict[str, float]:
    """Read an orbit combination: ``"edge=1,triangle=0.5"`` (or a mapping) -> ``{"edge": 1.0, "triangle": 0.5}``.

    A bare name has weight 1. Names must be in :data:`ORBIT_PAIRS`; weights finite and >= 0, not all 0.

    >>> parse_orbits("edge,triangle=0.5")
    {'edge': 1.0, 'triangle': 0.5}
    """
    if isinstance(text, Mapping):
        items = [(str(k), v) for k, v in text.items()]
    else:
        items = []
        for piece in str(text).split(","):
            piece = piece.strip()
            if not piece:
                continue
            name, _, value = piece.partition("=")
            try:
                weight = float(value) if value.strip() else 1.0
            except ValueError:
                raise ParameterError(f"Orbit weight {value!r} in {text!r} is not a number (expected name=weight)") from None
            items.append((name.strip(), weight))
    _check_kinds(k for k, _ in items)
    out: dict[str, float] = {}
    for k, v in items:
        try:
            w = float(v)
        except (TypeError, ValueError):
            raise ParameterError(f"Orbit weight {v!r} of {k!r} is not a number") from None
        if not np.isfinite(w) or w < 0:
            raise ParameterError(f"Orbit weight of {k!r} must be finite and >= 0. Got {v!r}.")
        out[k] = out.get(k, 0.0) + w
    if not out or not any(out.values()):
        raise ParameterError(f"An orbit combination needs at least one positive weight. Got {text!r}.")
    return out


def combine_orbits(graph: Any, combination: str | Mapping[str, float], *, n_nodes: int | None = None) -> sp.csr_matrix:
    """The weighted sum ``Σ w_o M_o`` of orbit adjacencies, to propagate over instead of ``A``.

    Each matrix is first scaled to mean entry 1 (so a weight says how much that relation counts,
    not how large its counts happen to be).

    Parameters
    ----------
    graph : int array of shape (m, 2) or scipy.sparse matrix of shape (n, n)
    combination : str or mapping
        See :func:`parse_orbits`.

    Returns
    -------
    scipy.sparse.csr_matrix of shape (n, n), float64

    Examples
    --------
    >>> M = combine_orbits([[0, 1], [1, 2], [0, 2], [2, 3]], "edge=1,triangle=1")
    >>> float(M[0, 1]), float(M[2, 3])
    (2.0, 1.0)
    """
    weights = parse_orbits(combination)
    mats = orbit_adjacencies(graph, n_nodes=n_nodes, kinds=[k for k, w in weights.items() if w > 0])
    total: sp.csr_matrix | None = None
    for k, M in mats.items():
        if M.nnz == 0:
            continue
        term = M * (weights[k] / M.data.mean())
        total = term if total is None else total + term
    if total is None:
        raise ValidationError(f"The orbit combination {combination!r} is empty on this graph (no such graphlets)")
    total = sp.csr_matrix(total)
    total.sort_indices()
    return total
