"""Tune FastRP on the user's labels: β, the weights, the orbit combination (and the feature share).

The FastRP authors tuned β and the last weight with Optuna at a small dimension, then reran the
best setting at full size. :func:`tune_fastrp` does the same with a seeded random search (no
extra dependency): ``n_trials`` settings at ``search_dim`` (the first ones are always the
estimator's defaults, ``α = [1, 1, 1], β = 0`` and the authors' best BlogCatalog setting, then random
draws), then
the ``n_final`` best again at ``dim``; the winner is the best validation Macro-F1 at ``dim``.
The labelled nodes are split once, seeded, into train and validation; the test nodes of a later
evaluation should not be among them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._progress import ProgressBar
from ..eval import check_node_labels, classify_nodes, macro_f1, micro_f1
from ..exceptions import ParameterError, ValidationError
from ..validation import check_positive_int
from ._fastrp import FastRP
from ._graph import as_adjacency
from ._orbits import combine_orbits, parse_orbits

__all__ = ["FastRPTuning", "tune_fastrp"]

#: orbit combinations tried by default: plain A, and A with its triangles and wedges added
DEFAULT_ORBIT_CHOICES: tuple[str | None, ...] = (
    None,
    "edge=1,triangle=1",
    "edge=1,wedge_ends=0.5",
    "edge=1,wedge_end_centre=1,triangle=1",
)


@dataclass(frozen=True)
class FastRPTuning:
    """The chosen setting, its validation scores at full dimension, and every trial."""

    params: dict[str, Any]
    macro_f1: float
    micro_f1: float
    dim: int
    trials: list[dict[str, Any]] = field(default_factory=list)

    def estimator(self, **overrides: Any) -> FastRP:
        """A :class:`FastRP` with the chosen setting (``overrides`` win)."""
        return FastRP(**{"dim": self.dim, **self.params, **overrides})


def _draw(
    rng: np.random.Generator, orbit_choices: Sequence[str | None], with_features: bool, ratios: Sequence[float]
) -> dict[str, Any]:
    k = int(rng.integers(2, 5))
    weights = [round(float(10 ** rng.uniform(-1, 1)), 3) for _ in range(k)]
    if rng.random() < 0.3:
        weights[0] = 0.0
    params: dict[str, Any] = {"weights": weights, "beta": round(float(rng.uniform(-1, 0)), 3)}
    params["orbits"] = orbit_choices[int(rng.integers(len(orbit_choices)))]
    if with_features:
        params["feature_ratio"] = float(ratios[int(rng.integers(len(ratios)))])
        params["self_influence"] = round(float(rng.uniform(0, 3)), 3)
    return params


def tune_fastrp(
    graph: Any,
    labels: Any,
    *,
    dim: int = 256,
    search_dim: int = 64,
    n_trials: int = 20,
    n_final: int = 3,
    validation_fraction: float = 0.5,
    orbit_choices: Sequence[str | None] = DEFAULT_ORBIT_CHOICES,
    features: Any = None,
    feature_ratios: Sequence[float] = (0.25, 0.5, 0.75),
    n_nodes: int | None = None,
    random_state: int = 0,
    max_iter: int = 50,
    progress: bool = False,
) -> FastRPTuning:
    """Search FastRP's β, weights and orbit combination on a seeded validation split of ``labels``.

    Parameters
    ----------
    graph : int array of shape (m, 2) or scipy.sparse matrix of shape (n, n)
    labels : int array of shape (n,) (-1 = unlabelled) or 0/1 array (n, c) (multi-label)
    dim, search_dim : int
        Final and search dimensions.
    n_trials, n_final : int
        Settings tried at ``search_dim``; how many of the best are rerun at ``dim``.
    validation_fraction : float in (0, 1)
        Share of the labelled nodes held out for validation.
    orbit_choices : sequence of str or None
        Orbit combinations to try (None: the plain adjacency). ``[None]`` skips orbits.
    features : float array (n, f), optional
        Node features; then ``feature_ratio`` (from ``feature_ratios``) and ``self_influence`` are searched too.
    max_iter : int
        Iterations of the validation classifier (F1 settles within a few tens).

    Returns
    -------
    FastRPTuning
        ``params`` (FastRP keyword arguments), validation ``macro_f1`` / ``micro_f1`` at ``dim``, ``trials``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 30); edges = rng.integers(0, 30, (120, 2)) + 30 * rng.integers(0, 2, (120, 1))
    >>> t = tune_fastrp(edges, y, dim=16, search_dim=8, n_trials=3, n_final=1, orbit_choices=[None])
    >>> t.macro_f1 > 0.8
    True
    """
    dim = check_positive_int(dim, "dim", owner="tune_fastrp")
    search_dim = check_positive_int(search_dim, "search_dim", owner="tune_fastrp")
    n_trials = check_positive_int(n_trials, "n_trials", owner="tune_fastrp")
    n_final = min(check_positive_int(n_final, "n_final", owner="tune_fastrp"), n_trials)
    if not 0.0 < float(validation_fraction) < 1.0:
        raise ParameterError(
            f"The 'validation_fraction' parameter of tune_fastrp must be in (0, 1). Got {validation_fraction!r}."
        )
    choices = list(orbit_choices) or [None]
    for c in choices:
        if c is not None:
            parse_orbits(c)
    A = as_adjacency(graph, n_nodes=n_nodes, dtype=np.float64)
    y = check_node_labels(labels, A.shape[0])
    labelled = np.flatnonzero(y.any(axis=1) if y.ndim == 2 else y >= 0)
    n_val = int(round(float(validation_fraction) * len(labelled)))
    if len(labelled) < 4 or not 0 < n_val < len(labelled):
        raise ValidationError(f"tuning needs labelled nodes on both sides of the split; got {len(labelled)} labelled nodes")
    order = np.random.default_rng([random_state, 7]).permutation(labelled)
    val, train = order[:n_val], order[n_val:]

    adjacency: dict[str | None, Any] = {}

    def score(params: dict[str, Any], d: int) -> dict[str, Any]:
        t0 = time.perf_counter()
        orbits = params.get("orbits")
        if orbits not in adjacency:
            adjacency[orbits] = A if orbits is None else combine_orbits(A, orbits)
        est = FastRP(d, **{**params, "orbits": None}, random_state=random_state)
        X = est.fit_transform(adjacency[orbits], features=features if params.get("feature_ratio") else None)
        truth = y[val]
        pred = classify_nodes(X[train], y[train], X[val], n_true=truth.sum(axis=1) if y.ndim == 2 else None, max_iter=max_iter)
        return {
            "params": params,
            "dim": d,
            "macro_f1": macro_f1(truth, pred),
            "micro_f1": micro_f1(truth, pred),
            "seconds": time.perf_counter() - t0,
        }

    base = FastRP()
    first: dict[str, Any] = {"weights": list(base.weights), "beta": base.beta, "orbits": None}
    if features is not None:
        first.update(feature_ratio=0.5, self_influence=1.0)
    rng = np.random.default_rng(random_state)
    # two known-good starting points (plain sums of powers; the authors' best BlogCatalog setting)
    seeds = [{**first, "weights": [1.0, 1.0, 1.0], "beta": 0.0}, {**first, "weights": [0.0, 0.0, 1.0, 6.67], "beta": -0.64}]
    settings = ([first, *seeds] + [_draw(rng, choices, features is not None, feature_ratios) for _ in range(n_trials)])[:n_trials]
    trials: list[dict[str, Any]] = []
    with ProgressBar(progress, total=n_trials + n_final, description="tune FastRP") as bar:
        for params in settings:
            trials.append(score(params, search_dim))
            bar.update(advance=1)
        best = sorted(trials, key=lambda t: -t["macro_f1"])[:n_final]
        finals = []
        for t in best:
            finals.append(score(t["params"], dim))
            bar.update(advance=1)
    trials.extend(finals)
    win = max(finals, key=lambda t: t["macro_f1"])
    return FastRPTuning(params=dict(win["params"]), macro_f1=win["macro_f1"], micro_f1=win["micro_f1"], dim=dim, trials=trials)
