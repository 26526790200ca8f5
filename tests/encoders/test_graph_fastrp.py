"""FastRP against a dense numpy transcription of the seven steps, plus its edge cases."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from lowdim.encoders import FastRP, as_adjacency, sparse_projection
from lowdim.exceptions import DimensionError, NotFittedError, ParameterError, ValidationError


def dense_fastrp(A, R, weights, beta, normalize=True, self_influence=0.0):
    """The issue's seven steps, literally, on dense arrays (float64)."""
    A = np.asarray(A.toarray() if sp.issparse(A) else A, dtype=np.float64)
    d = A.sum(axis=1)
    P = np.zeros_like(A)
    P[d > 0] = A[d > 0] / d[d > 0, None]  # 1. P = D^-1 A
    scale = np.zeros_like(d)
    scale[d > 0] = d[d > 0] ** beta
    Rp = scale[:, None] * R  # 3. R' = diag(d^beta) R
    N, cur = [], Rp
    for _ in weights:  # 4. N_1 = P R', N_i = P N_{i-1}
        cur = P @ cur
        N.append(cur)

    def rownorm(M):
        n = np.linalg.norm(M, axis=1, keepdims=True)
        return np.divide(M, n, out=np.zeros_like(M), where=n > 0)

    if normalize:  # 5.
        N = [rownorm(M) for M in N]
    E = sum(a * M for a, M in zip(weights, N))  # 6.
    if self_influence:
        E = E + self_influence * (rownorm(R) if normalize else R)
    std = E.std(axis=0)  # 7.
    return (E - E.mean(axis=0)) / np.where(std > 0, std, 1.0)


def random_graph(n=60, m=200, seed=0, isolated=0):
    rng = np.random.default_rng(seed)
    edges = rng.integers(0, n - isolated, size=(m, 2))
    return edges[edges[:, 0] != edges[:, 1]], n


@pytest.mark.parametrize(
    "weights, beta, normalize, self_influence",
    [
        ([0, 0, 1, 6.67], -0.64, True, 0.0),
        ([1, 1, 1], -0.5, True, 0.0),
        ([1, 0.5], 0.0, False, 0.0),
        ([0, 1, 1], -1.0, True, 0.7),
    ],
)
def test_equals_the_dense_transcription_with_the_same_random_matrix(weights, beta, normalize, self_influence):
    edges, n = random_graph(isolated=3)
    R = sparse_projection(n, 24, random_state=1).toarray()
    est = FastRP(
        24, weights=weights, beta=beta, normalize=normalize, self_influence=self_influence, dtype=np.float64, block_size=5
    )
    got = est.fit_transform(edges, n_nodes=n, projection=R)
    want = dense_fastrp(as_adjacency(edges, n_nodes=n), R, weights, beta, normalize, self_influence)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)
    got32 = FastRP(24, weights=weights, beta=beta, normalize=normalize, self_influence=self_influence).fit_transform(
        edges, n_nodes=n, projection=R
    )
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, want, rtol=0, atol=2e-4)


def test_global_scale_of_the_projection_cancels():
    edges, n = random_graph()
    R = sparse_projection(n, 16, random_state=2)
    a = FastRP(16, weights=[1, 1], dtype=np.float64).fit_transform(edges, projection=R)
    b = FastRP(16, weights=[1, 1], dtype=np.float64).fit_transform(edges, projection=R * 0.01)
    np.testing.assert_allclose(a, b, atol=1e-10)


def test_block_size_does_not_change_the_result():
    edges, n = random_graph(n=80, m=300)
    a = FastRP(33, weights=[0, 1, 1], random_state=3, dtype=np.float64, block_size=4).fit_transform(edges)
    b = FastRP(33, weights=[0, 1, 1], random_state=3, dtype=np.float64).fit_transform(edges)
    np.testing.assert_allclose(a, b, atol=1e-12)


def test_same_seed_same_output_other_seed_other_output():
    edges, n = random_graph()
    a = FastRP(16, random_state=5).fit_transform(edges)
    b = FastRP(16, random_state=5).fit_transform(edges)
    c = FastRP(16, random_state=6).fit_transform(edges)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_sparse_projection_has_the_papers_distribution():
    n, d = 40_000, 64
    R = sparse_projection(n, d, random_state=0)
    s = np.sqrt(n)
    assert np.allclose(np.abs(R.data), np.sqrt(s))
    density = R.nnz / (n * d)
    assert abs(density - 1 / s) < 0.1 / s
    assert abs(np.mean(R.data > 0) - 0.5) < 0.02
    assert (sparse_projection(n, d, random_state=0) != R).nnz == 0


def test_isolated_nodes_get_no_nan_and_one_shared_row():
    edges = np.array([[0, 1], [1, 2], [2, 0], [2, 3]])
    X = FastRP(8, weights=[1, 1], beta=-0.5, random_state=0).fit_transform(edges, n_nodes=7)
    assert np.isfinite(X).all()
    # isolated rows are zero before step 7, hence all equal -mean/std afterwards
    assert np.allclose(X[4], X[5]) and np.allclose(X[5], X[6])
    np.testing.assert_allclose(X.mean(axis=0), 0, atol=1e-5)


def test_self_loops_are_one_diagonal_entry():
    edges = np.array([[0, 1], [1, 2], [2, 2], [2, 3]])
    A = as_adjacency(edges)
    assert A[2, 2] == 1 and A.sum() == 7
    R = sparse_projection(4, 6, random_state=0).toarray()
    got = FastRP(6, weights=[1, 1], beta=-0.3, dtype=np.float64).fit_transform(edges, projection=R)
    np.testing.assert_allclose(got, dense_fastrp(A, R, [1, 1], -0.3), atol=1e-10)


def test_weighted_sparse_adjacency_is_used_as_given():
    rng = np.random.default_rng(0)
    M = sp.random(30, 30, density=0.2, random_state=0)
    M = M + M.T
    R = rng.standard_normal((30, 10))
    got = FastRP(10, weights=[1, 2], beta=-0.2, dtype=np.float64).fit_transform(M, projection=R)
    np.testing.assert_allclose(got, dense_fastrp(M, R, [1, 2], -0.2), atol=1e-10)


def test_node_features_fill_their_share_of_the_dimensions():
    edges, n = random_graph()
    F = np.random.default_rng(0).standard_normal((n, 5))
    est = FastRP(20, weights=[1, 1], feature_ratio=0.25, self_influence=1.0, random_state=0)
    X = est.fit_transform(edges, features=F)
    assert X.shape == (n, 20) and est.n_feature_dims_ == 5 and est.projection_.shape == (n, 15)
    # the feature columns are the propagated projected features: same as passing them as the projection
    W = np.random.default_rng([0, 1]).standard_normal((5, 5))
    G = F / np.linalg.norm(F, axis=1, keepdims=True) @ W
    R = np.hstack([est.projection_.toarray(), G])
    want = dense_fastrp(as_adjacency(edges), R, [1, 1], -0.5, True, 1.0)
    np.testing.assert_allclose(X, want, atol=2e-4)


def test_bad_parameters_and_inputs_are_refused():
    edges = np.array([[0, 1], [1, 2]])
    with pytest.raises(ParameterError, match="'dim'"):
        FastRP(0).fit(edges)
    with pytest.raises(ParameterError, match="'weights'"):
        FastRP(4, weights=[]).fit(edges)
    with pytest.raises(ParameterError, match="'beta'"):
        FastRP(4, beta=float("nan")).fit(edges)
    with pytest.raises(ParameterError, match="non-zero weight"):
        FastRP(4, weights=[0, 0]).fit(edges)
    with pytest.raises(ParameterError, match="needs node features"):
        FastRP(4, feature_ratio=0.5).fit(edges)
    with pytest.raises(ParameterError, match="feature_ratio is 0"):
        FastRP(4).fit(edges, features=np.ones((3, 2)))
    with pytest.raises(ValidationError, match="NaN"):
        FastRP(4, feature_ratio=0.5).fit(edges, features=np.array([[1.0], [np.nan], [0.0]]))
    with pytest.raises(DimensionError, match="features has 2 rows"):
        FastRP(4, feature_ratio=0.5).fit(edges, features=np.ones((2, 2)))
    with pytest.raises(DimensionError, match="projection has shape"):
        FastRP(4).fit(edges, projection=np.ones((3, 5)))
    with pytest.raises(ParameterError, match="Unknown orbit"):
        FastRP(4, orbits="square=1").fit(edges)
    with pytest.raises(NotFittedError):
        FastRP(4).transform()


def test_orbit_propagation_equals_fastrp_over_the_combined_matrix():
    from lowdim.encoders import combine_orbits

    edges, n = random_graph(n=40, m=150)
    R = sparse_projection(n, 8, random_state=0)
    a = FastRP(8, orbits="edge=1,triangle=2", dtype=np.float64).fit_transform(edges, projection=R)
    b = FastRP(8, dtype=np.float64).fit_transform(combine_orbits(edges, "edge=1,triangle=2"), projection=R)
    np.testing.assert_allclose(a, b, atol=1e-12)
