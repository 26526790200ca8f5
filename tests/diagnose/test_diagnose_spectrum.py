"""PCA spectrum and the dims needed for a share of the variance."""

from __future__ import annotations

import numpy as np
import pytest

from lowdim import ParameterError
from lowdim.diagnose import diagnose, dims_for_variance, explained_variance_ratio

VARIANCES = np.array([40, 25, 15, 11, 4.5, 2.5, 1.5, 0.5])  # cumulative: 40 65 80 91 95.5 98 99.5 100


def exact_low_rank(n: int, d: int, variances: np.ndarray, seed: int = 0) -> np.ndarray:
    """(n, d) data whose sample covariance has exactly ``variances`` as its non-zero eigenvalues."""
    rng = np.random.default_rng(seed)
    r = len(variances)
    Z = rng.standard_normal((n, r))
    Z = np.linalg.qr(Z - Z.mean(axis=0))[0]  # orthonormal, centred columns
    R = np.linalg.qr(rng.standard_normal((d, r)))[0]
    return 5.0 + (Z * np.sqrt(variances * n)) @ R.T


def test_ratios_of_a_low_rank_matrix():
    X = exact_low_rank(2000, 48, VARIANCES)
    ratios = explained_variance_ratio(X)
    assert ratios.shape == (48,) and ratios.dtype == np.float64
    np.testing.assert_allclose(ratios[:8], VARIANCES / 100, atol=1e-10)
    np.testing.assert_allclose(ratios[8:], 0, atol=1e-10)
    assert [dims_for_variance(ratios, q) for q in (0.90, 0.95, 0.99)] == [4, 5, 7]


def test_diagnose_reports_the_dims():
    dg = diagnose(exact_low_rank(3000, 48, VARIANCES, seed=1), sample=3000)
    assert (dg.dims_90, dg.dims_95, dg.dims_99) == (4, 5, 7)
    np.testing.assert_allclose(dg.explained_variance_ratio[:8], VARIANCES / 100, atol=1e-6)


def test_wide_sample_uses_the_small_gram():
    X = exact_low_rank(30, 500, np.array([3.0, 1.0]), seed=2)
    ratios = explained_variance_ratio(X)
    assert ratios.shape == (500,)
    np.testing.assert_allclose(ratios[:3], [0.75, 0.25, 0.0], atol=1e-9)


def test_constant_data_has_zero_spectrum():
    ratios = explained_variance_ratio(np.ones((10, 4)))
    assert not ratios.any() and dims_for_variance(ratios, 0.9) == 0


def test_dims_for_variance_edges():
    assert dims_for_variance(np.array([0.6, 0.3, 0.1]), 1.0) == 3
    assert dims_for_variance(np.array([0.6, 0.3, 0.1]), 0.6) == 1
    assert dims_for_variance(np.array([0.6, 0.3, 0.1]), 0.61) == 2
    with pytest.raises(ParameterError, match=r"'level' parameter of dims_for_variance must be in \(0, 1\]. Got 95"):
        dims_for_variance(np.array([1.0]), 95)
