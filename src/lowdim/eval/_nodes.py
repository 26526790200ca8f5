"""Node classification, the DeepWalk protocol: how much of the node labels an embedding carries.

For each train fraction and each seeded shuffle, a one-vs-rest logistic regression (scikit-learn)
is fitted on the first ``fraction`` of the shuffled labelled nodes and scored on the rest with
Micro- and Macro-F1. Single-label data predicts the class with the highest score; multi-label
data (an (n, c) indicator) predicts, for each test node, as many labels as it truly has (the
top-k of the one-vs-rest probabilities, as DeepWalk's ``TopKRanker`` does).

F1 conventions (as scikit-learn's ``f1_score`` with ``labels=`` the classes present): Macro-F1
averages over the classes that occur in the truth or the predictions; a class's F1 is
``2 tp / (2 tp + fp + fn)``.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..exceptions import DimensionError, DTypeError, ParameterError, ValidationError
from ..validation import check_embeddings, check_positive_int

__all__ = [
    "NodeClassificationResult",
    "node_classification",
    "classify_nodes",
    "micro_f1",
    "macro_f1",
    "check_node_labels",
]


@dataclass(frozen=True)
class NodeClassificationResult:
    """Scores at one train fraction, mean and std over the shuffles."""

    train_fraction: float
    micro_f1: float
    macro_f1: float
    micro_f1_std: float
    macro_f1_std: float
    n_train: int
    n_test: int
    n_shuffles: int
    seconds: float

    def as_dict(self) -> dict[str, float | int]:
        """The fields as a plain dict (for JSON)."""
        return dict(self.__dict__)


def check_node_labels(labels: Any, n: int | None = None) -> np.ndarray:
    """Node labels as int64 (n,) (single label, -1 = unlabelled) or bool (n, c) (multi-label indicator).

    >>> check_node_labels([0, 2, -1]).tolist()
    [0, 2, -1]
    """
    arr = np.asarray(labels)
    if arr.dtype == object or arr.dtype.kind not in "iubf":
        raise DTypeError(f"labels has dtype {arr.dtype}; expected integer class ids (n,) or a 0/1 indicator (n, c)")
    if arr.ndim not in (1, 2):
        raise DimensionError(f"labels has shape {arr.shape}; expected class ids (n,) or a 0/1 indicator (n, c)")
    if n is not None and arr.shape[0] != n:
        raise DimensionError(f"labels has {arr.shape[0]} rows, but the embedding has {n} nodes")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise DTypeError("labels has non-integer values; expected integer class ids or a 0/1 indicator")
    if arr.ndim == 2:
        if not np.isin(arr, (0, 1)).all():
            raise ValidationError("a 2-D labels array must be a 0/1 indicator (n, c)")
        return arr.astype(bool)
    out = arr.astype(np.int64)
    if out.size and out.min() < -1:
        raise ValidationError(f"labels has class id {out.min()}; class ids are >= 0 (-1 marks an unlabelled node)")
    return out


def _indicator(y: np.ndarray, n_classes: int) -> np.ndarray:
    if y.ndim == 2:
        return y.astype(bool)
    out = np.zeros((len(y), n_classes), dtype=bool)
    ok = y >= 0
    out[np.flatnonzero(ok), y[ok]] = True
    return out


def _pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if t.shape != p.shape:
        raise DimensionError(f"y_true has shape {t.shape} but y_pred has shape {p.shape}")
    if t.ndim == 1:
        c = int(max(t.max(initial=-1), p.max(initial=-1))) + 1
        return _indicator(t.astype(np.int64), c), _indicator(p.astype(np.int64), c)
    return t.astype(bool), p.astype(bool)


def micro_f1(y_true: Any, y_pred: Any) -> float:
    """Micro-F1 of class ids (n,) or indicators (n, c): ``2 TP / (2 TP + FP + FN)`` over all classes.

    >>> micro_f1([0, 1, 1, 2], [0, 1, 2, 2])
    0.75
    """
    t, p = _pair(y_true, y_pred)
    tp = np.sum(t & p)
    denom = 2 * tp + np.sum(~t & p) + np.sum(t & ~p)
    return float(2 * tp / denom) if denom else 0.0


def macro_f1(y_true: Any, y_pred: Any) -> float:
    """Macro-F1 of class ids (n,) or indicators (n, c), over the classes present in truth or predictions.

    >>> round(macro_f1([0, 1, 1, 2], [0, 1, 2, 2]), 4)
    0.7778
    """
    t, p = _pair(y_true, y_pred)
    tp = np.sum(t & p, axis=0)
    fp = np.sum(~t & p, axis=0)
    fn = np.sum(t & ~p, axis=0)
    present = (tp + fp + fn) > 0
    if not present.any():
        return 0.0
    return float(np.mean(2 * tp[present] / (2 * tp[present] + fp[present] + fn[present])))


@functools.lru_cache(maxsize=1)
def _blas_controller() -> Any:
    """The BLAS libraries' thread controls, found once (finding them reads /proc: milliseconds)."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="blas")


class _JointOneVsRest:
    """One-vs-rest logistic regression, all classes in one L-BFGS run over matrix products.

    The c binary problems share nothing, so minimising the sum of their objectives gives each
    one's own optimum (scikit-learn's ``LogisticRegression`` objective: ``C · Σ log-loss +
    ||w||² / 2``, intercept not penalised); solving them together turns c matrix-vector products
    per iteration into one matrix-matrix product, many times faster for tens of classes.
    """

    def __init__(self, C: float, max_iter: int) -> None:
        self.C, self.max_iter = C, max_iter

    def fit(self, X: np.ndarray, Y: np.ndarray) -> _JointOneVsRest:
        from scipy.optimize import minimize
        from scipy.special import expit

        X32 = np.ascontiguousarray(X, dtype=np.float32)
        Y32 = np.asarray(Y, dtype=np.float32)
        n, d = X32.shape
        c = Y32.shape[1]
        reg = 1.0 / (self.C * n)

        # L-BFGS's own vector work is tiny: BLAS threads only make it wait (badly so on a busy
        # machine), so it runs on one thread and only large matrix products get them back.
        ctl = _blas_controller()
        threads = max([lib.num_threads for lib in ctl.lib_controllers] or [1])
        big = n * d * c >= 4_000_000

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            W = theta[: d * c].reshape(d, c)
            with ctl.limit(limits=threads if big else 1):
                Z = X32 @ W.astype(np.float32) + theta[d * c :].astype(np.float32)
                G = expit(Z) - Y32
                gW = (X32.T @ G).astype(np.float64) / n + reg * W
            loss = float(np.sum(np.logaddexp(0, Z) - Y32 * Z, dtype=np.float64)) / n
            gb = G.sum(axis=0, dtype=np.float64) / n
            return loss + 0.5 * reg * float(np.dot(theta[: d * c], theta[: d * c])), np.concatenate([gW.ravel(), gb])

        with ctl.limit(limits=1):
            res = minimize(
                objective, np.zeros(d * c + c), jac=True, method="L-BFGS-B", options={"maxiter": self.max_iter, "gtol": 1e-6}
            )
        self.coef_ = res.x[: d * c].reshape(d, c).astype(np.float32)
        self.intercept_ = res.x[d * c :].astype(np.float32)
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=np.float32) @ self.coef_ + self.intercept_


def _scores(X_train: np.ndarray, Y_train: np.ndarray, X_test: np.ndarray, C: float, max_iter: int, solver: str) -> np.ndarray:
    """One-vs-rest decision scores (n_test, c) of a logistic regression fitted on (X_train, Y_train 0/1)."""
    if solver == "joint":
        return _JointOneVsRest(C, max_iter).fit(X_train, Y_train).decision_function(X_test)
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    clf = OneVsRestClassifier(LogisticRegression(C=C, max_iter=max_iter))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, Y_train.astype(np.int64))
    return np.asarray(clf.decision_function(X_test)).reshape(len(X_test), -1)


def classify_nodes(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    *,
    n_true: np.ndarray | None = None,
    C: float = 1.0,
    max_iter: int = 100,
    solver: str = "joint",
) -> np.ndarray:
    """Fit one-vs-rest logistic regression on the train nodes and predict the test nodes.

    Parameters
    ----------
    X_train : float array (n_train, d)
    y_train : int (n_train,) class ids, or bool (n_train, c) indicator
    X_test : float array (n_test, d)
    n_true : int array (n_test,), optional
        Multi-label only: how many labels each test node has (default 1); its top-k are predicted.
    C, max_iter : logistic-regression settings (scikit-learn's meaning).
    solver : {"joint", "sklearn"}
        ``"joint"`` solves all one-vs-rest problems in one L-BFGS run (fast, same optimum);
        ``"sklearn"`` fits ``OneVsRestClassifier(LogisticRegression)`` (slow with many classes).

    Returns
    -------
    int64 (n_test,) predicted class ids, or bool (n_test, c) predicted indicator

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((40, 3)); y = (X[:, 0] > 0).astype(int)
    >>> bool((classify_nodes(X[:30], y[:30], X[30:]) == y[30:]).mean() > 0.8)
    True
    """
    if solver not in ("joint", "sklearn"):
        raise ParameterError(f"The 'solver' parameter must be one of 'joint', 'sklearn'. Got {solver!r}.")
    multi = y_train.ndim == 2
    Y = y_train.astype(bool) if multi else _indicator(y_train, int(y_train.max()) + 1)
    keep = np.flatnonzero(Y.any(axis=0))  # a class with no train node cannot be learned: never predicted
    if len(keep) == 1:
        scores = np.zeros((len(X_test), 1), dtype=np.float32)
    else:
        scores = _scores(X_train, Y[:, keep], X_test, C, max_iter, solver)
    if not multi:
        return keep[np.argmax(scores, axis=1)].astype(np.int64)
    k = np.ones(len(X_test), dtype=np.int64) if n_true is None else np.asarray(n_true, dtype=np.int64)
    order = np.argsort(-scores, axis=1, kind="stable")
    top = np.zeros(scores.shape, dtype=bool)
    np.put_along_axis(top, order, np.arange(scores.shape[1])[None, :] < k[:, None], axis=1)
    pred = np.zeros((len(X_test), Y.shape[1]), dtype=bool)
    pred[:, keep] = top
    return pred


def node_classification(
    X: Any,
    labels: Any,
    *,
    train_fractions: Sequence[float] = (0.1, 0.5, 0.9),
    n_shuffles: int = 5,
    random_state: int = 0,
    C: float = 1.0,
    max_iter: int = 100,
    solver: str = "joint",
) -> list[NodeClassificationResult]:
    """DeepWalk's node-classification protocol: seeded shuffles, train fractions, Micro/Macro-F1.

    Parameters
    ----------
    X : float array of shape (n, d)
        One embedding per node.
    labels : int array (n,) or 0/1 array (n, c)
        Class id per node (-1: unlabelled, left out), or a multi-label indicator (nodes with no
        label are left out; each test node is predicted its true number of labels).
    train_fractions : sequence of float in (0, 1)
    n_shuffles : int
        Seeded shuffles per fraction (shuffle ``s`` uses seed ``[random_state, s]``; the same
        shuffles for every fraction and every embedding, so methods are compared on equal splits).
    C, max_iter, solver : logistic-regression settings (see :func:`classify_nodes`).

    Returns
    -------
    list of NodeClassificationResult, one per train fraction

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, 300); X = np.eye(3)[y] + 0.3 * rng.standard_normal((300, 3))
    >>> r = node_classification(X, y, train_fractions=[0.5], n_shuffles=2)
    >>> r[0].micro_f1 > 0.9
    True
    """
    E = check_embeddings(X, name="X")
    y = check_node_labels(labels, E.shape[0])
    n_shuffles = check_positive_int(n_shuffles, "n_shuffles", owner="node_classification")
    fractions = [float(f) for f in train_fractions]
    if not fractions or any(not 0.0 < f < 1.0 for f in fractions):
        raise ParameterError(f"train_fractions must be numbers in (0, 1). Got {list(train_fractions)!r}.")
    labelled = np.flatnonzero(y.any(axis=1) if y.ndim == 2 else y >= 0)
    if len(labelled) < 2:
        raise ValidationError(f"node classification needs at least 2 labelled nodes; got {len(labelled)}")
    results = []
    for frac in fractions:
        n_train = int(round(frac * len(labelled)))
        if not 0 < n_train < len(labelled):
            raise ParameterError(f"train fraction {frac} leaves no train or no test node among {len(labelled)} labelled nodes")
        micro, macro = [], []
        t0 = time.perf_counter()
        for s in range(n_shuffles):
            order = np.random.default_rng([random_state, s]).permutation(labelled)
            tr, te = order[:n_train], order[n_train:]
            if y.ndim == 1:
                pred = classify_nodes(E[tr], y[tr], E[te], C=C, max_iter=max_iter, solver=solver)
                c = int(y.max()) + 1
                truth, guess = _indicator(y[te], c), _indicator(pred, c)
            else:
                truth = y[te]
                guess = classify_nodes(E[tr], y[tr], E[te], n_true=truth.sum(axis=1), C=C, max_iter=max_iter, solver=solver)
            micro.append(micro_f1(truth, guess))
            macro.append(macro_f1(truth, guess))
        results.append(
            NodeClassificationResult(
                train_fraction=frac,
                micro_f1=float(np.mean(micro)),
                macro_f1=float(np.mean(macro)),
                micro_f1_std=float(np.std(micro)),
                macro_f1_std=float(np.std(macro)),
                n_train=n_train,
                n_test=len(labelled) - n_train,
                n_shuffles=n_shuffles,
                seconds=time.perf_counter() - t0,
            )
        )
    return results
