"""Releases stream their rows: a float16 memmap is read in blocks (never converted whole), gives the same
release as the rows in memory, and a bad row far down the file is named and spends no budget."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from lowdim.exceptions import ValidationError
from lowdim.private import FUNCTIONS, KERNELS, PrivacyBudget, PrivateClassifier, PrivateSummary, _summary


def _rows(n: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3)) @ rng.standard_normal((3, d)) + 0.5 * rng.standard_normal((n, d))
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float16)


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> tuple[np.ndarray, Path]:
    X = _rows(5000, 24, 0)
    path = tmp_path_factory.mktemp("stream") / "X.npy"
    np.save(path, X)
    return X, path


@pytest.mark.filterwarnings("ignore::lowdim.private.BandwidthWarning")
@pytest.mark.parametrize("f", FUNCTIONS)
def test_a_memmap_in_blocks_gives_the_release_of_the_rows_in_memory(f: str, stored, monkeypatch) -> None:
    X, path = stored
    kw = {"bandwidth": 8.0 if f == "laplacian" else 1.0, "n_components": 64} if f in KERNELS else {"p": 0.5} if f == "lp" else {}
    make = lambda: PrivateSummary(f, epsilon=1.0, bound=1.0, random_state=0, noise_seed=3, **kw)  # noqa: E731
    whole = make().fit(X.astype(np.float32))
    monkeypatch.setattr(_summary, "_BLOCK_VALUES", 24 * 700)  # blocks of 700 rows: 8 of them, the last one short
    streamed = make().fit(np.load(path, mmap_mode="r"))
    Q = X[:5].astype(np.float32)
    np.testing.assert_allclose(streamed.query(Q).sums, whole.query(Q).sums, rtol=1e-6)  # float32 features, other block sums
    assert streamed.count_ == pytest.approx(whole.count_)


def test_classifier_streams_with_its_labels(stored, monkeypatch) -> None:
    X, path = stored
    y = (X[:, 0] > 0).astype(int) + 2 * (X[:, 1] > 0)
    make = lambda: PrivateClassifier("l1", epsilon=1.0, bound=1.0, score="mean", noise_seed=1)  # noqa: E731
    whole = make().fit(X.astype(np.float32), y)
    monkeypatch.setattr(_summary, "_BLOCK_VALUES", 24 * 999)
    streamed = make().fit(np.load(path, mmap_mode="r"), y)
    np.testing.assert_allclose(streamed.decision_function(X[:50]), whole.decision_function(X[:50]), rtol=1e-9)


@pytest.mark.parametrize("f", ["linear", "l1", "l2", "gaussian"])
def test_a_large_float16_file_is_never_converted_whole(tmp_path: Path, monkeypatch, f: str) -> None:
    X = _rows(120_000, 64, 1)  # 15 MiB as float16, 31 MiB as float32
    np.save(tmp_path / "big.npy", X)
    mm = np.load(tmp_path / "big.npy", mmap_mode="r")
    monkeypatch.setattr(_summary, "_BLOCK_VALUES", 64 * 2_000)  # blocks of 2,000 rows: a block needs ~10x its float32 size
    kw = {"bandwidth": 1.0, "n_components": 256} if f == "gaussian" else {}
    tracemalloc.start()
    PrivateSummary(f, epsilon=1.0, bound=1.0, **kw).fit(mm)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 0.5 * X.size * 4, f"peak {peak / 2**20:.1f} MiB"  # a float32 copy of the whole file: 31 MiB


def test_a_bad_row_far_down_is_named_and_spends_no_budget(tmp_path: Path, monkeypatch) -> None:
    X = _rows(3000, 8, 2)
    X[2718, 5] = np.inf
    np.save(tmp_path / "bad.npy", X)
    monkeypatch.setattr(_summary, "_BLOCK_VALUES", 8 * 500)
    budget = PrivacyBudget(1.0)
    with pytest.raises(ValidationError, match=r"NaN or infinity in row\(s\) 2718 \(first bad block: rows 2500-2999\)"):
        PrivateSummary("l1", epsilon=1.0, bound=1.0).fit(np.load(tmp_path / "bad.npy", mmap_mode="r"), budget=budget)
    assert budget.spent == (0.0, 0.0)
    PrivateSummary("l1", epsilon=1.0, bound=1.0).fit(X[:2000], budget=budget)  # the budget is still whole
    assert budget.spent == (1.0, 0.0)
