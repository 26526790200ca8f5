"""Shared fixtures of the planner tests: small seeded data of low intrinsic dimension, and plans made once."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def lowrank(make_data):
    """(corpus (6000, 64), fresh queries (400, 64)) from one seeded low-rank distribution."""
    X = make_data(6400, 64, 8, seed=3)
    return X[:6000], X[6000:]


@pytest.fixture(scope="session")
def lowrank_plan(lowrank):
    """A plan of the synthetic corpus with held-out queries (target 0.95, rerank <= 4)."""
    from lowdim.plan import plan

    X, _ = lowrank
    return plan(X, target_recall=0.95, k=10, max_rerank=4, seed=0)


@pytest.fixture(scope="session")
def given_plan(lowrank):
    """A plan of the synthetic corpus for the given fresh queries, ground truth computed (target 0.9, rerank <= 2, <= 16 B)."""
    from lowdim.plan import plan

    X, Q = lowrank
    return plan(X, queries=Q, target_recall=0.9, max_rerank=2, max_bytes=16)


@pytest.fixture(scope="session")
def harder(make_data):
    """(corpus (3000, 64), queries (300, 64)) of intrinsic dimension 24: ladders are bisected, not met at their foot."""
    X = make_data(3300, 64, 24, seed=4)
    return X[:3000], X[3000:]


@pytest.fixture(scope="session")
def harder_plan(harder):
    """A plan of ``harder`` with given queries (target 0.9, rerank <= 2, <= 48 B): its step below is measured."""
    from lowdim.plan import plan

    X, Q = harder
    return plan(X, queries=Q, target_recall=0.9, max_rerank=2, max_bytes=48, seed=0)


@pytest.fixture(scope="session")
def rng():
    return np.random.default_rng(0)
