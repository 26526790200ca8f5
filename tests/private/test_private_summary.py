"""``PrivateSummary``: estimates against the exact sums, the guard rails (one-line errors, the bandwidth check),
seeds, files, and the budget that releases from one data set share."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from lowdim.exceptions import DimensionError, FileFormatError, NotFittedError, ParameterError, ValidationError
from lowdim.private import (
    FUNCTIONS,
    KERNELS,
    BandwidthWarning,
    BudgetExceededError,
    PrivacyBudget,
    PrivateClassifier,
    PrivateSummary,
    compose,
    exact_sums,
)


@pytest.fixture(scope="module")
def unit(make_data):
    """3,000 unit-norm rows of low intrinsic dimension (d = 32) and 40 queries from the same law."""
    X = make_data(3040, 32, 6, seed=11)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X[:3000], X[3000:]


def _kw(f: str) -> dict:
    return {"bandwidth": 1.0} if f in KERNELS else {"p": 1.5} if f == "lp" else {}


def _bound(f: str, X: np.ndarray) -> float:
    return 1.0 if f not in ("l1", "lp") else float(np.abs(X).max())  # fine in a test: the data is synthetic, not private


def _median_error(est: np.ndarray, exact: np.ndarray) -> float:
    return float(np.median(np.abs(est - exact) / np.abs(exact)))


#: median relative error allowed at epsilon = 1e6 (the mechanism's own approximation) and at epsilon = 1
ERRORS = {
    "l1": (1e-3, 0.08),
    "l2": (0.01, 0.1),
    "lp": (2e-3, 0.25),  # reads 2^3 nodes per level: ~2x the noise of l1 at the same epsilon
    "sqeuclidean": (1e-6, 0.01),
    "linear": (1e-6, 0.2),
    "gaussian": (0.02, 0.05),
    "exponential": (0.05, 0.1),
    "cauchy": (0.05, 0.1),
    "laplacian": (0.2, 0.3),
}


def test_every_function_has_an_error_budget() -> None:
    assert set(ERRORS) == set(FUNCTIONS)


@pytest.mark.parametrize("f", FUNCTIONS)
def test_estimates_approach_the_exact_sums(f: str, unit) -> None:
    X, Q = unit
    kw = _kw(f) | ({"bandwidth": 6.0} if f == "laplacian" else {})  # l1 distances of unit rows in 32-d are ~4
    exact = exact_sums(f, X, Q, **kw)
    noiseless, private = ERRORS[f]
    for epsilon, allowed in ((1e6, noiseless), (1.0, private)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", BandwidthWarning)
            s = PrivateSummary(f, epsilon=epsilon, bound=_bound(f, X), random_state=0, noise_seed=1, **kw).fit(X)
        est = s.query(Q)
        assert est.sums.shape == est.means.shape == (len(Q),) and est.sums.dtype == np.float64
        if f == "linear":  # inner products cross zero: compare with the spread of the answers instead
            assert np.median(np.abs(est.sums - exact)) <= allowed * np.abs(exact).mean() + 1e-6, epsilon
        else:
            assert _median_error(est.sums, exact) <= allowed, (f, epsilon, _median_error(est.sums, exact))
        assert est.count == pytest.approx(len(X), rel=0.05 if epsilon == 1.0 else 1e-3)
        np.testing.assert_allclose(est.means, est.sums / est.count)


def test_l1_is_exact_in_the_tree_up_to_the_leaf_width() -> None:
    """The count-and-sum tree has no ring approximation: noiseless answers are exact up to rows sharing y's leaf."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (500, 3)).astype(np.float32)
    Q = np.array([[0.0, 0.5, -0.99], [2.0, -2.0, 0.0]], np.float32)  # the second lies outside the bound
    s = PrivateSummary("l1", epsilon=1e9, bound=1.0, depth=12, noise_seed=0).fit(X)
    np.testing.assert_allclose(s.query(Q).sums, exact_sums("l1", X, Q), rtol=1e-4)


# -- guard rails: one-line errors --------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"epsilon": 0}, "'epsilon' parameter of PrivateSummary must be a finite number > 0"),
        ({"epsilon": -1.0}, "'epsilon'.*Got -1.0"),
        ({"epsilon": float("nan")}, "'epsilon'"),
        ({"epsilon": float("inf")}, "'epsilon'"),
        ({"epsilon": True}, "'epsilon'"),
        ({"epsilon": "1"}, "'epsilon'"),
        ({"delta": 1.0}, "'delta' parameter of PrivateSummary must be a number in \\[0, 1\\)"),
        ({"delta": -1e-5}, "'delta'"),
        ({"bound": None}, "needs a public 'bound'"),
        ({"bound": 0.0}, "'bound' parameter of PrivateSummary must be a finite number > 0"),
        ({"bound": float("inf")}, "'bound'"),
        ({"f": "cosine"}, "'f' parameter of PrivateSummary must be one of 'l1', 'l2'"),
        ({"f": "gaussian", "bandwidth": None}, "'bandwidth' parameter of PrivateSummary must be a number > 0 for the gaussian"),
        ({"f": "gaussian", "bandwidth": 1.0, "n_components": 7}, "must be even"),
        ({"f": "gaussian", "bandwidth": 1.0, "depth": 4}, "'depth' parameter .* does not apply to f='gaussian'"),
        ({"bandwidth": 1.0}, "'bandwidth' parameter .* does not apply to f='l1'"),
        ({"n_components": 8}, "'n_components' parameter .* does not apply to f='l1'"),
        ({"depth": 0}, "'depth' parameter of PrivateSummary must be an integer >= 1"),
        ({"depth": 30}, "at most 16"),
        ({"noise_seed": -1}, "'noise_seed'"),
        ({"random_state": 1.5}, "'random_state'"),
    ],
)
def test_bad_settings_are_one_line_errors(kwargs: dict, message: str, unit) -> None:
    X, _ = unit
    settings = {"f": "l1", "epsilon": 1.0, "bound": 1.0} | kwargs
    f = settings.pop("f")
    with pytest.raises(ParameterError, match=message) as info:
        PrivateSummary(f, **settings).fit(X[:50])
    assert "\n" not in str(info.value)


def test_bad_data_and_queries_are_one_line_errors(unit) -> None:
    X, Q = unit
    bad = X[:20].copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValidationError, match=r"NaN or infinity in row\(s\) 3 "):
        PrivateSummary("l2", epsilon=1.0, bound=1.0).fit(bad)
    with pytest.raises(DimensionError, match="reshape"):
        PrivateSummary("l2", epsilon=1.0, bound=1.0).fit(X[0])
    s = PrivateSummary("l2", epsilon=1.0, bound=1.0).fit(X[:200])
    with pytest.raises(DimensionError, match="Y has 16 features, but this summary expects 32"):
        s.query(Q[:, :16])
    with pytest.raises(ValidationError, match="NaN"):
        s.query(np.full((1, 32), np.inf, np.float32))
    with pytest.raises(NotFittedError, match="call fit"):
        PrivateSummary("l2", epsilon=1.0, bound=1.0).query(Q)


def test_narrow_bandwidths_are_warned_about_or_refused(unit) -> None:
    """On unit rows, random-feature KDE is fine at bandwidth 1 and poor at 0.5; far narrower is refused."""
    X, _ = unit
    with warnings.catch_warnings():
        warnings.simplefilter("error", BandwidthWarning)
        PrivateSummary("gaussian", epsilon=1.0, bound=1.0, bandwidth=1.0).fit(X[:100])
    with pytest.warns(BandwidthWarning, match=r"bandwidth 0.5 is narrow .* predicted error 12%"):
        PrivateSummary("gaussian", epsilon=1.0, bound=1.0, bandwidth=0.5).fit(X[:100])
    with pytest.raises(ParameterError, match="bandwidth 0.2 is narrow .* over 1,000%") as info:
        PrivateSummary("gaussian", epsilon=1.0, bound=1.0, bandwidth=0.2).fit(X[:100])
    assert "\n" not in str(info.value)
    # the check reads public numbers only: a larger bound (rows further apart) moves it
    with pytest.warns(BandwidthWarning):
        PrivateSummary("gaussian", epsilon=1.0, bound=2.0, bandwidth=1.0).fit(X[:100])


# -- randomness -----------------------------------------------------------------------------------
def test_seeds_public_draws_and_noise_apart(unit) -> None:
    X, Q = unit

    def fit(**kw):
        return PrivateSummary("gaussian", epsilon=1.0, bound=1.0, bandwidth=1.0, n_components=64, **kw).fit(X[:300])

    a, b = fit(random_state=3, noise_seed=5), fit(random_state=3, noise_seed=5)
    np.testing.assert_array_equal(a.query(Q).sums, b.query(Q).sums)  # both seeded: the same release (tests only)
    c = fit(random_state=3, noise_seed=6)
    np.testing.assert_array_equal(a.public_["frequencies"], c.public_["frequencies"])  # public draws: random_state only
    assert not np.array_equal(a.released_["features"], c.released_["features"])
    d, e = fit(random_state=3), fit(random_state=3)  # noise from fresh entropy by default
    assert not np.array_equal(d.released_["features"], e.released_["features"])
    assert d.record_.noise_seed.startswith("fresh entropy")
    assert "for tests only" in a.record_.noise_seed and "random_state=3" in a.record_.public


# -- files ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("f", FUNCTIONS)
def test_save_load_answers_the_same_and_keeps_no_rows(f: str, unit, tmp_path) -> None:
    X, Q = unit
    s = PrivateSummary(f, epsilon=1.0, bound=1.0, noise_seed=0, **_kw(f) | ({"bandwidth": 6.0} if f == "laplacian" else {}))
    s.fit(X[:500])
    path = s.save(tmp_path / "s.npz")
    loaded = PrivateSummary.load(path)
    np.testing.assert_allclose(loaded.query(Q).sums, s.query(Q).sums)
    assert loaded.record_ == s.record_ and loaded.count_ == s.count_ and loaded.n_features_in_ == 32
    with np.load(path) as data:
        names = set(data.files) - {"__meta__"}
        assert all(n.startswith(("public_", "released_")) for n in names)
        stored = [data[n] for n in names]
    for rows in stored:  # no stored array holds a raw row
        assert not any(rows.size >= 32 and np.allclose(rows.ravel()[:32], x) for x in X[:500:50])


def test_damaged_and_foreign_files_are_one_line_errors(unit, tmp_path) -> None:
    X, _ = unit
    with pytest.raises(FileFormatError, match="does not exist"):
        PrivateSummary.load(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(FileFormatError, match="truncated or corrupt"):
        PrivateSummary.load(tmp_path / "junk.npz")
    clf = PrivateClassifier(epsilon=1.0, bound=1.0).fit(X[:100], np.arange(100) % 2)
    clf.save(tmp_path / "clf.npz")
    with pytest.raises(FileFormatError, match="holds a lowdim.private.PrivateClassifier, not a lowdim.private.PrivateSummary"):
        PrivateSummary.load(tmp_path / "clf.npz")
    s = PrivateSummary("linear", epsilon=1.0, bound=1.0).fit(X[:100])
    path = s.save(tmp_path / "s.npz")
    with np.load(path) as data:
        arrays = {n: data[n] for n in data.files}
    meta = json.loads(arrays["__meta__"].tobytes().decode())
    arrays["__meta__"] = np.frombuffer(json.dumps({**meta, "format_version": 99}).encode(), np.uint8)
    np.savez(tmp_path / "v99.npz", **arrays)
    with pytest.raises(FileFormatError, match="format version 99; this lowdim reads version 1"):
        PrivateSummary.load(tmp_path / "v99.npz")
    with pytest.raises(FileFormatError, match="folder .* does not exist"):
        s.save(tmp_path / "no" / "such" / "s.npz")


# -- budgets add up --------------------------------------------------------------------------------
def test_releases_from_the_same_data_add_up(unit, tmp_path) -> None:
    X, _ = unit
    budget = PrivacyBudget(epsilon=2.0, delta=1e-5)
    a = PrivateSummary("l1", epsilon=1.0, bound=1.0).fit(X[:100], budget=budget)
    b = PrivateSummary("linear", epsilon=0.5, delta=1e-5, bound=1.0).fit(X[:100], budget=budget)
    assert budget.spent == (1.5, 1e-5) and compose([a.record_, b.record_]) == (1.5, 1e-5)
    before = PrivateSummary("l2", epsilon=1.0, bound=1.0)
    with pytest.raises(BudgetExceededError, match="needs epsilon=1, but the budget has 0.5 of 2 left") as info:
        before.fit(X[:100], budget=budget)
    assert "\n" not in str(info.value) and not hasattr(before, "released_")  # refused before anything was drawn
    with pytest.raises(BudgetExceededError, match="delta"):
        PrivateSummary("linear", epsilon=0.1, delta=1e-5, bound=1.0).fit(X[:100], budget=budget)
    budget.save(tmp_path / "ledger.json")
    again = PrivacyBudget.load(tmp_path / "ledger.json")
    assert again.spent == budget.spent and again.remaining == pytest.approx((0.5, 0.0))
    PrivateClassifier(epsilon=0.5, bound=1.0).fit(X[:100], np.arange(100) % 3, budget=again)  # classes: parallel
    assert again.spent[0] == pytest.approx(2.0)
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    with pytest.raises(FileFormatError, match="ledger .* is damaged"):
        PrivacyBudget.load(tmp_path / "bad.json")
    with pytest.raises(ParameterError, match="'epsilon' parameter of PrivacyBudget"):
        PrivacyBudget(epsilon=0)
