"""The graph gate: edge lists, sparse adjacencies and graph files, and every bad input as one clear error."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

from lowdim.encoders import as_adjacency, read_graph
from lowdim.exceptions import DimensionError, DTypeError, FileFormatError, ValidationError


def test_edge_list_is_undirected_deduplicated_and_sized():
    A = as_adjacency([[0, 1], [1, 0], [0, 1], [2, 3]], n_nodes=6)
    assert A.shape == (6, 6) and A.nnz == 4 and A.data.max() == 1
    assert (A != A.T).nnz == 0


@pytest.mark.parametrize(
    "graph, error, match",
    [
        ([[0, 1], [1, 5]], ValidationError, r"node id 5 \(row 1\) outside 0..3"),
        ([[0, 1], [-2, 1]], ValidationError, "negative node id -2"),
        (np.zeros((0, 2), dtype=np.int64), ValidationError, "empty graph"),
        ([[0, 1, 2]], DimensionError, r"shape \(1, 3\)"),
        ([[0.5, 1]], DTypeError, "non-integer"),
        ([[np.nan, 1]], ValidationError, "NaN"),
        (sp.random(3, 4, density=0.5, random_state=0), DimensionError, "must be square"),
        (sp.csr_matrix((3, 3)), ValidationError, "empty graph"),
        (sp.csr_matrix(np.array([[0, -1.0], [1, 0]])), ValidationError, "negative edge weights"),
        (sp.csr_matrix(np.array([[0, np.nan], [1, 0]])), ValidationError, "NaN"),
        (np.eye(3), DTypeError, "scipy.sparse.csr_matrix"),
        (["a", "b"], DTypeError, "dtype"),
    ],
)
def test_bad_graphs_are_one_line_errors(graph, error, match):
    with pytest.raises(error, match=match):
        as_adjacency(graph, n_nodes=4 if isinstance(graph, list) and graph == [[0, 1], [1, 5]] else None)


def test_read_graph_formats(tmp_path):
    edges = np.array([[0, 1], [1, 2], [2, 3]])
    np.save(tmp_path / "g.npy", edges)
    (tmp_path / "g.csv").write_text("# comment\nsrc,dst\n0,1\n1,2\n2,3\n")
    (tmp_path / "g.tsv").write_text("0\t1\t0.5\n1\t2\t1\n2\t3\t1\n")
    scipy.io.mmwrite(tmp_path / "g.mtx", as_adjacency(edges))
    for name in ("g.npy", "g.csv", "g.tsv"):
        assert read_graph(tmp_path / name).tolist() == edges.tolist(), name
    A = read_graph(tmp_path / "g.mtx")
    assert sp.issparse(A) and (as_adjacency(A) != as_adjacency(edges)).nnz == 0


def test_read_graph_refuses_bad_files(tmp_path):
    (tmp_path / "bad.csv").write_text("0,1\n1,x\n")
    (tmp_path / "short.csv").write_text("0,1\n7\n")
    (tmp_path / "junk.npy").write_bytes(b"not a npy file")
    (tmp_path / "junk.mtx").write_text("garbage\n")
    with pytest.raises(FileFormatError, match=r"bad.csv:2: node ids must be integers"):
        read_graph(tmp_path / "bad.csv")
    with pytest.raises(FileFormatError, match="two node ids"):
        read_graph(tmp_path / "short.csv")
    with pytest.raises(FileFormatError, match="could not be read"):
        read_graph(tmp_path / "junk.npy")
    with pytest.raises(FileFormatError, match="could not be read"):
        read_graph(tmp_path / "junk.mtx")
    with pytest.raises(FileFormatError, match="no such file"):
        read_graph(tmp_path / "missing.csv")
    with pytest.raises(FileFormatError, match="unsupported graph file .json"):
        read_graph(tmp_path / "g.json")
