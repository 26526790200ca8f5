"""Noise calibration: the Laplace mechanism (pure ε-DP), the analytic Gaussian mechanism ((ε, δ)-DP) and the
split of one budget over several released blocks.

Every summary releases a few named blocks of statistics (counts, sums, feature sums). Adding or
removing one row changes block ``b`` by at most ``Δ1_b`` in ℓ1 norm and ``Δ2_b`` in ℓ2 norm (the
sensitivities each mechanism derives from its public clip bound). The blocks are released together
as one mechanism:

- **Laplace** (``delta == 0``): block ``b`` gets i.i.d. ``Laplace(Δ1_b / (share_b · ε))`` noise. Block
  ``b`` alone is ``share_b · ε``-DP; the shares add up to 1, so the release is ε-DP (basic composition;
  Dwork, McSherry, Nissim and Smith 2006).
- **Gaussian** (``delta > 0``): block ``b`` gets ``N(0, σ_b²)`` with ``σ_b = Δ2_b / sqrt(share_b) · σ₁``. Scaled
  by ``sqrt(share_b) / Δ2_b``, the blocks form one vector whose ℓ2 sensitivity is ``sqrt(Σ share_b) = 1``
  with noise ``σ₁``, and ``σ₁`` is the smallest standard deviation for which the Gaussian mechanism of
  sensitivity 1 is (ε, δ)-DP, computed exactly (the analytic Gaussian mechanism of Balle and Wang 2018,
  valid for every ε, unlike the classic ``sqrt(2 ln(1.25/δ))/ε`` which needs ε < 1).

The shares minimise the variance of a typical answer (:func:`allocate`): a block whose noise reaches
an answer with weight ``A_b`` (the ℓ2 norm of the query's coefficients on it) gets a share proportional
to ``(A_b Δ1_b)^(2/3)`` (Laplace) or ``A_b Δ2_b`` (Gaussian). The shares are computed from public
numbers only (dimension, clip bound, depth), never from the data.

Examples
--------
>>> round(gaussian_sigma(1.0, 1e-5), 3)
3.731
>>> allocate({"a": (1.0, 1.0, 1.0), "b": (1.0, 1.0, 0.0)}, gaussian=False)
{'a': 1.0, 'b': 0.0}
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy.special import log_ndtr, ndtr

__all__ = ["gaussian_sigma", "allocate", "noise_scales", "add_noise"]


def _gaussian_delta(sigma: float, epsilon: float) -> float:
    """The δ of the Gaussian mechanism with sensitivity 1 and noise ``sigma`` at ``epsilon`` (Balle and Wang 2018, Thm. 8)."""
    a, b = 1.0 / (2.0 * sigma), epsilon * sigma
    # e^ε Φ(-a-b) in logs: e^ε overflows long before the product does
    return float(ndtr(a - b) - math.exp(epsilon + float(log_ndtr(-a - b))))


def gaussian_sigma(epsilon: float, delta: float) -> float:
    """The smallest σ for which adding ``N(0, σ²)`` to a query of ℓ2 sensitivity 1 is (ε, δ)-DP.

    Bisection on the exact privacy profile of the Gaussian mechanism (δ falls as σ grows),
    to a relative precision of 1e-12; the returned σ is on the safe side of the bisection.

    Examples
    --------
    >>> round(gaussian_sigma(10.0, 1e-5), 3), round(gaussian_sigma(0.3, 1e-5), 2)
    (0.5, 11.24)
    """
    lo, hi = 1e-8, 1.0
    while _gaussian_delta(hi, epsilon) > delta:
        hi *= 2.0
    while hi / lo > 1 + 1e-12:
        mid = math.sqrt(lo * hi)
        if _gaussian_delta(mid, epsilon) > delta:
            lo = mid
        else:
            hi = mid
    return hi


def allocate(blocks: Mapping[str, tuple[float, float, float]], *, gaussian: bool) -> dict[str, float]:
    """Shares of the budget per block, summing to 1, from ``{name: (Δ1, Δ2, A)}``.

    ``A`` is the ℓ2 norm of the coefficients with which a typical query's answer combines the
    block's noisy entries; a block with ``A == 0`` (not used by answers) gets no share. Minimising
    ``Σ A_b² scale_b²`` under the budget gives ``share ∝ (A Δ1)^(2/3)`` for Laplace noise and
    ``share ∝ A Δ2`` for Gaussian noise (Lagrange multipliers).
    """
    raw = {name: (a * d2 if gaussian else (a * d1) ** (2.0 / 3.0)) for name, (d1, d2, a) in blocks.items()}
    total = sum(raw.values())
    return {name: v / total for name, v in raw.items()}


def noise_scales(
    sensitivities: Mapping[str, tuple[float, float]], shares: Mapping[str, float], epsilon: float, delta: float
) -> dict[str, float]:
    """Noise scale per block: the Laplace ``b`` (``delta == 0``) or the Gaussian ``σ`` (``delta > 0``).

    ``sensitivities`` is ``{name: (Δ1, Δ2)}``. A block with share 0 is not released (scale ``inf``).
    """
    sigma1 = gaussian_sigma(epsilon, delta) if delta > 0 else 0.0
    out = {}
    for name, (d1, d2) in sensitivities.items():
        share = shares[name]
        if share <= 0:
            out[name] = math.inf
        elif delta > 0:
            out[name] = d2 / math.sqrt(share) * sigma1
        else:
            out[name] = d1 / (share * epsilon)
    return out


def add_noise(
    blocks: Mapping[str, np.ndarray], scales: Mapping[str, float], *, gaussian: bool, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """``blocks`` plus fresh noise of the given scales, float64; a block of scale ``inf`` is released as NaN.

    Noise is drawn in float64 by numpy's generator. Known limitation: like every textbook
    floating-point implementation, this does not defend against attacks on the low-order bits of
    floating-point noise (Mironov 2012); the released values are not snapped to a grid.
    """
    out = {}
    for name in sorted(blocks):  # a fixed order: the same noise seed gives the same release
        value = np.asarray(blocks[name], dtype=np.float64)
        scale = scales[name]
        if not math.isfinite(scale):
            out[name] = np.full(value.shape, np.nan)
        elif gaussian:
            out[name] = value + rng.normal(0.0, scale, value.shape)
        else:
            out[name] = value + rng.laplace(0.0, scale, value.shape)
    return out
