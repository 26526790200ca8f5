"""Orbit adjacencies against brute-force enumeration of every node triple (networkx)."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest

from lowdim.encoders import ORBIT_PAIRS, combine_orbits, orbit_adjacencies, parse_orbits
from lowdim.exceptions import ParameterError


def brute_force(G: nx.Graph, n: int) -> dict[str, np.ndarray]:
    out = {k: np.zeros((n, n)) for k in ORBIT_PAIRS}
    for u, v in G.edges():
        if u != v:
            out["edge"][u, v] = out["edge"][v, u] = 1
    for trio in itertools.combinations(range(n), 3):
        sub = G.subgraph(trio)
        m = sum(1 for a, b in sub.edges() if a != b)
        if m == 3:
            for a, b in itertools.permutations(trio, 2):
                out["triangle"][a, b] += 1
        elif m == 2:
            centre = next(x for x in trio if sum(1 for y in trio if y != x and sub.has_edge(x, y)) == 2)
            a, b = (x for x in trio if x != centre)
            out["wedge_ends"][a, b] += 1
            out["wedge_ends"][b, a] += 1
            for end in (a, b):
                out["wedge_end_centre"][end, centre] += 1
                out["wedge_end_centre"][centre, end] += 1
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_orbit_counts_match_brute_force_on_random_graphs(seed):
    n = 18
    G = nx.gnp_random_graph(n, 0.3, seed=seed)
    G.add_edge(3, 3)  # a self-loop is ignored by the orbit counts
    edges = np.array(list(G.edges()))
    got = orbit_adjacencies(edges, n_nodes=n)
    want = brute_force(G, n)
    assert list(got) == list(ORBIT_PAIRS)
    for k in ORBIT_PAIRS:
        np.testing.assert_array_equal(got[k].toarray(), want[k], err_msg=k)
        assert (got[k] != got[k].T).nnz == 0


def test_kinds_selects_and_orders():
    m = orbit_adjacencies([[0, 1], [1, 2]], kinds=["triangle", "wedge_ends"])
    assert list(m) == ["triangle", "wedge_ends"]
    assert m["triangle"].nnz == 0 and m["wedge_ends"][0, 2] == 1
    with pytest.raises(ParameterError, match="Unknown orbit pair 'squares'"):
        orbit_adjacencies([[0, 1]], kinds=["squares"])


def test_parse_and_combine():
    assert parse_orbits("edge, triangle=0.5") == {"edge": 1.0, "triangle": 0.5}
    assert parse_orbits({"wedge_ends": 2}) == {"wedge_ends": 2.0}
    for bad, msg in [
        ("edge=x", "not a number"),
        ("edge=-1", ">= 0"),
        ("edge=0", "positive"),
        ("", "positive"),
        ("cube=1", "Unknown"),
    ]:
        with pytest.raises(ParameterError, match=msg):
            parse_orbits(bad)
    G = nx.gnp_random_graph(15, 0.3, seed=4)
    edges = np.array(list(G.edges()))
    mats = orbit_adjacencies(edges, n_nodes=15)
    M = combine_orbits(edges, "edge=1,wedge_ends=0.5", n_nodes=15)
    want = mats["edge"] / mats["edge"].data.mean() + 0.5 * mats["wedge_ends"] / mats["wedge_ends"].data.mean()
    np.testing.assert_allclose(M.toarray(), want.toarray())
