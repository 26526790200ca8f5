"""TwoNN and Levina-Bickel MLE recover known intrinsic dimensions.

Tolerance: 10% of the true dimension. At n = 4000 the statistical error of both
estimators is about d / sqrt(n) (~1.6% of d), so 10% is several standard errors;
what the margin must absorb is bias. The MLE with k = 20 underestimates on a
Gaussian latent because density falls inside the neighbourhood (here about -7% at
d = 10, in line with Levina & Bickel 2005); TwoNN, which only looks at the two
nearest neighbours, stays within ~4% over seeds 0-7 of these data.
"""

from __future__ import annotations

import numpy as np
import pytest

from lowdim import DimensionError, ParameterError, ValidationError
from lowdim.diagnose import mle_levina_bickel, twonn

REL_TOL = 0.10


@pytest.mark.parametrize("dim", [5, 10])
def test_twonn_recovers_linear_manifold(synth, dim):
    X = synth.linear_manifold(4000, dim, ambient=64, seed=dim)
    assert twonn(X) == pytest.approx(dim, rel=REL_TOL)


@pytest.mark.parametrize("dim", [5, 10])
def test_mle_recovers_linear_manifold(synth, dim):
    X = synth.linear_manifold(4000, dim, ambient=64, seed=dim)
    assert mle_levina_bickel(X, k=20) == pytest.approx(dim, rel=REL_TOL)


def test_both_recover_swiss_roll(synth):
    X = synth.swiss_roll(4000, ambient=64, seed=1)
    assert twonn(X) == pytest.approx(2.0, rel=REL_TOL)
    assert mle_levina_bickel(X) == pytest.approx(2.0, rel=REL_TOL)


def test_estimators_ignore_scale_rotation_and_float_width(synth):
    X = synth.linear_manifold(2000, 6, ambient=32, seed=3)
    rot = np.linalg.qr(np.random.default_rng(4).standard_normal((32, 32)))[0]
    Y = (7.5 * X @ rot + 3.0).astype(np.float32)
    assert twonn(Y) == pytest.approx(twonn(X), rel=1e-3)
    assert mle_levina_bickel(Y) == pytest.approx(mle_levina_bickel(X), rel=1e-3)


def test_duplicates_do_not_break_the_ratios(synth):
    X = synth.linear_manifold(2000, 5, seed=5)
    with_copies = np.vstack([X, X[:300], X[:10]])
    assert np.isfinite(twonn(with_copies))
    assert twonn(with_copies) == pytest.approx(twonn(X), rel=1e-9)
    assert mle_levina_bickel(with_copies) == pytest.approx(mle_levina_bickel(X), rel=1e-9)


def test_deterministic(synth):
    X = synth.swiss_roll(1500, seed=2)
    assert twonn(X) == twonn(X)
    assert mle_levina_bickel(X) == mle_levina_bickel(X)


def test_k_is_capped_by_the_number_of_rows(synth):
    X = synth.linear_manifold(12, 3, seed=0)
    assert np.isfinite(mle_levina_bickel(X, k=50))


def test_errors():
    with pytest.raises(ValidationError, match="1 distinct row"):
        twonn(np.ones((5, 4)))
    with pytest.raises(DimensionError, match=r"reshape\(1, -1\)"):
        twonn(np.ones(8))
    with pytest.raises(ParameterError, match="'k' parameter of mle_levina_bickel must be an integer >= 2. Got 1"):
        mle_levina_bickel(np.random.default_rng(0).standard_normal((50, 4)), k=1)
    with pytest.raises(ParameterError, match=r"'discard_fraction' parameter of twonn must be in \[0, 1\)"):
        twonn(np.random.default_rng(0).standard_normal((50, 4)), discard_fraction=1.0)
    bad = np.random.default_rng(0).standard_normal((50, 4))
    bad[7, 2] = np.nan
    with pytest.raises(ValidationError, match="NaN or infinity in 1 row"):
        twonn(bad)
