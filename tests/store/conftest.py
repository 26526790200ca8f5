"""Fixtures of the store tests: small seeded collections of low intrinsic dimension."""

from __future__ import annotations

import numpy as np
import pytest

from lowdim.store import Collection


def clustered(n: int, d: int = 32, *, seed: int = 0, rank: int = 6) -> np.ndarray:
    """Seeded float32 vectors with low intrinsic dimension (a Gaussian latent through a random map, plus noise)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, rank)) @ rng.standard_normal((rank, d)) + 0.1 * rng.standard_normal((n, d))
    return X.astype(np.float32)


def ids_of(res) -> np.ndarray:
    """Result ids as an int64 matrix (-1 for padding)."""
    return np.array([[-1 if v is None else v for v in row] for row in res.ids.tolist()], dtype=np.int64)


@pytest.fixture(scope="session")
def make_vectors():
    """The :func:`clustered` generator."""
    return clustered


@pytest.fixture(scope="session")
def as_ids():
    """The :func:`ids_of` helper: a result's ids as an int64 matrix."""
    return ids_of


@pytest.fixture
def data():
    """(X, Q): 3,000 × 32 documents and 40 queries near them."""
    X = clustered(3000, 32, seed=1)
    rng = np.random.default_rng(2)
    Q = X[rng.choice(3000, 40, replace=False)] + 0.05 * rng.standard_normal((40, 32)).astype(np.float32)
    return X, Q


@pytest.fixture
def meta():
    """Metadata of the 3,000 rows of ``data``: a 3% class, a 10% class, numbers, lists."""
    return [
        {
            "kind": "rare" if i % 33 == 0 else ("tenth" if i % 10 == 1 else "common"),
            "year": 2000 + i % 25,
            "tags": ["even" if i % 2 == 0 else "odd", f"m{i % 7}"],
            "score": (i % 100) / 10,
            "flag": i % 4 == 0,
        }
        for i in range(3000)
    ]


@pytest.fixture
def filled(tmp_path, data, meta):
    """An int8+rerank4 collection holding ``data`` with ``meta`` (trained), open for writing."""
    X, _ = data
    col = Collection.create(tmp_path / "col", dim=32, spec="int8+rerank4", model="test-model", train_size=1000)
    col.add(X, metadata=meta)
    yield col
    col.close()
