"""``PrivateClassifier``: per-class summaries under parallel composition, sklearn-style prediction, files."""

from __future__ import annotations

import numpy as np
import pytest

from lowdim.exceptions import DimensionError, NotFittedError, ParameterError, ValidationError
from lowdim.private import PrivateClassifier


@pytest.fixture(scope="module")
def blobs():
    """4 well separated classes of unit rows in 16-d (train 2,000, test 400), one of them rare."""
    rng = np.random.default_rng(0)
    centres = np.eye(4, 16, dtype=np.float32) * 2
    y = rng.choice(4, 2400, p=[0.4, 0.3, 0.25, 0.05])
    X = centres[y] + 0.6 * rng.standard_normal((2400, 16)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X[:2000], y[:2000], X[2000:], y[2000:]


@pytest.mark.parametrize(
    "f, kw",
    [
        ("linear", {}),
        ("linear", {"score": "mean"}),
        ("gaussian", {"bandwidth": 1.0, "n_components": 256}),
        ("sqeuclidean", {}),
        ("l2", {"depth": 6}),
        ("l1", {"depth": 6}),
    ],
)
def test_predicts_well_separated_classes(f: str, kw: dict, blobs) -> None:
    X, y, Xt, yt = blobs
    clf = PrivateClassifier(f, epsilon=1.0, delta=1e-5, bound=1.0, random_state=0, noise_seed=0, **kw).fit(X, y)
    assert list(clf.classes_) == [0, 1, 2, 3]
    assert np.mean(clf.predict(Xt) == yt) > 0.85
    scores, proba = clf.decision_function(Xt), clf.predict_proba(Xt)
    assert scores.shape == proba.shape == (len(Xt), 4) and scores.dtype == np.float64
    np.testing.assert_allclose(proba.sum(1), 1.0)
    np.testing.assert_array_equal(np.argmax(proba, 1), np.argmax(scores, 1))


def test_the_record_says_parallel_composition(blobs) -> None:
    X, y, _, _ = blobs
    declared = PrivateClassifier(epsilon=1.0, bound=1.0, classes=[0, 1, 2, 3, 4]).fit(X, y)
    rec = declared.record_
    assert rec.total == (1.0, 0.0) and rec.parts == 5
    assert "parallel composition over 5 disjoint classes" in rec.composition and "declared public" in rec.composition
    assert len(declared.released_) == 5  # the empty class 4 gets its noisy summary too: skipping it would tell
    assert np.all(np.isnan(declared.counts_))  # cosine scores release no counts
    derived = PrivateClassifier(epsilon=1.0, bound=1.0, score="mean", noise_seed=0).fit(X, y)
    assert "taken from y" in derived.record_.composition
    assert derived.counts_ == pytest.approx(np.bincount(y), abs=60)


def test_string_labels_and_bad_labels(blobs) -> None:
    X, y, Xt, _ = blobs
    names = np.array(["noun", "verb", "adj", "adv"])[y]
    clf = PrivateClassifier(epsilon=1.0, bound=1.0, noise_seed=0).fit(X, names)
    assert set(clf.predict(Xt[:10])) <= set(names)
    with pytest.raises(ValidationError, match=r"y\[\d+\] is 'noun', which is not one of the declared classes"):
        PrivateClassifier(epsilon=1.0, bound=1.0, classes=["verb"]).fit(X, names)
    with pytest.raises(DimensionError, match="one label per row"):
        PrivateClassifier(epsilon=1.0, bound=1.0).fit(X, y[:10])
    with pytest.raises(ParameterError, match="distinct labels"):
        PrivateClassifier(epsilon=1.0, bound=1.0, classes=[1, 1]).fit(X, y)
    with pytest.raises(ParameterError, match="score='cosine' needs a summary that is a vector sum"):
        PrivateClassifier("l1", epsilon=1.0, bound=1.0, score="cosine").fit(X, y)
    with pytest.raises(ParameterError, match="'temperature'"):
        PrivateClassifier(epsilon=1.0, bound=1.0, temperature=0).fit(X, y)
    with pytest.raises(ParameterError, match="'epsilon' parameter of PrivateClassifier"):
        PrivateClassifier(epsilon=-1, bound=1.0).fit(X, y)
    with pytest.raises(NotFittedError):
        PrivateClassifier(epsilon=1.0, bound=1.0).predict(Xt)
    with pytest.raises(DimensionError, match="this classifier expects 16"):
        clf.predict(Xt[:, :8])


@pytest.mark.parametrize("f, kw", [("gaussian", {"bandwidth": 1.0, "n_components": 64}), ("l1", {"depth": 4}), ("linear", {})])
def test_save_load_predicts_the_same(f: str, kw: dict, blobs, tmp_path) -> None:
    X, y, Xt, _ = blobs
    names = np.array(["a", "b", "c", "d"])[y]
    clf = PrivateClassifier(f, epsilon=1.0, bound=1.0, noise_seed=0, **kw).fit(X, names)
    loaded = PrivateClassifier.load(clf.save(tmp_path / "clf.npz"))
    np.testing.assert_array_equal(loaded.predict(Xt), clf.predict(Xt))
    np.testing.assert_allclose(loaded.predict_proba(Xt), clf.predict_proba(Xt))
    assert loaded.record_ == clf.record_


@pytest.mark.parametrize("f", ["linear", "sqeuclidean", "l2", "l1", "lp"])
def test_an_empty_declared_class_takes_no_predictions_under_mean_scores(f: str) -> None:
    """A declared class with no rows releases noise only: its noisy size must not make it look closest."""
    rng = np.random.default_rng(0)
    centres = np.eye(4, 16, dtype=np.float32)
    y = rng.integers(0, 4, 4000)
    X = centres[y] + 0.3 * rng.standard_normal((4000, 16)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    for seed in range(3):
        clf = PrivateClassifier(
            f,
            epsilon=1.0,
            delta=1e-5,
            bound=1.0,
            p=1.5 if f == "lp" else None,
            score="mean",
            classes=[0, 1, 2, 3, 4],
            noise_seed=seed,
        ).fit(X, y)
        pred = clf.predict(X)
        assert np.mean(pred == 4) < 0.02 and np.mean(pred == y) > (0.8 if f == "lp" else 0.9), (f, seed)  # lp: 2^3 nodes a level
        assert np.allclose(clf.predict_proba(X[:5]).sum(axis=1), 1.0)
