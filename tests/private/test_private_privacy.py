"""Privacy, not accuracy: every mechanism's declared sensitivity holds when one row (an outlier too) is added or
removed, the noise scales are the ones the calibration promises, and an empirical audit over many seeded
releases finds neighbouring data sets no more distinguishable than e^epsilon allows (and catches a mechanism
with too little noise)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import beta as beta_dist

from lowdim.private import FUNCTIONS, KERNELS, PrivateSummary, gaussian_sigma
from lowdim.private import _mechanisms as mechanisms
from lowdim.private._summary import _blocks, _statistics, draw_public, release_groups

D = 6


def _settings(f: str, d: int = D, **extra) -> dict:
    bandwidth = 1.0 if f in KERNELS else None
    n_components = 16 if f in KERNELS else None
    p = 1.5 if f == "lp" else None
    kw = dict(bound=1.0, bandwidth=bandwidth, n_components=n_components, p=p, random_state=0) | extra
    return PrivateSummary(f, epsilon=1.0, **kw)._settings(d)


def _stats(s: dict, X: np.ndarray, public: dict) -> dict:
    return _statistics(s, X, np.zeros(len(X), np.int64), 1, public)[0]


def _base(n: int = 40, d: int = D) -> np.ndarray:
    rng = np.random.default_rng(3)
    X = rng.standard_normal((n, d)).astype(np.float32)
    return 0.9 * X / np.linalg.norm(X, axis=1, keepdims=True)


#: rows whose addition or removal is checked: an ordinary one, outliers far outside the bound (clipped), a zero row
EXTRA_ROWS = {
    "ordinary": _base(1)[0] * 0.5,
    "outlier+": np.full(D, 1e3, np.float32),
    "outlier-": np.array([-1e4, 5e3, -7.0, 0.0, 3e2, -1e-3], np.float32),
    "zero": np.zeros(D, np.float32),
}


@pytest.mark.parametrize("f", FUNCTIONS)
@pytest.mark.parametrize("row", sorted(EXTRA_ROWS))
def test_one_row_changes_each_block_by_at_most_its_sensitivity(f: str, row: str) -> None:
    s = _settings(f)
    public = draw_public(s, D, np.random.default_rng(0))
    blocks = _blocks(s, D)
    X = _base()
    with_row = np.vstack([X, EXTRA_ROWS[row][None, :]])
    for before, after in ((X, with_row), (with_row, X), (X, X[1:])):  # added, removed, an ordinary row removed
        a, b = _stats(s, before, public), _stats(s, after, public)
        assert set(a) == set(blocks)
        for name, (d1, d2, _) in blocks.items():
            diff = (b[name] - a[name]).ravel()
            assert np.abs(diff).sum() <= d1 * (1 + 1e-6) + 1e-9, (f, row, name)
            assert np.linalg.norm(diff) <= d2 * (1 + 1e-6) + 1e-9, (f, row, name)


@pytest.mark.parametrize("f", ["l1", "l2", "linear", "sqeuclidean"])
def test_an_outlier_is_clipped_so_the_bound_is_reached_not_exceeded(f: str) -> None:
    """The clip is what bounds the sensitivity: a huge row moves the counts by exactly one per coordinate and
    level, and the sums by no more than the bound allows (l1: a value at the edge of a level-1 node sits half a
    width from its centre)."""
    s = _settings(f)
    public = draw_public(s, D, np.random.default_rng(0))
    blocks = _blocks(s, D)
    X = _base()
    a, b = _stats(s, X, public), _stats(s, np.vstack([X, EXTRA_ROWS["outlier+"][None, :]]), public)
    if f in ("l1", "l2"):
        k = D if f == "l1" else s["n_components"]
        for level in range(1, s["depth"] + 1):
            assert np.abs(b[f"counts_l{level}"] - a[f"counts_l{level}"]).sum() == k
        if f == "l1":  # every coordinate clipped to +R: half a width above the centre of its level-1 node
            np.testing.assert_allclose(np.abs(b["sums_l1"] - a["sums_l1"]).sum(), blocks["sums_l1"][0])
    else:
        np.testing.assert_allclose(np.linalg.norm(b["sum"] - a["sum"]), blocks["sum"][1], rtol=1e-6)  # norm clipped to R
        assert (b["count"] - a["count"])[0] == 1


def test_declared_sensitivities_are_pinned() -> None:
    l1 = _blocks(_settings("l1", depth=3), D)
    assert l1["counts_l1"][:2] == (D, math.sqrt(D))
    assert l1["sums_l1"][:2] == pytest.approx((D * 0.5, math.sqrt(D) * 0.5))  # width 1 at level 1 of [-1, 1]
    assert l1["sums_l3"][:2] == pytest.approx((D * 0.125, math.sqrt(D) * 0.125))
    kde = _blocks(_settings("gaussian"), D)
    assert kde["features"][:2] == pytest.approx((math.sqrt(16), 1.0))  # 8 frequencies: |z|_1 <= sqrt(2m), |z|_2 = 1
    lin = _blocks(_settings("linear"), D)
    assert lin["sum"][:2] == pytest.approx((math.sqrt(D), 1.0)) and lin["count"][:2] == (1.0, 1.0)


def test_noise_scales_are_pinned() -> None:
    """Laplace: b = Δ1 / (share ε); Gaussian: σ = Δ2 / sqrt(share) · σ(ε, δ) of the analytic Gaussian mechanism."""
    X = _base()
    lap = PrivateSummary("gaussian", epsilon=2.0, bound=1.0, bandwidth=3.0, n_components=16, noise_seed=0).fit(X).record_
    assert lap.noise == "laplace" and lap.shares == {"features": 0.9, "count": pytest.approx(0.1)}
    assert lap.noise_scales["features"] == pytest.approx(4.0 / (0.9 * 2.0))
    assert lap.noise_scales["count"] == pytest.approx(1.0 / (0.1 * 2.0))
    gau = PrivateSummary("linear", epsilon=1.0, delta=1e-5, bound=2.0, noise_seed=0).fit(X).record_
    assert gau.noise == "gaussian" and gau.delta == 1e-5
    assert gau.noise_scales["sum"] == pytest.approx(2.0 / math.sqrt(0.9) * 3.7306, rel=1e-4)
    tree = PrivateSummary("l1", epsilon=1.0, bound=1.0, depth=4, noise_seed=0).fit(X).record_
    assert sum(tree.shares.values()) == pytest.approx(1.0)
    # shares fall with the width (2/3 power): level l+1 gets 2^(-2/3) of level l
    assert tree.shares["counts_l2"] / tree.shares["counts_l1"] == pytest.approx(2 ** (-2 / 3))
    for name, (d1, _) in tree.sensitivity.items():
        assert tree.noise_scales[name] == pytest.approx(d1 / (tree.shares[name] * 1.0))


def test_the_analytic_gaussian_mechanism() -> None:
    sigma = gaussian_sigma(1.0, 1e-5)
    assert sigma == pytest.approx(3.7306, rel=1e-4)
    assert mechanisms._gaussian_delta(sigma, 1.0) <= 1e-5 < mechanisms._gaussian_delta(sigma * 0.999, 1.0)
    assert gaussian_sigma(0.5, 1e-5) < math.sqrt(2 * math.log(1.25 / 1e-5)) / 0.5  # tighter than the classic bound
    assert gaussian_sigma(10.0, 1e-5) < gaussian_sigma(1.0, 1e-5) < gaussian_sigma(1.0, 1e-8)


def test_released_noise_has_the_declared_scale() -> None:
    """Many releases of one statistic: the noise's spread matches the record (Laplace std = sqrt(2) b)."""
    X = _base()
    exact = X.astype(np.float64).sum(0)
    for delta in (0.0, 1e-5):
        s = PrivateSummary("linear", epsilon=1.0, delta=delta, bound=1.0)._settings(D)
        groups = np.repeat(np.arange(400), len(X))
        released, record = release_groups(s, np.tile(X, (400, 1)), groups, 400, {}, 7, count_share=0.1, owner="test")
        noise = np.stack([r["sum"] for r in released]) - exact
        scale = record.noise_scales["sum"]
        expected = math.sqrt(2) * scale if delta == 0 else scale
        assert noise.std() == pytest.approx(expected, rel=0.05)
        assert abs(noise.mean()) < 0.1 * expected


# -- the empirical audit ------------------------------------------------------------------------------
def _releases(f: str, X: np.ndarray, n: int, seed: int, delta: float = 0.0, epsilon: float = 1.0) -> tuple[list[dict], dict]:
    """``n`` independent releases of ``X`` (one call: ``n`` groups holding a copy of ``X`` each)."""
    extra = {"depth": 1} if f == "l1" else {"depth": 2, "p": 1.5} if f == "lp" else {}
    s = PrivateSummary(f, epsilon=epsilon, delta=delta, bound=1.0, bandwidth=1.0 if f in KERNELS else None, **extra)._settings(
        X.shape[1]
    )
    if f in KERNELS:
        s["n_components"] = 4
    public = draw_public(s, X.shape[1], np.random.default_rng(0))
    groups = np.repeat(np.arange(n), len(X))
    released, record = release_groups(s, np.tile(X, (n, 1)), groups, n, public, seed, count_share=0.1, owner="audit")
    return released, {"s": s, "public": public, "scales": record.noise_scales}


def _privacy_loss(released: list[dict], a: dict, b: dict, scales: dict, gaussian: bool) -> np.ndarray:
    """The log-likelihood ratio log p(o | D') / p(o | D) of each release o: the most powerful test statistic."""
    out = np.zeros(len(released))
    for name, scale in scales.items():
        if not math.isfinite(scale):
            continue
        o = np.stack([r[name].ravel() for r in released])
        x, y = a[name].ravel(), b[name].ravel()
        if gaussian:
            out += (((o - x) ** 2) - ((o - y) ** 2)).sum(1) / (2 * scale**2)
        else:
            out += (np.abs(o - x) - np.abs(o - y)).sum(1) / scale
    return out


def _audit(f: str, *, delta: float = 0.0, epsilon: float = 1.0, n: int = 3000) -> float:
    """The largest lower confidence bound (99.9%) of P[T >= t | D'] / P[T >= t | D] over thresholds t, less δ's share."""
    X = _base(5, 2)
    neighbour = np.vstack([X, np.array([[50.0, -50.0]], np.float32)])  # an outlier: clipped
    rel_a, ctx = _releases(f, X, n, seed=1, delta=delta, epsilon=epsilon)
    rel_b, _ = _releases(f, neighbour, n, seed=2, delta=delta, epsilon=epsilon)
    a, b = _stats(ctx["s"], X, ctx["public"]), _stats(ctx["s"], neighbour, ctx["public"])
    la = _privacy_loss(rel_a, a, b, ctx["scales"], delta > 0)
    lb = _privacy_loss(rel_b, a, b, ctx["scales"], delta > 0)
    worst = 0.0
    for t in np.quantile(np.concatenate([la, lb]), np.linspace(0.5, 0.99, 15)):
        k_b, k_a = int((lb >= t).sum()), int((la >= t).sum())
        p_b = beta_dist.ppf(0.001, k_b, n - k_b + 1) if k_b else 0.0  # lower bound of P[T >= t | D']
        p_a = beta_dist.ppf(0.999, k_a + 1, n - k_a) if k_a < n else 1.0  # upper bound of P[T >= t | D]
        worst = max(worst, (p_b - delta) / p_a)
    return worst


@pytest.mark.parametrize(
    "f, delta", [("l1", 0.0), ("lp", 0.0), ("linear", 0.0), ("linear", 1e-5), ("gaussian", 0.0), ("sqeuclidean", 0.0)]
)
def test_audit_neighbours_are_within_e_to_the_epsilon(f: str, delta: float) -> None:
    assert _audit(f, delta=delta) <= math.exp(1.0)


def test_audit_catches_a_mechanism_with_too_little_noise(monkeypatch) -> None:
    """The audit has power: the same release with a third of the noise (really epsilon ≈ 3) fails it."""
    real = mechanisms.noise_scales

    def too_little(*args, **kwargs):
        return {k: v / 3 for k, v in real(*args, **kwargs).items()}

    monkeypatch.setattr("lowdim.private._summary.noise_scales", too_little)
    assert _audit("l1") > math.exp(1.0)
