"""Fixtures shared by the whole suite: the real data sets in ../shared/data and seeded synthetic data."""

from __future__ import annotations

import os

# before any test module imports faiss (lowdim sets this too, but only if it loads first):
# spinning OpenMP waits make FAISS many times slower on a shared 2-core machine
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pathlib import Path  # noqa: E402

import numpy as np
import pytest

#: the repository's parent holds shared/ (CI clones the repo with shared/ beside it)
SHARED_DATA = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data").resolve()
WORDNET_MINILM = SHARED_DATA / "wordnet-minilm"


def pytest_collection_modifyitems(config, items):
    """Real-data tests are slow by construction: those in ``test_*_wordnet.py`` files and those using a
    ``wordnet*`` fixture get the ``slow`` marker (CI runs them; ``make test-fast`` leaves them out)."""
    for item in items:
        real = item.path.name.endswith("_wordnet.py") or any("wordnet" in f for f in getattr(item, "fixturenames", ()))
        if real:
            item.add_marker(pytest.mark.slow)


def require(path: Path) -> Path:
    """Fail (never skip) when a real data set is missing: a recall test that skips proves nothing."""
    if not path.exists():
        pytest.fail(f"real data set missing: {path} (expected ../shared/data beside the repository)")
    return path


@pytest.fixture(scope="session")
def wordnet_dir() -> Path:
    return require(WORDNET_MINILM)


@pytest.fixture(scope="session")
def wordnet(wordnet_dir: Path):
    """The full wordnet-minilm set: corpus (116697, 384) float16 memmap, queries (2000, 384), gt (2000, 100)."""
    from lowdim.eval import load_dataset

    return load_dataset(wordnet_dir)


def low_rank_data(n: int = 2000, d: int = 64, rank: int = 8, *, seed: int = 0, noise: float = 0.05) -> np.ndarray:
    """Seeded data with low intrinsic dimension: a Gaussian latent through a random map, plus noise."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, rank))
    basis = rng.standard_normal((rank, d)) / np.sqrt(rank)
    X = latent @ basis + noise * rng.standard_normal((n, d)) + 0.3 * rng.standard_normal(d)
    return X.astype(np.float32)


@pytest.fixture
def structured():
    """(X, Q): 2,000 × 64 documents and 50 queries of low intrinsic dimension."""
    X = low_rank_data(2050, 64, 8, seed=1)
    return X[:2000], X[2000:]


@pytest.fixture(scope="session")
def make_data():
    """The :func:`low_rank_data` generator, for tests that need their own shapes."""
    return low_rank_data
