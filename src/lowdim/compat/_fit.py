"""``fit_map``: fit every kind of query map on paired embeddings, measure each on held-out pairs, keep the best."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..arrays import normalize_rows
from ..exceptions import ParameterError, ValidationError
from ..validation import check_embeddings
from ._kinds import FITTERS, KINDS, Params, apply_params, fit_spread
from ._quality import KindQuality, measure, relevant_in_top10, selection_score
from ._querymap import QueryMap

__all__ = ["fit_map", "MAP_KINDS"]

#: every kind ``fit_map`` accepts, ``"auto"`` first
MAP_KINDS = ("auto", *KINDS)
_MIN_PAIRS = 20
#: held-out pairs beyond this are not used for measuring (a (h, h) similarity matrix per score)
_MAX_HELDOUT = 4000


def _check_kind(kind: Any) -> list[str]:
    kinds = [kind] if isinstance(kind, str) else list(kind) if isinstance(kind, (list, tuple)) else [kind]
    bad = [k for k in kinds if k not in MAP_KINDS]
    if bad or not kinds:
        raise ParameterError(
            f"The 'kind' parameter of fit_map must be one of {', '.join(map(repr, MAP_KINDS))} (or a list of them). Got {kind!r}."
        )
    return list(KINDS) if "auto" in kinds else list(dict.fromkeys(kinds))


def fit_map(
    new: Any,
    old: Any,
    kind: str | Sequence[str] = "auto",
    *,
    holdout: float = 0.2,
    seed: int = 0,
    models: tuple[str | None, str | None] = (None, None),
    fit_ids: Any = None,
    reference: Any = None,
    validation: tuple[Any, Any, Any] | None = None,
) -> QueryMap:
    """Fit a map from a new model's vectors to an old model's on paired rows, chosen by held-out quality.

    Parameters
    ----------
    new : array-like of shape (n, d_new)
        New-model embeddings; row ``i`` embeds the same text as ``old[i]``.
    old : array-like of shape (n, d_old)
        Old-model embeddings (what the index holds).
    kind : str or sequence of str
        ``"auto"`` (try every kind, keep the best), one of ``procrustes``, ``ridge``, ``lowrank``,
        ``mlp``, ``relative``, or a list of them (the best of those is kept).
    holdout : float
        Fraction of pairs held out (seeded) to choose hyper-parameters and kinds and to measure
        quality; ``0 < holdout < 1``. The map is fitted on the other pairs, so its report is the
        quality of exactly the map returned.
    seed : int
        Seeds the split, anchors and MLP; the same inputs and seed give the same map.
    models : (str or None, str or None)
        Names of the new and old models, stored in the map's header.
    fit_ids : array-like of int, shape (n,), optional
        Ids of the paired items (stored, for provenance).
    reference : array-like of shape (m, d_old), optional
        Old-model vectors searched when measuring neighbour agreement, e.g. a few thousand rows
        of the old index; by default the held-out old vectors themselves.
    validation : (queries, relevant, index), optional
        Judged queries to choose by: ``queries`` (v, d_new) new-model vectors, ``relevant`` (v,)
        int, the row of ``index`` (m, d_old, old-model vectors, e.g. the old collection's) that
        each query should find. Hyper-parameters and kinds are then chosen by relevant-in-top-10
        of the mapped queries over ``index`` instead of held-out neighbour agreement, which prefers
        maps that imitate the old model's neighbours over maps that keep the new model's better
        geometry. Keep these queries apart from any you evaluate on.

    Returns
    -------
    QueryMap
        ``.report`` holds every tried kind's held-out :class:`KindQuality`.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> new = rng.standard_normal((300, 16)).astype(np.float32)
    >>> old = new @ rng.standard_normal((16, 12)).astype(np.float32) + 1.0
    >>> fit_map(new, old, kind=["procrustes", "ridge"]).kind
    'ridge'
    """
    kinds = _check_kind(kind)
    new_arr = check_embeddings(new, name="new")
    old_arr = check_embeddings(old, name="old")
    n = len(new_arr)
    if len(old_arr) != n:
        raise ValidationError(
            f"new has {n} rows but old has {len(old_arr)}; fit_map needs paired rows (row i of both embeds the same text)"
        )
    if isinstance(holdout, bool) or not isinstance(holdout, (int, float)) or not 0.0 < holdout < 1.0:
        raise ParameterError(f"The 'holdout' parameter of fit_map must be a number between 0 and 1 (exclusive). Got {holdout!r}.")
    n_hold = int(round(n * holdout))
    if n < _MIN_PAIRS or n_hold < 10 or n - n_hold < 10:
        raise ValidationError(
            f"fit_map needs at least {_MIN_PAIRS} pairs with at least 10 on each side of the holdout split; "
            f"got {n} pairs and holdout={holdout}"
        )
    ids = None
    if fit_ids is not None:
        ids = np.asarray(fit_ids)
        if ids.shape != (n,) or ids.dtype.kind not in "iu":
            raise ValidationError(f"fit_ids must be {n} integers (one per pair). Got shape {ids.shape}, dtype {ids.dtype}.")
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    held, fit = np.sort(order[:n_hold]), np.sort(order[n_hold:])
    held_eval = held if len(held) <= _MAX_HELDOUT else np.sort(rng.choice(held, _MAX_HELDOUT, replace=False))
    X, Y, Xh, Yh = new_arr[fit], old_arr[fit], new_arr[held_eval], old_arr[held_eval]
    ref = (
        None
        if reference is None
        else check_embeddings(reference, n_features=old_arr.shape[1], name="reference", what="the old space")
    )
    y_mean = Y.mean(axis=0, dtype=np.float64)
    val = None if validation is None else _check_validation(validation, new_arr.shape[1], old_arr.shape[1])

    def score(params: Params) -> float:
        agreement = selection_score(*measure(apply_params(params, Xh), Yh, ref))
        if val is None:
            return agreement
        return relevant_in_top10(apply_params(params, val[0]), val[1], val[2]) + 1e-3 * agreement

    fitted: dict[str, Params] = {}
    report: dict[str, KindQuality] = {}
    for name in kinds:
        t0 = time.perf_counter()
        params, setting = FITTERS[name](X, Y, score, seed)
        params, spread = fit_spread(params, y_mean, score)
        setting = f"{setting}, spread={spread:g}"
        seconds = time.perf_counter() - t0
        fitted[name] = params
        hit = None if val is None else relevant_in_top10(apply_params(params, val[0]), val[1], val[2])
        quality = measure(apply_params(params, Xh), Yh, ref)
        report[name] = KindQuality(name, *quality, fit_seconds=seconds, setting=setting, validation=hit)

    def rank(k: str) -> tuple[float, float, int]:
        q = report[k]
        return (q.validation or 0.0, selection_score(q.cosine, q.top1, q.top10), -kinds.index(k))

    best = max(kinds, key=rank)
    unit = bool(np.allclose(np.linalg.norm(Y, axis=1), 1.0, atol=1e-2))
    return QueryMap(
        best,
        fitted[best],
        report=report,
        n_fit=len(fit),
        normalize_output=unit,
        models=models,
        fit_ids=None if ids is None else ids[fit].astype(np.int64),
    )


def _check_validation(validation: Any, d_new: int, d_old: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(queries, relevant, normalised index)`` of fit_map's ``validation``, each checked."""
    if not isinstance(validation, (tuple, list)) or len(validation) != 3:
        raise ParameterError(
            f"The 'validation' parameter of fit_map must be a tuple (queries, relevant, index). Got {type(validation).__name__}."
        )
    queries = check_embeddings(validation[0], n_features=d_new, name="validation queries", what="the new space")
    index = check_embeddings(validation[2], n_features=d_old, name="validation index", what="the old space")
    relevant = np.asarray(validation[1])
    if relevant.shape != (len(queries),) or relevant.dtype.kind not in "iu":
        raise ValidationError(
            f"validation relevant must be {len(queries)} integers (one per query). Got shape {relevant.shape}, dtype {relevant.dtype}."
        )
    if len(relevant) and (relevant.min() < 0 or relevant.max() >= len(index)):
        raise ValidationError(f"validation relevant holds rows outside the index (0..{len(index) - 1})")
    return queries, relevant.astype(np.int64), normalize_rows(index)
