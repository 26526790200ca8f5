"""The edges: ``lowdim private build | query | info`` and the service's read-only summary endpoints (and Client)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from lowdim import Client
from lowdim.cli import app
from lowdim.exceptions import DimensionError, NotFoundError
from lowdim.private import PrivateSummary
from lowdim.server import create_app

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("private")
    X = np.random.default_rng(0).standard_normal((1500, 12)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    np.save(root / "X.npy", X.astype(np.float16))
    np.save(root / "Q.npy", X[:5])
    np.save(root / "Q8.npy", X[:5, :8])
    return root


def test_build_query_info(files, tmp_path) -> None:
    out = tmp_path / "kde.npz"
    args = ["private", "build", str(files / "X.npy"), "--f", "gaussian", "--epsilon", "1", "--bound", "1", "--bandwidth", "1"]
    result = runner.invoke(app, [*args, "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "released gaussian summary of 1,500 rows x 12" in text and "epsilon=1 (pure DP), laplace noise" in text
    assert "fresh entropy" in text
    result = runner.invoke(app, ["private", "query", str(out), str(files / "Q.npy"), "-o", str(tmp_path / "e.json")])
    assert result.exit_code == 0, result.output
    est = json.loads((tmp_path / "e.json").read_text())
    np.testing.assert_allclose(est["sums"], PrivateSummary.load(out).query(np.load(files / "Q.npy")).sums)
    result = runner.invoke(app, ["private", "query", str(out), str(files / "Q.npy"), "-o", str(tmp_path / "e.npy")])
    assert result.exit_code == 0 and np.load(tmp_path / "e.npy").shape == (5,)
    other = tmp_path / "l1.npz"
    assert (
        runner.invoke(
            app, ["private", "build", str(files / "X.npy"), "--f", "l1", "--epsilon", "0.5", "--bound", "1", "-o", str(other)]
        ).exit_code
        == 0
    )
    result = runner.invoke(app, ["private", "info", str(out), str(other)])
    assert result.exit_code == 0
    assert "these 2 summaries together are (epsilon=1.5, delta=0)-DP" in " ".join(result.output.split())
    result = runner.invoke(app, ["private", "info", str(out), "--json"])
    assert json.loads(result.output)[0]["record"]["f"] == "gaussian"


def test_ledger_adds_up_and_refuses(files, tmp_path, cli_error) -> None:
    ledger = tmp_path / "ledger.json"
    base = ["private", "build", str(files / "X.npy"), "--f", "linear", "--bound", "1", "--ledger", str(ledger)]
    main_ok = runner.invoke(app, [*base, "--epsilon", "1", "--budget", "1.5", "-o", str(tmp_path / "a.npz")])
    assert main_ok.exit_code == 0, main_ok.output
    err = cli_error([*base, "--epsilon", "1", "-o", str(tmp_path / "b.npz")])
    assert "needs epsilon=1, but the budget has 0.5 of 1.5 left" in err
    assert not (tmp_path / "b.npz").exists()
    assert json.loads(ledger.read_text())["entries"][0]["epsilon"] == 1.0


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--epsilon", "0", "--bound", "1"], "'epsilon' parameter of PrivateSummary must be a finite number > 0"),
        (["--bound", "1"], "--epsilon is required"),
        (["--epsilon", "1"], "needs a public 'bound'"),
        (["--epsilon", "1", "--bound", "1", "--f", "gaussian", "--bandwidth", "0.1"], "bandwidth 0.1 is narrow"),
        (["--epsilon", "1", "--bound", "1", "--f", "nope"], "'f' parameter of PrivateSummary must be one of"),
        (["--epsilon", "1", "--bound", "1", "--f", "lp"], "'p' parameter of PrivateSummary must be a number in (0, 2]"),
        (["--epsilon", "1", "--bound", "1", "--f", "l1", "--p", "1.5"], "'p' parameter of PrivateSummary does not apply"),
    ],
)
def test_build_errors_are_one_line(files, tmp_path, cli_error, extra: list[str], message: str) -> None:
    err = cli_error(["private", "build", str(files / "X.npy"), "-o", str(tmp_path / "s.npz"), *extra])
    assert message in err


def test_query_errors_are_one_line(files, tmp_path, cli_error) -> None:
    out = tmp_path / "s.npz"
    assert (
        runner.invoke(
            app, ["private", "build", str(files / "X.npy"), "--f", "l2", "--epsilon", "1", "--bound", "1", "-o", str(out)]
        ).exit_code
        == 0
    )
    assert "Y has 8 features, but this summary expects 12" in cli_error(["private", "query", str(out), str(files / "Q8.npy")])
    assert "does not exist" in cli_error(["private", "query", str(tmp_path / "none.npz"), str(files / "Q.npy")])
    assert "no such file" in cli_error(["private", "query", str(out), str(tmp_path / "none.npy")])


# -- the service ----------------------------------------------------------------------------------
def test_served_summaries_answer_as_in_python(files, tmp_path) -> None:
    X = np.load(files / "X.npy").astype(np.float32)
    Q = np.load(files / "Q.npy")
    s = PrivateSummary("l2", epsilon=1.0, bound=1.0, noise_seed=0).fit(X)
    path = s.save(tmp_path / "l2.npz")
    with TestClient(create_app([], summaries={"dist": path}, max_batch=2)) as http:
        body = http.post("/summaries/dist/query", json={"queries": Q[:2].tolist()}).json()
        np.testing.assert_allclose(body["sums"], s.query(Q[:2]).sums)
        np.testing.assert_allclose(body["means"], s.query(Q[:2]).means)
        too_many = http.post("/summaries/dist/query", json={"queries": Q.tolist()})
        assert too_many.status_code == 422 and "max_batch" in too_many.json()["error"]
        info = http.get("/summaries/dist").json()
        assert info["name"] == "dist" and info["record"]["mechanism"] == s.record_.mechanism and info["n_features"] == 12
        assert [x["name"] for x in http.get("/summaries").json()["summaries"]] == ["dist"]
        assert http.get("/health").json()["summaries"] == ["dist"]
        bad = http.post("/summaries/dist/query", json={"queries": [[1.0, 2.0]]})
        assert bad.status_code == 422 and "has 2 features, but this summary expects 12" in bad.json()["error"]
        assert http.post("/summaries/nope/query", json={"queries": Q[:1].tolist()}).status_code == 404
        assert http.post("/summaries/dist/query", json={"vectors": Q[:1].tolist()}).status_code == 422
        assert http.post("/summaries/dist/add", json={}).status_code in (404, 405)  # read-only
        schema = http.get("/openapi.json").json()
        assert schema["paths"]["/summaries/{name}/query"]["post"]["parameters"][0]["schema"]["enum"] == ["dist"]
        # the Client: remote summaries read like local ones (batches split at max_batch)
        remote = Client(http=http).summary("dist")
        np.testing.assert_allclose(remote.query(Q).sums, s.query(Q).sums, rtol=1e-5)  # batches split: BLAS sums in another order
        np.testing.assert_allclose(remote.query(Q).noise_std, s.query(Q).noise_std, rtol=1e-5)  # error bars travel too
        assert remote.record_ == s.record_
        with pytest.raises(DimensionError):
            remote.query(Q[:, :3])
        with pytest.raises(NotFoundError, match="no summary named 'nope'"):
            Client(http=http).summary("nope")


def test_serving_summaries_beside_collections_and_bad_names(files, tmp_path) -> None:
    from lowdim.store import Collection

    X = np.load(files / "X.npy").astype(np.float32)
    path = PrivateSummary("linear", epsilon=1.0, bound=1.0).fit(X).save(tmp_path / "lin.npz")
    with Collection.create(tmp_path / "demo", dim=12, spec="f32") as col:
        col.add(X[:10])
    with TestClient(create_app(tmp_path / "demo", summaries={"lin": path})) as http:
        assert http.get("/health").json()["collections"] and http.get("/summaries/lin").status_code == 200
    from lowdim.exceptions import FileFormatError, ParameterError

    with pytest.raises(ParameterError, match="summary's name must be"):
        create_app([], summaries={"../x": path})
    with pytest.raises(FileFormatError, match="does not exist"):
        create_app([], summaries={"x": tmp_path / "none.npz"})


def test_serve_command_checks_summary_options(cli_error) -> None:
    assert "NAME=PATH" in cli_error(["serve", "--summary", "no-equals-sign"])
    assert "nothing to serve" in cli_error(["serve"])
    assert "does not exist" in cli_error(["serve", "--summary", "x=/no/such/summary.npz"])


def test_inspect_points_a_summary_to_private_info(files, tmp_path, cli_error) -> None:
    out = tmp_path / "s.npz"
    PrivateSummary("linear", epsilon=1.0, bound=1.0).fit(np.load(files / "X.npy")).save(out)
    err = cli_error(["inspect", str(out)])
    assert "is a private release (PrivateSummary), not a vector file" in err and "lowdim private info" in err


def test_build_lp_with_its_exponent(files, tmp_path) -> None:
    out = tmp_path / "lp.npz"
    argv = ["private", "build", str(files / "X.npy"), "--f", "lp", "--p", "1.5", "--epsilon", "1", "--bound", "1", "-o", str(out)]
    result = runner.invoke(app, argv)
    assert result.exit_code == 0, result.output
    s = PrivateSummary.load(out)
    assert s.settings_["p"] == 1.5 and "|x - y|^1.5" in s.record_.mechanism
