"""The public clip bound (``public_bound``, ``--bound-from``) and the privacy ledger shared by concurrent builders."""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from lowdim.cli import app, main
from lowdim.exceptions import FileFormatError, ParameterError
from lowdim.private import BudgetExceededError, PrivacyBudget, PrivateSummary, exact_sums, public_bound

runner = CliRunner()


def _rows(n: int, seed: int, d: int = 24) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mixing = np.random.default_rng(99).standard_normal((4, d))  # one distribution; the seed picks the rows
    # structured: a few directions, then unit norm (coordinates well inside [-1, 1])
    X = rng.standard_normal((n, 4)) @ mixing + 0.3 * rng.standard_normal((n, d))
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


def test_public_bound_reads_magnitudes_or_norms() -> None:
    P = _rows(500, 1)
    top = float(np.abs(P).max())
    b = public_bound(P, "l1", quantile=1.0)
    assert top * 1.1 <= b <= top * 1.1 * 1.02  # rounded up to two significant digits, never down
    assert public_bound(P, "l1") < b  # the default starts from the 99.9th percentile
    assert public_bound(P, "l2") == pytest.approx(1.1)  # unit rows: norm 1, +10%
    assert public_bound(P, "gaussian", margin=1.0) == pytest.approx(1.0)
    assert public_bound(P, "l1", quantile=0.99) < public_bound(P, "l1")  # a lower quantile clips more


def test_a_bound_from_public_rows_beats_the_loose_one_on_l1() -> None:
    """The point of the helper: l1 noise grows with the bound, so a tight public bound is more accurate."""
    X, public, Q = _rows(20000, 2, 128), _rows(2000, 3, 128), _rows(50, 4, 128)
    exact = exact_sums("l1", X, Q)
    errors = {}
    for name, bound in (("public", public_bound(public, "l1")), ("loose", 1.0)):
        est = PrivateSummary("l1", epsilon=1.0, bound=bound, noise_seed=0).fit(X).query(Q).sums
        errors[name] = float(np.median(np.abs(est / exact - 1)))
    assert errors["public"] < 0.6 * errors["loose"], errors


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"quantile": 0}, "'quantile' parameter of public_bound must be in (0, 1]"),
        ({"margin": 0.5}, "'margin' parameter of public_bound must be a finite number >= 1"),
    ],
)
def test_public_bound_refuses_bad_settings(kwargs: dict, message: str) -> None:
    with pytest.raises(ParameterError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        public_bound(_rows(10, 0), "l1", **kwargs)


def test_public_bound_refuses_nan_and_zero_rows() -> None:
    bad = _rows(10, 0)
    bad[3, 2] = np.nan
    with pytest.raises(Exception, match="NaN"):
        public_bound(bad)
    with pytest.raises(ParameterError, match="all zero"):
        public_bound(np.zeros((4, 3), np.float32))


def test_missing_bound_names_the_helper() -> None:
    with pytest.raises(ParameterError, match="public_bound"):
        PrivateSummary("l1", epsilon=1.0).fit(_rows(10, 0))


def test_cli_bound_from_public_rows(tmp_path: Path, capsys) -> None:
    np.save(tmp_path / "X.npy", _rows(3000, 5))
    np.save(tmp_path / "P.npy", _rows(300, 6))
    out = tmp_path / "s.npz"
    result = runner.invoke(
        app,
        ["private", "build", str(tmp_path / "X.npy"), "--f", "l1", "--epsilon", "1", "--bound-from", str(tmp_path / "P.npy")]
        + ["-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    expected = public_bound(np.load(tmp_path / "P.npy"), "l1")
    assert f"bound {expected:g} from the public rows" in result.output
    assert PrivateSummary.load(out).settings_["bound"] == expected
    with pytest.raises(SystemExit):
        main(
            ["private", "build", str(tmp_path / "X.npy"), "--f", "l1", "--epsilon", "1", "--bound", "1"]
            + ["--bound-from", str(tmp_path / "P.npy"), "-o", str(out)]
        )
    assert "give --bound or --bound-from, not both" in capsys.readouterr().err


# -- the ledger ---------------------------------------------------------------------------------------
def test_ledger_context_charges_saves_and_refuses(tmp_path: Path) -> None:
    path = tmp_path / "ledger.json"
    with pytest.raises(FileFormatError, match="does not exist"):
        with PrivacyBudget.ledger(path):
            pass
    with PrivacyBudget.ledger(path, new=(1.0, 0.0)) as budget:
        budget.charge(0.6, label="first")
    assert json.loads(path.read_text())["entries"][0]["label"] == "first"
    with pytest.raises(BudgetExceededError):
        with PrivacyBudget.ledger(path) as budget:
            budget.charge(0.6, label="second")
    assert len(PrivacyBudget.load(path).entries) == 1  # the refused charge left nothing
    with pytest.raises(ParameterError, match="already exists"):
        with PrivacyBudget.ledger(path, new=(5.0, 0.0)):
            pass
    assert not path.with_name("ledger.json.tmp").exists()


def _charge(path: str, barrier, results) -> None:
    barrier.wait()
    try:
        with PrivacyBudget.ledger(path) as budget:
            budget.charge(0.6, label="concurrent")
        results.put("charged")
    except BudgetExceededError:
        results.put("refused")


def test_concurrent_builders_cannot_both_spend_the_last_budget(tmp_path: Path) -> None:
    """Two processes load the same ledger at once: without the lock both would see 1.0 left and spend 1.2."""
    path = tmp_path / "ledger.json"
    PrivacyBudget(1.0).save(path)
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_charge, args=(str(path), barrier, results)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert sorted(results.get(timeout=5) for _ in procs) == ["charged", "refused"]
    assert PrivacyBudget.load(path).spent[0] == pytest.approx(0.6)
