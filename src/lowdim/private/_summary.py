"""``PrivateSummary``: a differentially private structure, released once, that estimates ``Σ_x f(x, y)`` for any query ``y``.

``fit(X)`` computes the statistics of the function's mechanism, adds noise calibrated to what one
row can change, and keeps only the noisy statistics and the public random draws (the rows are not
kept). ``query(Y)`` reads them: post-processing, so any number of queries costs no further privacy.

=============  ===========================================  ==============================================
``f``          estimates Σ_x of                             mechanism (see the module named)
=============  ===========================================  ==============================================
l1             ‖x − y‖₁                                     count-and-sum tree per coordinate (``_l1``)
l2             ‖x − y‖₂                                     random rotation into ℓ1 (``_embed``), then l1
lp             ‖x − y‖_p^p, 0 < p ≤ 2                       the l1 trees read to second order (``_lp``)
sqeuclidean    ‖x − y‖₂²                                    noisy Σx, Σ‖x‖², n (``_kde``)
linear         x · y                                        noisy Σx (``_kde``)
gaussian       exp(−‖x − y‖₂² / (2σ²))                      random Fourier features (``_embed``, ``_kde``)
exponential    exp(−‖x − y‖₂ / σ)                           random Fourier features
cauchy         1 / (1 + ‖x − y‖₂² / σ²)                     random Fourier features (mixture of Gaussians)
laplacian      exp(−‖x − y‖₁ / σ)                           random Fourier features (Cauchy frequencies)
=============  ===========================================  ==============================================

**The privacy argument.** Neighbouring data sets differ by one row, added or removed. Each
mechanism clips rows to a *declared, public* bound ``R`` (per coordinate for ``l1``; the ℓ2 norm
otherwise, and the rotated coordinates of ``l2`` at ``3R``), so one row changes each released block
by at most a sensitivity computed from ``R``, the width and the depth alone (never from the data). The
blocks get Laplace noise of scale ``Δ1 / (share · ε)`` (``delta = 0``: pure ε-DP) or Gaussian noise
from the analytic Gaussian mechanism (``delta > 0``: (ε, δ)-DP); see ``_mechanisms``. The random
projections and frequencies are drawn before, and independently of, the data: they are public and
stored with the summary. Everything else a summary returns (estimates, means, the row count) is
computed from the noisy release. The record (:attr:`PrivateSummary.record_`) lists every number.
How many rows were clipped is *not* recorded: it depends on the data.

**Randomness.** ``random_state`` seeds the public draws only. The noise comes from ``noise_seed``,
which defaults to None, fresh entropy from the operating system, and should stay so for every real
release: anyone who knows a noise seed can regenerate the noise and subtract it, and two releases
with the same noise seed share their noise. An integer ``noise_seed`` exists for tests and audits,
and the record says so. The two seeds are separate so that a reproducible (publishable) projection
never makes the noise reproducible.

Examples
--------
>>> import numpy as np, tempfile
>>> rng = np.random.default_rng(0)
>>> X = rng.standard_normal((2000, 8)).astype(np.float32) * 0.2
>>> s = PrivateSummary("l1", epsilon=10.0, bound=1.0, noise_seed=0).fit(X)
>>> est = s.query(X[:3])
>>> est.sums.shape, bool(np.all(np.abs(est.sums / exact_sums("l1", X, X[:3]) - 1) < 0.05))
((3,), True)
>>> path = tempfile.mkdtemp() + "/l1.npz"
>>> _ = s.save(path)
>>> np.allclose(PrivateSummary.load(path).query(X[:3]).sums, est.sums)
True
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._version import __version__
from ..exceptions import NotFittedError, ParameterError
from ..validation import as_float_rows, check_choice, check_embeddings, check_positive_int, iter_blocks
from ._bounds import check_bound
from ._embed import FUNCTIONS, KERNELS, draw_frequencies, l1_constant, random_features, rotation_rows
from ._exact import exact_sums
from ._files import read_release, write_release
from ._kde import COUNT_SHARE, clip_rows, feature_blocks, feature_sums, moment_blocks, moment_sums, predicted_feature_error
from ._l1 import DEFAULT_DEPTH, tree_blocks, tree_count, tree_leaves, tree_levels, tree_noise_variance, tree_query, tree_tables
from ._lp import DESCENT, check_p, lp_blocks, lp_query, lp_query_with_noise
from ._mechanisms import add_noise, allocate, noise_scales
from ._record import PrivacyBudget, PrivacyRecord, check_delta, check_epsilon

__all__ = ["PrivateSummary", "Estimates", "BandwidthWarning", "FUNCTIONS", "exact_sums"]

KIND = "lowdim.private.PrivateSummary"
#: random features by default (m = 1,024 frequencies, cos and sin)
DEFAULT_FEATURES = 2048
#: rotated coordinates of "l2" are clipped at this many times the norm bound (about 0.3% of them for unit rows)
PROJECTED_CLIP = 3.0
#: predicted random-feature error above which a bandwidth is warned about, and above which it is refused
WARN_ERROR, REFUSE_ERROR = 0.05, 1.0
_MAX_DEPTH = 16
#: the functions answered from count-and-sum trees
TREES = ("l1", "l2", "lp")
# values per block when a release streams its rows (4M: a block of 384-wide rows is ~11,000 rows)
_BLOCK_VALUES = 1 << 22


class BandwidthWarning(UserWarning):
    """The kernel's bandwidth is narrow for random features: the summary's error will be large."""


@dataclass(frozen=True)
class Estimates:
    """A summary's answers for ``m`` queries.

    Attributes
    ----------
    sums : ndarray of shape (m,), float64
        Estimates of ``Σ_x f(x, y)``.
    means : ndarray of shape (m,), float64
        ``sums / count`` (NaN where the summary released no count).
    count : float
        The released (noisy) number of rows.
    noise_std : ndarray of shape (m,), float64, optional
        Standard deviation of the privacy noise in each of ``sums``, from public numbers only (the noise
        scales and the query): ``sums ± 2 noise_std`` covers the noise about 95% of the time. It does not
        include the approximation error (random features, the l2 rotation, the leaf width), which the
        benchmark reports apart.
    """

    sums: np.ndarray
    means: np.ndarray
    count: float
    noise_std: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"sums": self.sums.tolist(), "means": self.means.tolist(), "count": self.count}
        if self.noise_std is not None:
            out["noise_std"] = self.noise_std.tolist()
        return out


class PrivateSummary:
    """A differentially private summary of rows ``X`` that estimates ``Σ_x f(x, y)`` for any query ``y``.

    Parameters
    ----------
    f : str
        The function: one of :data:`FUNCTIONS` (``"l1"``, ``"l2"``, ``"sqeuclidean"``, ``"linear"``,
        ``"gaussian"``, ``"exponential"``, ``"cauchy"``, ``"laplacian"``).
    epsilon : float
        Privacy budget, > 0.
    delta : float
        0 (default): pure ε-DP with Laplace noise. A small δ > 0 (well below 1/n): (ε, δ)-DP with Gaussian noise.
    bound : float
        Public clip bound, required: for ``"l1"`` the largest ``|x_i|``, for the others the largest
        ``‖x‖₂``. Take it from public knowledge (1 for unit-norm embeddings), never from the rows.
    bandwidth : float
        σ of a kernel (required for kernels, refused otherwise).
    n_components : int, optional
        Random features (kernels, even, default 2,048) or rotated coordinates (``"l2"``, default the width).
    depth : int, optional
        Levels of the ℓ1 trees (``"l1"``, ``"l2"``, ``"lp"``; default 10, 1,024 leaves).
    p : float, optional
        The exponent of ``"lp"`` (required there, in (0, 2]): sums of ``‖x − y‖_p^p``.
    random_state : int, optional
        Seed of the public draws (projection, frequencies). None: fresh entropy (they are stored anyway).
    noise_seed : int, optional
        Seed of the noise. Leave None (fresh entropy) for real releases; an int is for tests only.

    Attributes
    ----------
    record_ : PrivacyRecord
        What was released and why it is private.
    count_ : float
        The released number of rows (noisy).
    n_features_in_ : int
        Width of the rows.
    """

    def __init__(
        self,
        f: str = "gaussian",
        *,
        epsilon: float,
        delta: float = 0.0,
        bound: float | None = None,
        bandwidth: float | None = None,
        n_components: int | None = None,
        depth: int | None = None,
        p: float | None = None,
        random_state: int | None = None,
        noise_seed: int | None = None,
    ) -> None:
        self.f = f
        self.p = p
        self.epsilon = epsilon
        self.delta = delta
        self.bound = bound
        self.bandwidth = bandwidth
        self.n_components = n_components
        self.depth = depth
        self.random_state = random_state
        self.noise_seed = noise_seed

    # -- settings --------------------------------------------------------------------------
    def _settings(self, d: int, owner: str = "PrivateSummary") -> dict[str, Any]:
        """The validated settings for rows of width ``d``, defaults filled in."""
        f = check_choice(self.f, FUNCTIONS, "f", owner=owner)
        s: dict[str, Any] = {"f": f, "epsilon": check_epsilon(self.epsilon, owner), "delta": check_delta(self.delta, owner)}
        s["bound"] = check_bound(self.bound, owner, f)
        for name in ("random_state", "noise_seed"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0):
                raise ParameterError(f"The '{name}' parameter of {owner} must be a non-negative integer or None. Got {value!r}.")
        s["random_state"] = None if self.random_state is None else int(self.random_state)  # public: recorded

        def refuse(name: str, why: str) -> None:
            if getattr(self, name) is not None:
                raise ParameterError(f"The '{name}' parameter of {owner} does not apply to f={f!r} ({why}); leave it out.")

        if f in KERNELS:
            bw = self.bandwidth
            if isinstance(bw, bool) or not isinstance(bw, (int, float)) or not math.isfinite(bw) or bw <= 0:
                raise ParameterError(f"The 'bandwidth' parameter of {owner} must be a number > 0 for the {f} kernel. Got {bw!r}.")
            s["bandwidth"] = float(bw)
            m = (
                DEFAULT_FEATURES
                if self.n_components is None
                else check_positive_int(self.n_components, "n_components", owner=owner, minimum=2)
            )
            if m % 2:
                raise ParameterError(
                    f"The 'n_components' parameter of {owner} must be even for random features (cos and sin). Got {m}."
                )
            s["n_components"] = m
            refuse("depth", "kernels use random features, not trees")
        else:
            refuse("bandwidth", "only kernels have one")
            if f == "l2":
                s["n_components"] = (
                    d if self.n_components is None else check_positive_int(self.n_components, "n_components", owner=owner)
                )
            else:
                refuse("n_components", "it is computed in the rows' own coordinates")
            if f in TREES:
                depth = DEFAULT_DEPTH if self.depth is None else check_positive_int(self.depth, "depth", owner=owner)
                if depth > _MAX_DEPTH:
                    raise ParameterError(
                        f"The 'depth' parameter of {owner} must be at most {_MAX_DEPTH} (2^depth leaves per coordinate). Got {depth}."
                    )
                s["depth"] = depth
            else:
                refuse("depth", "only l1, l2 and lp use trees")
        if f == "lp":
            s["p"] = check_p(self.p, owner)
            if s["depth"] < 2:
                raise ParameterError(f"The 'depth' parameter of {owner} must be at least 2 for f='lp'. Got {s['depth']}.")
        else:
            refuse("p", "only lp has an exponent")
        return s

    def _check_bandwidth(self, s: dict[str, Any], d: int) -> None:
        if s["f"] not in KERNELS:
            return
        err = predicted_feature_error(s["f"], bandwidth=s["bandwidth"], bound=s["bound"], n_features=s["n_components"], d=d)
        if err <= WARN_ERROR:
            return
        lo = s["bandwidth"]
        while predicted_feature_error(s["f"], bandwidth=lo, bound=s["bound"], n_features=s["n_components"], d=d) > WARN_ERROR:
            lo *= 1.1
        message = (
            f"bandwidth {s['bandwidth']:g} is narrow for random features over rows of norm up to {s['bound']:g}: "
            f"predicted error {'over 1,000%' if err > 10 else f'{err:.0%}'} before any noise (random-feature KDE is reliable "
            f"from about bandwidth {lo:.2g} with {s['n_components']} features; more features help as 1/sqrt(n_components))"
        )
        if err > REFUSE_ERROR:
            raise ParameterError(message)
        warnings.warn(BandwidthWarning(message), stacklevel=3)

    # -- release ---------------------------------------------------------------------------
    def fit(self, X: Any, *, budget: PrivacyBudget | None = None) -> PrivateSummary:
        """Release the summary of ``X`` (n, d); the rows are not kept. Returns self.

        ``X`` may be a memmap larger than RAM: the rows are read in blocks. ``budget``, if given, is
        checked first and charged ``(epsilon, delta)`` once every row has passed the checks, before any
        noise is drawn; a release that would overspend it is refused
        (:class:`~lowdim.private.BudgetExceededError`), and rows refused by the checks (NaN, infinity)
        spend nothing.
        """
        X = as_float_rows(X, name="X")
        d = X.shape[1]
        s = self._settings(d)
        self._check_bandwidth(s, d)
        if budget is not None:
            budget.check(s["epsilon"], s["delta"])
        public = draw_public(s, d, np.random.default_rng(self.random_state))
        released, record = release_groups(
            s,
            X,
            np.zeros(len(X), np.int64),
            1,
            public,
            self.noise_seed,
            count_share=COUNT_SHARE,
            owner="PrivateSummary",
            budget=budget,
            label=f"PrivateSummary({s['f']})",
        )
        self._set_state(s, d, public, released[0], record)
        return self

    def _set_state(
        self, s: dict[str, Any], d: int, public: dict[str, np.ndarray], released: dict[str, np.ndarray], record: PrivacyRecord
    ) -> None:
        self.settings_ = s
        self.n_features_in_ = d
        self.public_ = public
        self.released_ = released
        self.record_ = record
        self.count_ = released_count(s, released)
        self._tables: np.ndarray | None = None

    def _check_fitted(self) -> None:
        if not hasattr(self, "released_"):
            raise NotFittedError("this PrivateSummary is not released yet: call fit(X) first, or PrivateSummary.load(path)")

    # -- answers ---------------------------------------------------------------------------
    def query(self, Y: Any) -> Estimates:
        """Estimates of ``Σ_x f(x, y)`` and of the mean for each row of ``Y`` (m, d): see :class:`Estimates`."""
        self._check_fitted()
        Y = check_embeddings(Y, n_features=self.n_features_in_, name="Y", what="this summary")
        if self._tables is None and self.settings_["f"] in ("l1", "l2"):  # lp reads the tree itself
            self._tables = tree_tables(self.released_, bound=_tree_bound(self.settings_), depth=self.settings_["depth"])
        sums, variance = estimate(self.settings_, self.public_, self.released_, self._tables, self.record_, Y)
        count = self.count_
        means = sums / max(count, 1.0) if math.isfinite(count) else np.full(len(sums), np.nan)
        return Estimates(sums, means, count, np.sqrt(variance))

    def info(self) -> dict[str, Any]:
        """Settings, width, released row count and the privacy record, as plain data."""
        self._check_fitted()
        return {
            "kind": KIND,
            "settings": dict(self.settings_),
            "n_features": self.n_features_in_,
            "count": self.count_,
            "record": self.record_.to_dict(),
        }

    # -- files -----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the release (public draws, noisy statistics, record; no rows) as ``.npz`` + JSON header."""
        self._check_fitted()
        arrays = {f"public_{k}": v for k, v in self.public_.items()} | {f"released_{k}": v for k, v in self.released_.items()}
        return write_release(path, self.info(), arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PrivateSummary:
        """A summary written by :meth:`save`, ready to answer queries."""
        meta, arrays = read_release(path, kind=KIND)
        s = dict(meta["settings"])
        obj = cls(s["f"], epsilon=s["epsilon"], delta=s["delta"], bound=s["bound"], bandwidth=s.get("bandwidth"), p=s.get("p"))
        obj.n_components, obj.depth, obj.random_state = s.get("n_components"), s.get("depth"), s.get("random_state")
        public = {k[len("public_") :]: v for k, v in arrays.items() if k.startswith("public_")}
        released = {k[len("released_") :]: v for k, v in arrays.items() if k.startswith("released_")}
        obj._set_state(s, int(meta["n_features"]), public, released, PrivacyRecord.from_dict(meta["record"], str(path)))
        return obj

    def __repr__(self) -> str:
        state = f", released n~{self.count_:.0f}" if hasattr(self, "released_") else ""
        return f"PrivateSummary({self.f!r}, epsilon={self.epsilon!r}, delta={self.delta!r}, bound={self.bound!r}{state})"


# -- the mechanisms, shared with PrivateClassifier ----------------------------------------------
def _tree_bound(s: dict[str, Any]) -> float:
    return s["bound"] * (PROJECTED_CLIP if s["f"] == "l2" else 1.0)


def draw_public(s: dict[str, Any], d: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The public random draws of settings ``s`` for width ``d``: ``{"projection": (k, d)}`` or ``{"frequencies": (m, d)}``."""
    if s["f"] == "l2":
        return {"projection": rotation_rows(d, s["n_components"], rng)}
    if s["f"] in KERNELS:
        return {"frequencies": draw_frequencies(s["f"], d=d, m=s["n_components"] // 2, bandwidth=s["bandwidth"], rng=rng)}
    return {}


def _block_statistics(
    s: dict[str, Any], block: np.ndarray, groups: np.ndarray, n_groups: int, public: dict[str, np.ndarray]
) -> tuple[np.ndarray, ...]:
    """The exact statistics of one block of rows (float32, checked), per group: arrays that add up over blocks."""
    f = s["f"]
    if f in KERNELS:
        return feature_sums(block, public["frequencies"], groups, n_groups)
    if f in ("linear", "sqeuclidean"):
        return moment_sums(clip_rows(block, s["bound"]), groups, n_groups)
    V = clip_rows(block, s["bound"]) @ public["projection"].T if f == "l2" else block
    return tree_leaves(V, bound=_tree_bound(s), depth=s["depth"], groups=groups, n_groups=n_groups)


def _statistics(
    s: dict[str, Any], X: np.ndarray, groups: np.ndarray, n_groups: int, public: dict[str, np.ndarray]
) -> list[dict[str, np.ndarray]]:
    """Exact statistics per group (before noise), streamed over blocks of rows: a memmap larger than RAM stays on disk.

    Every block passes the array gate (NaN or infinity: a one-line error naming the global rows).
    """
    X = as_float_rows(X, name="X")
    width = s["n_components"] if s["f"] == "l2" else X.shape[1]
    total: tuple[np.ndarray, ...] | None = None
    for start, _, block in iter_blocks(X, name="X", rows=max(1, _BLOCK_VALUES // max(width, X.shape[1]))):
        part = _block_statistics(s, block, groups[start : start + len(block)], n_groups, public)
        total = part if total is None else tuple(a + b for a, b in zip(total, part))
    assert total is not None  # X has at least one row (checked by as_float_rows)
    f = s["f"]
    if f in KERNELS:
        feats, counts = total
        return [{"features": feats[g], "count": counts[g : g + 1]} for g in range(n_groups)]
    if f in ("linear", "sqeuclidean"):
        sums, sq, counts = total
        out = [{"sum": sums[g], "count": counts[g : g + 1]} for g in range(n_groups)]
        if f == "sqeuclidean":
            for g in range(n_groups):
                out[g]["sqnorm"] = sq[g : g + 1]
        return out
    leaf_counts, leaf_sums = total
    return [tree_levels(leaf_counts[g], leaf_sums[g], bound=_tree_bound(s), depth=s["depth"]) for g in range(n_groups)]


def _blocks(s: dict[str, Any], d: int) -> dict[str, tuple[float, float, float]]:
    f = s["f"]
    if f in KERNELS:
        return feature_blocks(s["n_components"] // 2)
    if f in ("linear", "sqeuclidean"):
        return moment_blocks(f, d, s["bound"])
    if f == "lp":
        return lp_blocks(d, bound=s["bound"], depth=s["depth"], p=s["p"])
    return tree_blocks(d if f == "l1" else s["n_components"], bound=_tree_bound(s), depth=s["depth"])


def _mechanism(s: dict[str, Any], d: int) -> tuple[str, str, str]:
    """``(mechanism, clip, public)`` in words."""
    f, R = s["f"], s["bound"]
    if f == "lp":
        return (
            f"dyadic count-and-sum tree per coordinate as for l1 (depth {s['depth']}, {1 << s['depth']} leaves over "
            f"[-{R:g}, {R:g}], centred sums; the top {min(DESCENT, s['depth'] - 1)} levels not released), |x - y|^{s['p']:g} "
            f"from each sibling's nodes {min(DESCENT, s['depth'] - 1)} levels down to second order",
            f"each coordinate clipped to [-{R:g}, {R:g}]",
            "none",
        )
    if f == "l1":
        return (
            f"dyadic count-and-sum tree per coordinate (depth {s['depth']}, {1 << s['depth']} leaves over [-{R:g}, {R:g}], centred sums)",
            f"each coordinate clipped to [-{R:g}, {R:g}]",
            "none",
        )
    if f == "l2":
        k = s["n_components"]
        return (
            f"random rotation into l1 ({k} coordinates, estimate = l1 sum / {k * l1_constant(d):.6g}), then a dyadic count-and-sum "
            f"tree per coordinate (depth {s['depth']})",
            f"rows scaled to L2 norm <= {R:g}, rotated coordinates clipped to [-{PROJECTED_CLIP * R:g}, {PROJECTED_CLIP * R:g}]",
            f"projection ({k} x {d} stacked random rotations x sqrt({d})), drawn independently of the data, stored in the file",
        )
    if f in KERNELS:
        m = s["n_components"] // 2
        return (
            f"random Fourier features of the {f} kernel (bandwidth {s['bandwidth']:g}, {m} frequencies, cos and sin), noisy feature sum and row count",
            f"none needed: every feature vector has L2 norm 1 (the bound {R:g} only sets the bandwidth check)",
            f"frequencies ({m} x {d}), drawn independently of the data, stored in the file",
        )
    what = "sum of rows" if f == "linear" else "sum of rows, sum of squared norms"
    return (f"noisy {what} and row count", f"rows scaled to L2 norm <= {R:g}", "none")


def release_groups(
    s: dict[str, Any],
    X: np.ndarray,
    groups: np.ndarray,
    n_groups: int,
    public: dict[str, np.ndarray],
    noise_seed: int | None,
    *,
    count_share: float,
    owner: str,
    composition: str = "one release",
    budget: PrivacyBudget | None = None,
    label: str = "",
) -> tuple[list[dict[str, np.ndarray]], PrivacyRecord]:
    """One noisy release per group (disjoint rows, so the groups compose in parallel) and its record.

    ``budget`` is charged after the exact statistics (every row checked) and before the noise.
    """
    d = X.shape[1]
    blocks = _blocks(s, d)
    gaussian = s["delta"] > 0
    if "features" in blocks or s["f"] == "linear":
        main = [b for b in blocks if b != "count"]
        shares = {b: (1.0 - count_share) for b in main} | {"count": count_share}
    else:
        shares = allocate(blocks, gaussian=gaussian)
    sens = {b: (v[0], v[1]) for b, v in blocks.items()}
    scales = noise_scales(sens, shares, s["epsilon"], s["delta"])
    stats = _statistics(s, X, groups, n_groups, public)
    if budget is not None:
        budget.charge(s["epsilon"], s["delta"], label=label)
    seeds = np.random.SeedSequence(noise_seed).spawn(n_groups)  # None: fresh OS entropy
    released = [add_noise(st, scales, gaussian=gaussian, rng=np.random.default_rng(seq)) for st, seq in zip(stats, seeds)]
    mechanism, clip, public_text = _mechanism(s, d)
    seed_text = (
        "fresh entropy from the operating system (not reproducible)"
        if noise_seed is None
        else f"seeded with {noise_seed}: for tests only; anyone who knows the seed can remove the noise"
    )
    record = PrivacyRecord(
        f=s["f"],
        mechanism=mechanism,
        epsilon=s["epsilon"],
        delta=s["delta"],
        noise="gaussian" if gaussian else "laplace",
        clip=clip,
        bound=s["bound"],
        sensitivity={b: [float(a), float(c)] for b, (a, c) in sens.items()},
        shares={b: float(v) for b, v in shares.items()},
        noise_scales={b: float(v) for b, v in scales.items()},
        public=public_text + (f"; random_state={s.get('random_state')}" if s.get("random_state") is not None else ""),
        noise_seed=seed_text,
        n_features=d,
        composition=composition,
        parts=n_groups,
        version=__version__,
    )
    return released, record


def released_count(s: dict[str, Any], released: dict[str, np.ndarray]) -> float:
    """The released row count (from the shallowest released level for trees), or NaN where none was released."""
    if s["f"] in TREES:
        return tree_count(released)
    return float(released["count"][0])


def noise_variances(record: PrivacyRecord) -> dict[str, float]:
    """Each released block's per-entry noise variance: ``2 b²`` (Laplace) or ``σ²`` (Gaussian)."""
    return {b: (v * v if record.noise == "gaussian" else 2.0 * v * v) for b, v in record.noise_scales.items()}


def estimate(
    s: dict[str, Any],
    public: dict[str, np.ndarray],
    released: dict[str, np.ndarray],
    tables: np.ndarray | None,
    record: PrivacyRecord,
    Y: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """``(sums, variance of their noise)`` for ``Y``: :func:`answer` and :func:`noise_variance`, lp in one pass over its tree."""
    if s["f"] == "lp":  # the weights are most of lp's cost: computed once for both
        raw, var = lp_query_with_noise(released, noise_variances(record), Y, bound=s["bound"], depth=s["depth"], p=s["p"])
        assert var is not None  # asked for
        return np.maximum(raw, 0.0), var
    return answer(s, public, released, tables, Y), noise_variance(s, public, record, Y)


def noise_variance(s: dict[str, Any], public: dict[str, np.ndarray], record: PrivacyRecord, Y: np.ndarray) -> np.ndarray:
    """Variance of the privacy noise in :func:`answer`'s estimates for ``Y`` (m, d): float64 (m,), public numbers only.

    Every released entry of block ``b`` carries independent noise of variance ``2 b²`` (Laplace) or
    ``σ²`` (Gaussian); an answer is linear in the entries, so the variances add up with the squared
    weights of the query's coefficients. Every f but ``lp``, whose variance comes with its sums
    (:func:`estimate`).
    """
    var = noise_variances(record)
    f = s["f"]
    if f == "lp":
        raise ValueError("lp's noise variance comes with its sums: call estimate()")
    Y64 = Y.astype(np.float64)
    if f in KERNELS:  # z(y) has unit norm
        return np.full(len(Y), var["features"])
    sq = np.einsum("ij,ij->i", Y64, Y64)
    if f == "linear":
        return sq * var["sum"]
    if f == "sqeuclidean":
        return var["sqnorm"] + 4.0 * sq * var["sum"] + sq * sq * var["count"]
    V = Y64 if f == "l1" else (Y @ public["projection"].T).astype(np.float64)  # the projection answer() uses
    out = tree_noise_variance(var, V, bound=_tree_bound(s), depth=s["depth"])
    return out if f == "l1" else out / (s["n_components"] * l1_constant(Y.shape[1])) ** 2


def answer(
    s: dict[str, Any], public: dict[str, np.ndarray], released: dict[str, np.ndarray], tables: np.ndarray | None, Y: np.ndarray
) -> np.ndarray:
    """``Σ_x f(x, y)`` estimates for ``Y`` (m, d) from one release: float64 (m,), clamped at 0 where f cannot be negative."""
    f = s["f"]
    if f == "linear":
        return Y.astype(np.float64) @ released["sum"]
    if f == "sqeuclidean":
        Y64 = Y.astype(np.float64)
        out = released["sqnorm"][0] - 2.0 * (Y64 @ released["sum"]) + released["count"][0] * np.einsum("ij,ij->i", Y64, Y64)
    elif f in KERNELS:
        out = random_features(Y, public["frequencies"]).astype(np.float64) @ released["features"]
    elif f == "lp":
        out = lp_query(released, Y, bound=s["bound"], depth=s["depth"], p=s["p"])
    else:
        if tables is None:
            tables = tree_tables(released, bound=_tree_bound(s), depth=s["depth"])
        V = Y if f == "l1" else Y @ public["projection"].T
        out = tree_query(tables, V, bound=_tree_bound(s), depth=s["depth"])
        if f == "l2":
            out = out / (s["n_components"] * l1_constant(Y.shape[1]))
    return np.maximum(out, 0.0)  # post-processing: these sums are never negative
