"""fuse_scores: per-query z-scores summed with weights."""

from __future__ import annotations

import numpy as np
import pytest

from lowdim.exceptions import DimensionError, ParameterError
from lowdim.multivector import fuse_scores


def test_z_scores_per_query_and_weights():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 30)), rng.normal(size=(4, 30))
    za = (a - a.mean(1, keepdims=True)) / a.std(1, keepdims=True)
    zb = (b - b.mean(1, keepdims=True)) / b.std(1, keepdims=True)
    np.testing.assert_allclose(fuse_scores([a, b], [1.0, 0.5]), za + 0.5 * zb, rtol=1e-5, atol=1e-5)
    # each query's scale and offset do not matter (a FDE's scores grow with the query's token count)
    scaled = a * np.array([[1.0], [10.0], [0.1], [3.0]]) + 7.0
    np.testing.assert_allclose(fuse_scores([scaled, b]), fuse_scores([a, b]), rtol=1e-4, atol=1e-4)


def test_unscored_documents_get_the_row_minimum():
    a = np.array([[3.0, -np.inf, 1.0, 2.0]])
    out = fuse_scores([a])
    np.testing.assert_allclose(out, fuse_scores([np.array([[3.0, 1.0, 1.0, 2.0]])]))
    assert np.isfinite(fuse_scores([np.full((1, 3), -np.inf)])).all()


def test_bad_input():
    with pytest.raises(ParameterError, match="at least one"):
        fuse_scores([])
    with pytest.raises(ParameterError, match="2 score matrices but 1 weights"):
        fuse_scores([np.ones((1, 2)), np.ones((1, 2))], [1.0])
    with pytest.raises(DimensionError, match="score matrix 1 has shape \\(1, 3\\); expected \\(1, 2\\)"):
        fuse_scores([np.ones((1, 2)), np.ones((1, 3))])
