"""Node classification: F1 metrics against scikit-learn, the joint one-vs-rest solver against
scikit-learn's OneVsRestClassifier, and the DeepWalk protocol on seeded synthetic labels."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from lowdim.eval import check_node_labels, classify_nodes, macro_f1, micro_f1, node_classification
from lowdim.exceptions import DimensionError, DTypeError, ParameterError, ValidationError


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_f1_equals_sklearn_single_and_multi_label(seed):
    rng = np.random.default_rng(seed)
    t, p = rng.integers(0, 6, 200), rng.integers(0, 7, 200)
    present = np.union1d(t, p)
    assert micro_f1(t, p) == pytest.approx(f1_score(t, p, average="micro"))
    assert macro_f1(t, p) == pytest.approx(f1_score(t, p, average="macro", labels=present, zero_division=0))
    T, P = rng.random((150, 8)) < 0.2, rng.random((150, 8)) < 0.25
    T[:, 7] = P[:, 7] = False  # a class absent from both is left out, as with labels=present
    present = np.flatnonzero(T.any(0) | P.any(0))
    assert micro_f1(T, P) == pytest.approx(f1_score(T, P, average="micro"))
    assert macro_f1(T, P) == pytest.approx(f1_score(T, P, average="macro", labels=present, zero_division=0))


def blobs(n=600, c=5, d=12, noise=1.0, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    centres = rng.standard_normal((c, d)) * 2
    return (centres[y] + noise * rng.standard_normal((n, d))).astype(np.float32), y


def test_joint_solver_agrees_with_sklearn_one_vs_rest():
    X, y = blobs(noise=2.0)
    a = classify_nodes(X[:300], y[:300], X[300:], solver="joint", max_iter=500)
    b = classify_nodes(X[:300], y[:300], X[300:], solver="sklearn", max_iter=500)
    assert (a == b).mean() >= 0.98
    assert abs(macro_f1(y[300:], a) - macro_f1(y[300:], b)) < 0.02


def test_protocol_scores_rise_with_signal_and_are_seeded():
    X, y = blobs(noise=1.0)
    res = node_classification(X, y, train_fractions=(0.1, 0.5), n_shuffles=2)
    assert [r.train_fraction for r in res] == [0.1, 0.5]
    assert res[1].n_train == 300 and res[1].n_test == 300
    assert all(r.micro_f1 > 0.85 and r.macro_f1 > 0.85 for r in res)
    again = node_classification(X, y, train_fractions=(0.1, 0.5), n_shuffles=2)
    assert [r.macro_f1 for r in res] == [r.macro_f1 for r in again]
    noise = np.random.default_rng(9).standard_normal(X.shape).astype(np.float32)
    assert node_classification(noise, y, train_fractions=(0.5,), n_shuffles=2)[0].micro_f1 < 0.4


def test_unlabelled_nodes_are_left_out():
    X, y = blobs()
    y = y.copy()
    y[::3] = -1
    r = node_classification(X, y, train_fractions=(0.5,), n_shuffles=1)[0]
    assert r.n_train + r.n_test == int((y >= 0).sum())


def test_multi_label_predicts_the_true_label_count():
    rng = np.random.default_rng(0)
    n, c = 500, 6
    Y = rng.random((n, c)) < 0.3
    Y[~Y.any(axis=1), 0] = True
    X = (Y * 3.0 + rng.standard_normal((n, c))).astype(np.float32)
    pred = classify_nodes(X[:300], Y[:300], X[300:], n_true=Y[300:].sum(axis=1))
    assert pred.shape == (200, c) and np.array_equal(pred.sum(axis=1), Y[300:].sum(axis=1))
    r = node_classification(X, Y.astype(int), train_fractions=(0.5,), n_shuffles=2)[0]
    assert r.micro_f1 > 0.85


def test_bad_input():
    X, y = blobs(n=50)
    with pytest.raises(DimensionError, match="labels has 49 rows"):
        node_classification(X, y[:49])
    with pytest.raises(ParameterError, match="train_fractions"):
        node_classification(X, y, train_fractions=(0.0,))
    with pytest.raises(ValidationError, match="at least 2 labelled"):
        node_classification(X, np.full(50, -1))
    with pytest.raises(DTypeError, match="non-integer"):
        check_node_labels([0.5, 1.0])
    with pytest.raises(ValidationError, match="0/1 indicator"):
        check_node_labels([[0, 2]])
    with pytest.raises(ParameterError, match="'solver'"):
        classify_nodes(X, y, X, solver="svm")
