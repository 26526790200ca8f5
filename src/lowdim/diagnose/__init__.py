"""Diagnose an embedding collection before compressing it.

:func:`diagnose` measures in one call what decides how far a collection compresses:
norms, the share of the mean vector, intrinsic dimension (TwoNN and the
Levina-Bickel MLE), the PCA spectrum, hubness and exact duplicates, and turns
them into short warnings and recommendations. :func:`plot_spectrum` draws the
spectrum with the estimates marked. The estimators are public on their own.

Examples
--------
>>> import numpy as np
>>> from lowdim.diagnose import diagnose
>>> rng = np.random.default_rng(0)
>>> X = rng.standard_normal((3000, 8)) @ rng.standard_normal((8, 96))
>>> dg = diagnose(X, sample=2000)
>>> dg.dims_99 <= 8
True
"""

from __future__ import annotations

from ._diagnosis import Diagnosis, diagnose
from ._duplicates import count_duplicates
from ._hubness import Hubness, hubness
from ._intrinsic import mle_levina_bickel, twonn
from ._plot import plot_spectrum
from ._spectrum import dims_for_variance, explained_variance_ratio

__all__ = [
    "diagnose",
    "Diagnosis",
    "plot_spectrum",
    "twonn",
    "mle_levina_bickel",
    "hubness",
    "Hubness",
    "count_duplicates",
    "explained_variance_ratio",
    "dims_for_variance",
]
