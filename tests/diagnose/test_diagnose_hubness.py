"""Hubness: skewness of the k-occurrence and the anti-hub share."""

from __future__ import annotations

import numpy as np
import pytest

from lowdim import ParameterError
from lowdim.diagnose import Hubness, hubness


def test_star_has_one_hub_and_many_antihubs():
    # The origin is everyone's nearest neighbour (distance 1 < sqrt(2)).
    m = 50
    X = np.vstack([np.zeros((1, m)), np.eye(m)])
    h = hubness(X, k=1)
    assert isinstance(h, Hubness) and (h.k, h.max_occurrence) == (1, m)
    assert h.antihub_share == pytest.approx((m - 1) / (m + 1))
    assert h.skewness > 5


def test_high_dimension_is_more_skewed_than_low(synth):
    low = synth.swiss_roll(3000, seed=0)
    high = np.random.default_rng(0).standard_normal((3000, 128))
    h_low, h_high = hubness(low, k=10), hubness(high, k=10)
    assert h_low.skewness < 0.5 < 1.0 < h_high.skewness
    assert h_low.antihub_share < h_high.antihub_share
    assert 0.0 <= h_low.antihub_share <= 1.0 and h_high.k == 10


def test_regular_grid_has_no_skew():
    # On a ring every point's 2 nearest are its two neighbours: N_2 = 2 for all.
    t = np.linspace(0, 2 * np.pi, 40, endpoint=False)
    h = hubness(np.column_stack([np.cos(t), np.sin(t)]), k=2)
    assert h.skewness == 0.0 and h.antihub_share == 0.0 and h.max_occurrence == 2


def test_bad_k():
    with pytest.raises(ParameterError, match="'k' parameter of hubness"):
        hubness(np.eye(4), k=0)
