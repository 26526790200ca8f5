"""Shared fixtures and seeded synthetic data for the diagnose tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

# The repository's parent holds shared/ (CI clones the repo with shared/ beside it).
DATA = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data").resolve()
WORDNET = DATA / "wordnet-minilm"


def linear_manifold(n: int, dim: int, *, ambient: int = 64, seed: int = 0) -> np.ndarray:
    """Gaussian latent of ``dim`` dims on a random ``dim``-flat in ``ambient`` dims, float64 (n, ambient)."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.standard_normal((ambient, dim)))[0]
    return rng.standard_normal((n, dim)) @ basis.T


def swiss_roll(n: int, *, ambient: int = 64, seed: int = 0) -> np.ndarray:
    """A 2-D swiss roll (sklearn's parametrisation) rotated into ``ambient`` dims, float64 (n, ambient)."""
    rng = np.random.default_rng(seed)
    t = 1.5 * np.pi * (1 + 2 * rng.random(n))
    h = 21 * rng.random(n)
    roll = np.column_stack([t * np.cos(t), h, t * np.sin(t)])
    return roll @ np.linalg.qr(rng.standard_normal((ambient, 3)))[0].T


def unit_rows(X: np.ndarray) -> np.ndarray:
    return X / np.linalg.norm(X, axis=1, keepdims=True)


class Synthetic:
    """Seeded generators of data with known intrinsic dimension (a fixture, so no test imports conftest)."""

    linear_manifold = staticmethod(linear_manifold)
    swiss_roll = staticmethod(swiss_roll)
    unit_rows = staticmethod(unit_rows)


@pytest.fixture(scope="session")
def synth() -> type[Synthetic]:
    return Synthetic


@pytest.fixture(scope="session")
def wordnet_dir() -> Path:
    if not (WORDNET / "corpus.f16.npy").is_file():
        pytest.fail(f"real data set missing: {WORDNET} (expected ../shared/data beside the repository)")
    return WORDNET


@pytest.fixture(scope="session")
def wordnet_corpus(wordnet_dir: Path) -> np.ndarray:
    return np.load(wordnet_dir / "corpus.f16.npy", mmap_mode="r")
