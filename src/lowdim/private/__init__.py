"""Differentially private similarity summaries: release once, answer ``Σ_x f(x, y)`` for any number of queries.

A team holding private embeddings (patients, customers, messages) releases a
:class:`PrivateSummary` of them; anyone can then estimate, for any query ``y``, the sum or mean
over the private rows of a distance (``l1``, ``l2``, ``sqeuclidean``), an inner product
(``linear``) or a kernel (``gaussian``, ``exponential``, ``cauchy``, ``laplacian``), with no further
privacy cost per query (Backurs, Lin, Mahabadi, Silwal and Tarnawski, ICLR 2024; Liu et al. 2024).
:class:`PrivateClassifier` classifies by similarity to one summary per class. Every release
carries a :class:`PrivacyRecord`; :class:`PrivacyBudget` adds up the releases made from one data set.

The privacy argument of each mechanism is in its module: ``_l1`` (count-and-sum trees), ``_embed``
(the public random maps), ``_kde`` (sums of bounded features), ``_mechanisms`` (noise calibration),
``_summary`` (the whole release, seeds), ``_classifier`` (parallel composition over classes).

>>> import numpy as np
>>> from lowdim.private import PrivateSummary
>>> X = np.random.default_rng(0).standard_normal((1000, 16)).astype(np.float32)
>>> X /= np.linalg.norm(X, axis=1, keepdims=True)
>>> s = PrivateSummary("gaussian", epsilon=1.0, bound=1.0, bandwidth=1.0, random_state=0, noise_seed=0).fit(X)
>>> s.query(X[:2]).sums.shape, s.record_.noise
((2,), 'laplace')
"""

from ._bounds import public_bound
from ._classifier import PrivateClassifier
from ._embed import FUNCTIONS, KERNELS
from ._exact import exact_sums
from ._files import FORMAT_VERSION
from ._kde import predicted_feature_error
from ._load import load_release
from ._mechanisms import gaussian_sigma
from ._record import BudgetExceededError, PrivacyBudget, PrivacyRecord, compose
from ._summary import BandwidthWarning, Estimates, PrivateSummary

__all__ = [
    "PrivateSummary",
    "PrivateClassifier",
    "Estimates",
    "PrivacyRecord",
    "PrivacyBudget",
    "BudgetExceededError",
    "BandwidthWarning",
    "FUNCTIONS",
    "KERNELS",
    "FORMAT_VERSION",
    "compose",
    "exact_sums",
    "gaussian_sigma",
    "predicted_feature_error",
    "public_bound",
    "load_release",
]
