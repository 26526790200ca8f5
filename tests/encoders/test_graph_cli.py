"""``lowdim embed-graph``: round trips from every file format, and every bad input as one line with exit code 2."""

from __future__ import annotations

import re

import networkx as nx
import numpy as np
import pytest
import scipy.io
import scipy.sparse

from lowdim.cli import main
from lowdim.encoders import FastRP, as_adjacency


@pytest.fixture
def graph(tmp_path):
    G = nx.planted_partition_graph(3, 30, 0.2, 0.01, seed=1)
    edges = np.array(list(G.edges()))
    np.save(tmp_path / "g.npy", edges)
    (tmp_path / "g.csv").write_text("src,dst\n" + "".join(f"{u},{v}\n" for u, v in edges))
    (tmp_path / "g.tsv").write_text("".join(f"{u}\t{v}\n" for u, v in edges))
    scipy.io.mmwrite(tmp_path / "g.mtx", as_adjacency(edges, n_nodes=90))
    np.save(tmp_path / "labels.npy", np.repeat(np.arange(3), 30))
    return tmp_path, edges


def run(*args: str) -> None:
    """Run ``lowdim embed-graph ...`` in-process; a success exits with code 0."""
    try:
        main(["embed-graph", *args, "--no-progress"])
    except SystemExit as exc:
        if exc.code:
            raise


@pytest.mark.parametrize("name", ["g.npy", "g.csv", "g.tsv", "g.mtx"])
def test_every_format_gives_the_python_api_result(graph, name, capsys):
    d, edges = graph
    run(str(d / name), "-o", str(d / "out.npy"), "--dim", "16", "--weights", "1,1", "--beta", "-0.3", "--n-nodes", "90")
    X = np.load(d / "out.npy")
    want = FastRP(16, weights=[1, 1], beta=-0.3, random_state=0).fit_transform(edges, n_nodes=90)
    assert X.dtype == np.float32 and X.shape == (90, 16)
    np.testing.assert_allclose(X, want, atol=1e-5)
    assert "wrote 90 × 16 float32 node vectors" in capsys.readouterr().out


def test_features_orbits_and_tuning(graph, capsys):
    d, edges = graph
    np.save(d / "f.npy", np.random.default_rng(0).standard_normal((90, 5)).astype(np.float32))
    run(str(d / "g.npy"), "-o", str(d / "a.npy"), "--dim", "12", "--features", str(d / "f.npy"), "--feature-ratio", "0.25")
    assert np.load(d / "a.npy").shape == (90, 12)
    run(str(d / "g.npy"), "-o", str(d / "b.npy"), "--dim", "12", "--orbits", "edge=1,triangle=1")
    want = FastRP(12, orbits="edge=1,triangle=1").fit_transform(edges)
    np.testing.assert_allclose(np.load(d / "b.npy"), want, atol=1e-5)
    run(str(d / "g.npy"), "-o", str(d / "c.npy"), "--dim", "16", "--tune-labels", str(d / "labels.npy"), "--tune-trials", "3")
    assert "tuned on labels.npy" in capsys.readouterr().out
    assert np.load(d / "c.npy").shape == (90, 16)


def test_output_feeds_inspect(graph, capsys):
    d, _ = graph
    run(str(d / "g.npy"), "-o", str(d / "nodes.npy"), "--dim", "16")
    with pytest.raises(SystemExit) as exc:
        main(["inspect", str(d / "nodes.npy")])
    assert exc.value.code == 0
    assert "intrinsic dimension" in capsys.readouterr().out


@pytest.mark.parametrize(
    "content, extra, message",
    [
        (np.array([[0, 1], [1, 7]]), ["--n-nodes", "5"], "outside 0..4"),
        (np.array([[0, 1], [-1, 2]]), [], "negative node id -1"),
        (np.zeros((0, 2), dtype=np.int64), [], "empty graph"),
        (np.array([[0.0, 1.5]]), [], "non-integer"),
        (np.array([[0, 1, 2]]), [], r"expected an edge list of shape \(m, 2\)"),
        ("not a npy", [], "could not be read"),
        (np.array([[0, 1], [1, 2]]), ["--weights", "1,x"], "--weights must be"),
        (np.array([[0, 1], [1, 2]]), ["--orbits", "cube=1"], "Unknown orbit pair"),
        (np.array([[0, 1], [1, 2]]), ["--dim", "0"], "'dim'"),
        (np.array([[0, 1], [1, 2]]), ["--features", "NAN"], "NaN"),
        (np.array([[0, 1], [1, 2]]), ["--features", "missing.npy"], "no such features file"),
    ],
)
def test_bad_input_is_one_line_with_exit_code_2(tmp_path, capsys, content, extra, message):
    path = tmp_path / "g.npy"
    if isinstance(content, str):
        path.write_text(content)
    else:
        np.save(path, content)
    np.save(tmp_path / "nan.npy", np.array([[1.0], [np.nan], [0.0]]))
    extra = [str(tmp_path / "nan.npy") if e == "NAN" else str(tmp_path / e) if e.endswith(".npy") else e for e in extra]
    with pytest.raises(SystemExit) as exc:
        run(str(path), "-o", str(tmp_path / "o.npy"), *extra)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1, err
    assert re.search(message, err), err
    assert not (tmp_path / "o.npy").exists()


def test_non_square_matrix_and_missing_file(tmp_path, capsys):
    scipy.io.mmwrite(tmp_path / "rect.mtx", scipy.sparse.random(3, 4, density=0.5, random_state=0))
    for path, message in [(tmp_path / "rect.mtx", "must be square"), (tmp_path / "nope.csv", "no such file")]:
        with pytest.raises(SystemExit):
            run(str(path), "-o", str(tmp_path / "o.npy"))
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1
