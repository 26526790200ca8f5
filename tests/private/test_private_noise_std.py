"""``Estimates.noise_std``: the predicted spread of the privacy noise matches the spread over many releases."""

from __future__ import annotations

import numpy as np
import pytest

from lowdim.private import FUNCTIONS, KERNELS, PrivateSummary

RELEASES = 300


def _rows(n: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3)) @ rng.standard_normal((3, d)) + 0.5 * rng.standard_normal((n, d))
    return (0.8 * X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.filterwarnings("ignore::lowdim.private.BandwidthWarning")  # 64 features: coarse, but the noise is what is tested
@pytest.mark.parametrize("delta", [0.0, 1e-5])
@pytest.mark.parametrize("f", FUNCTIONS)
def test_noise_std_matches_the_spread_of_many_releases(f: str, delta: float) -> None:
    X, Q = _rows(300, 8, 0), _rows(4, 8, 1)
    kw = {"bandwidth": 1.0, "n_components": 64} if f in KERNELS else {"p": 1.5} if f == "lp" else {}
    if f in ("l1", "l2"):
        kw["depth"] = 6
    make = lambda seed: PrivateSummary(f, epsilon=5.0, delta=delta, bound=1.0, random_state=0, noise_seed=seed, **kw)  # noqa: E731
    first = make(0).fit(X).query(Q)
    sums = np.stack([make(seed).fit(X).query(Q).sums for seed in range(1, RELEASES + 1)])
    assert first.noise_std is not None and first.noise_std.shape == (len(Q),)
    spread = sums.std(axis=0, ddof=1)
    # 300 releases estimate a spread to within ~6% (Laplace tails); the prediction must sit inside that
    np.testing.assert_allclose(spread, first.noise_std, rtol=0.2)
    exact = PrivateSummary(f, epsilon=1e12, bound=1.0, random_state=0, noise_seed=0, **kw).fit(X).query(Q).sums
    assert np.all(np.abs(sums.mean(axis=0) - exact) < 0.3 * first.noise_std)  # unbiased: within ~5 standard errors


def test_noise_std_shrinks_with_epsilon_and_travels_in_to_dict() -> None:
    X, Q = _rows(500, 8, 2), _rows(3, 8, 3)
    loose = PrivateSummary("l1", epsilon=1.0, bound=1.0, noise_seed=0).fit(X).query(Q)
    tight = PrivateSummary("l1", epsilon=10.0, bound=1.0, noise_seed=0).fit(X).query(Q)
    np.testing.assert_allclose(loose.noise_std, 10 * tight.noise_std, rtol=1e-9)  # Laplace scales are 1/epsilon
    assert loose.to_dict()["noise_std"] == loose.noise_std.tolist()


def test_l1_leaf_term_is_close_inside_and_exact_beyond_the_bound() -> None:
    """Noiseless: rows in a query's own leaf cost at most a leaf width each; a query beyond ±bound is exact."""
    rng = np.random.default_rng(4)
    X = rng.uniform(-0.5, 0.5, (2000, 3)).astype(np.float32)
    s = PrivateSummary("l1", epsilon=1e12, bound=0.5, depth=4, noise_seed=0).fit(X)  # 16 coarse leaves
    inside = rng.uniform(-0.5, 0.5, (20, 3)).astype(np.float32)
    beyond = np.array([[0.9, -0.8, 2.0], [-3.0, 0.7, 0.6]], np.float32)
    exact = np.abs(X[None, :, :].astype(np.float64) - inside[:, None, :]).sum((1, 2))
    leaf_width = 1.0 / 16
    assert np.all(np.abs(s.query(inside).sums - exact) <= len(X) * 3 * leaf_width / 4)
    assert np.median(np.abs(s.query(inside).sums / exact - 1)) < 0.002  # even spread within a leaf: close
    exact_beyond = np.abs(X[None, :, :].astype(np.float64) - beyond[:, None, :]).sum((1, 2))
    np.testing.assert_allclose(s.query(beyond).sums, exact_beyond, rtol=1e-9)
