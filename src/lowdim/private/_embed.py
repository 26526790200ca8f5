"""The public random maps: a rotation that embeds ℓ2 into ℓ1, and random features for kernels.

Both are drawn from their own seeded generator *before* the data is looked at and are independent
of it, so they are public: they are stored in the summary's file and may be released. The privacy
guarantee holds for every value they take (the sensitivities are bounded for any map).

- **ℓ2 → ℓ1.** For a uniformly random unit vector ``q`` in ``R^d``, ``E|q·v| = c_d ‖v‖₂`` with
  ``c_d = Γ(d/2) / (√π Γ((d+1)/2))``. Rows of ``k`` stacked random rotations (scaled by ``√d``, so that
  projected coordinates have the spread of the data's norm) give ``‖G v‖₁ / (k √d c_d)``, an unbiased
  estimate of ``‖v‖₂``; orthogonal rows make it concentrate far better than i.i.d. Gaussian rows
  (relative standard deviation ``≈ 0.27/√d`` per pair for one full rotation, against ``0.76/√k``).
  Then ``Σ_x ‖x − y‖₂ ≈ Σ_x ‖Gx − Gy‖₁ / (k √d c_d)``: the ℓ1 tree over the ``k`` projected coordinates.
- **Kernels.** A shift-invariant kernel is the Fourier transform of a probability law ``p(ω)``
  (Bochner), so ``z(x) = [cos(ω_j·x), sin(ω_j·x)]_j / √m`` with ``m`` frequencies drawn from ``p`` gives
  ``E[z(x)·z(y)] = k(x, y)`` (Rahimi and Recht 2007). The feature dimension ``2m`` depends on the
  accuracy wanted, not on ``n`` or ``d``: this is the dimension reduction of the kernel case.
  ``‖z(x)‖₂ = 1`` for every ``x``, which bounds the sensitivity of ``Σ_x z(x)``. Radial kernels draw
  directions from stacked random rotations and radii from the kernel's law (orthogonal random
  features, Yu et al. 2016: same expectation, smaller variance):

  =============  ==============================  =============================================
  kernel         k(x, y)                          frequencies ω
  =============  ==============================  =============================================
  gaussian       exp(−‖x−y‖₂² / (2σ²))           radius χ_d / σ
  exponential    exp(−‖x−y‖₂ / σ)                radius χ_d / (σ |N(0,1)|)  (multivariate Cauchy)
  cauchy         1 / (1 + ‖x−y‖₂² / σ²)          radius χ_d √(2s) / σ, s ~ Exp(1): a mixture of
                                                 Gaussians, ``1/(1+t) = ∫ e^{−s} e^{−st} ds``
  laplacian      exp(−‖x−y‖₁ / σ)                i.i.d. Cauchy(0, 1/σ) coordinates
  =============  ==============================  =============================================

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> W = draw_frequencies("gaussian", d=8, m=4096, bandwidth=1.0, rng=rng)
>>> x, y = np.zeros((1, 8), np.float32), np.full((1, 8), 0.25, np.float32)
>>> approx = float((random_features(x, W) @ random_features(y, W).T)[0, 0])
>>> bool(abs(approx - np.exp(-0.25)) < 0.02)  # exp(-||x-y||^2 / 2) = exp(-0.25)
True
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import gammaln

__all__ = [
    "FUNCTIONS",
    "KERNELS",
    "rotation_rows",
    "l1_constant",
    "draw_frequencies",
    "random_features",
    "kernel_of_distance",
]

#: kernels with random features, and the distance each is a function of
KERNELS = {"gaussian": "l2", "exponential": "l2", "cauchy": "l2", "laplacian": "l1"}
#: every similarity function a summary answers: distances, inner product, kernels
FUNCTIONS = ("l1", "l2", "lp", "sqeuclidean", "linear", *KERNELS)


def _orthogonal(d: int, rows: int, rng: np.random.Generator) -> np.ndarray:
    """``rows`` unit vectors of ``R^d``, orthonormal within each block of ``d`` (stacked Haar rotations): (rows, d) float64."""
    blocks = []
    for _ in range(-(-rows // d)):
        q, r = np.linalg.qr(rng.standard_normal((d, d)))
        blocks.append((q * np.sign(np.diag(r))).T)  # the sign fix makes the rotation Haar-distributed
    return np.vstack(blocks)[:rows]


def rotation_rows(d: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """``k`` rows of stacked random rotations of ``R^d``, scaled by ``√d``: (k, d) float32."""
    return (_orthogonal(d, k, rng) * math.sqrt(d)).astype(np.float32)


def l1_constant(d: int) -> float:
    """``√d · E|q·u|`` for ``q`` uniform on the unit sphere of ``R^d`` and a unit ``u`` (→ √(2/π) as d grows).

    >>> round(l1_constant(384), 4), round(math.sqrt(2 / math.pi), 4)
    (0.7984, 0.7979)
    """
    return math.sqrt(d) * math.exp(gammaln(d / 2) - gammaln((d + 1) / 2)) / math.sqrt(math.pi)


def draw_frequencies(kernel: str, *, d: int, m: int, bandwidth: float, rng: np.random.Generator) -> np.ndarray:
    """``m`` random frequencies of ``kernel`` with bandwidth σ in ``R^d``: (m, d) float32."""
    if kernel == "laplacian":
        return (rng.standard_cauchy((m, d)) / bandwidth).astype(np.float32)
    directions = _orthogonal(d, m, rng)
    chi = np.sqrt(rng.chisquare(d, size=m))
    if kernel == "gaussian":
        radius = chi / bandwidth
    elif kernel == "exponential":
        radius = chi / (bandwidth * np.abs(rng.standard_normal(m)))
    elif kernel == "cauchy":
        radius = chi * np.sqrt(2.0 * rng.exponential(1.0, m)) / bandwidth
    else:  # pragma: no cover - the summary checks the name
        raise ValueError(kernel)
    return (directions * radius[:, None]).astype(np.float32)


def random_features(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """``z(x) = [cos(Wx), sin(Wx)] / √m`` for each row of ``X`` (n, d): (n, 2m) float32, each row of unit norm."""
    T = X @ W.T
    scale = np.float32(1.0 / math.sqrt(W.shape[0]))
    return np.hstack([np.cos(T) * scale, np.sin(T) * scale])


def kernel_of_distance(kernel: str, distance: Any, bandwidth: float) -> Any:
    """The kernel's value at ``distance`` (ℓ1 for laplacian, ℓ2 otherwise): a float or an array like ``distance``.

    >>> round(float(kernel_of_distance("gaussian", math.sqrt(2), 1.0)), 4)
    0.3679
    """
    t = np.asarray(distance, dtype=np.float64) / bandwidth
    if kernel == "gaussian":
        return np.exp(-t * t / 2)
    if kernel == "cauchy":
        return 1.0 / (1.0 + t * t)
    return np.exp(-t)  # exponential, laplacian
