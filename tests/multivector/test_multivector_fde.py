"""FDE: shapes, seeds, the query/document asymmetry, fill_empty, state round trips, Chamfer fidelity, bad input.

The vectorised encoder is checked against a plain per-document loop written from the paper
(``_reference``), bucket by bucket.
"""

from __future__ import annotations

import numpy as np
import pytest

import lowdim.multivector._fde as fde_module
from lowdim.exceptions import DimensionError, FileFormatError, NotFittedError, ParameterError, ValidationError
from lowdim.multivector import FDE, TokenSets, chamfer_scores, pooled_vectors


def _clustered(n_sets: int, d: int = 24, *, seed: int = 0, n_centres: int = 12) -> list[np.ndarray]:
    """Token sets drawn around shared centres (structure, like real token embeddings), unit rows."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_centres, d))
    out = []
    for _ in range(n_sets):
        n = int(rng.integers(1, 9))
        X = centres[rng.integers(0, n_centres, n)] + 0.3 * rng.normal(size=(n, d))
        out.append((X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32))
    return out


def _reference(fde: FDE, tokens: np.ndarray, *, document: bool) -> np.ndarray:
    """One set's encoding, a loop per repetition and bucket, straight from the paper."""
    R, k = fde.reps, fde.k_sim
    B = 1 << k
    blocks = []
    for r in range(R):
        bits = (tokens @ fde.hyperplanes_[r] > 0).astype(int)
        bucket = (bits * (1 << np.arange(k))).sum(axis=1)
        P = tokens if fde.projections_ is None else tokens @ fde.projections_[r]
        for b in range(B):
            members = np.flatnonzero(bucket == b)
            if len(members):
                block = P[members].sum(axis=0) / (len(members) if document else 1)
            elif document and fde.fill_empty:
                ham = [bin(int(x) ^ b).count("1") for x in bucket]
                block = P[int(np.argmin(ham))]  # argmin: the first token on ties
            else:
                block = np.zeros(P.shape[1])
            blocks.append(block)
    return np.concatenate(blocks)


@pytest.mark.parametrize(
    "params",
    [
        {"k_sim": 3, "d_proj": 8, "reps": 4, "fill_empty": True},
        {"k_sim": 3, "d_proj": 8, "reps": 4, "fill_empty": False},
        {"k_sim": 2, "d_proj": None, "reps": 2, "fill_empty": True},
        {"k_sim": 0, "d_proj": 5, "reps": 3, "fill_empty": True},
        {"k_sim": 1, "d_proj": 4, "reps": 3, "fill_empty": True},
    ],
)
@pytest.mark.parametrize("aggregate_first", [False, True])
def test_encodings_equal_the_per_document_reference(params, aggregate_first, monkeypatch):
    """Both summation orders (project then sum, or sum then project) give the paper's encodings."""
    monkeypatch.setattr(fde_module, "AGGREGATE_MIN_TOKENS", 0 if aggregate_first else 10**9)
    sets = _clustered(40)
    fde = FDE(**params, seed=3).fit(sets)
    X = fde.encode_documents(sets, batch_size=7)  # several blocks
    Q = fde.encode_queries(sets)
    assert X.shape == Q.shape == (40, fde.output_dim) and X.dtype == Q.dtype == np.float32
    for i, s in enumerate(sets):
        np.testing.assert_allclose(X[i], _reference(fde, s, document=True), atol=1e-5)
        np.testing.assert_allclose(Q[i], _reference(fde, s, document=False), atol=1e-5)


def test_output_dim_and_final_projection():
    sets = _clustered(10)
    fde = FDE(k_sim=3, d_proj=8, reps=5, final_dim=64).fit(sets)
    assert fde.raw_dim == 5 * 8 * 8 and fde.output_dim == 64
    X = fde.encode_documents(sets)
    assert X.shape == (10, 64)
    # the count sketch is linear: the final encoding is the raw one summed into 64 signed slots
    raw = FDE(k_sim=3, d_proj=8, reps=5).fit(sets).encode_documents(sets)
    want = np.zeros((10, 64), np.float32)
    for i in range(fde.raw_dim):
        want[:, fde.final_index_[i]] += fde.final_sign_[i] * raw[:, i]
    np.testing.assert_allclose(X, want, atol=1e-4)


def test_same_seed_same_draws_other_seed_other_draws():
    sets = _clustered(15)
    a = FDE(k_sim=3, d_proj=8, reps=4, seed=7).fit(sets).encode_documents(sets)
    b = FDE(k_sim=3, d_proj=8, reps=4, seed=7).fit(sets).encode_documents(sets)
    c = FDE(k_sim=3, d_proj=8, reps=4, seed=8).fit(sets).encode_documents(sets)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    # a final projection draws from its own stream: the blocks before it do not change
    f1 = FDE(k_sim=3, d_proj=8, reps=4, seed=7).fit(sets)
    f2 = FDE(k_sim=3, d_proj=8, reps=4, seed=7, final_dim=32).fit(sets)
    np.testing.assert_array_equal(f1.hyperplanes_, f2.hyperplanes_)
    np.testing.assert_array_equal(f1.projections_, f2.projections_)


def test_query_sums_and_document_averages():
    sets = _clustered(8)
    fde = FDE(k_sim=3, d_proj=8, reps=4, fill_empty=False).fit(sets)
    doubled = [np.concatenate([s, s]) for s in sets]
    # a query counts every token: twice the tokens, twice the encoding
    np.testing.assert_allclose(fde.encode_queries(doubled), 2 * fde.encode_queries(sets), rtol=1e-5, atol=1e-6)
    # a document averages: duplicating its tokens changes nothing
    np.testing.assert_allclose(fde.encode_documents(doubled), fde.encode_documents(sets), rtol=1e-5, atol=1e-6)
    assert not np.allclose(fde.encode_queries(sets), fde.encode_documents(sets))


def test_fill_empty_fills_only_documents():
    sets = _clustered(20)
    R, B, dp = 4, 16, 8
    filled = FDE(k_sim=4, d_proj=dp, reps=R, fill_empty=True).fit(sets)
    plain = FDE(k_sim=4, d_proj=dp, reps=R, fill_empty=False).fit(sets)
    blocks_f = filled.encode_documents(sets).reshape(20, R, B, dp)
    blocks_p = plain.encode_documents(sets).reshape(20, R, B, dp)
    empty = np.abs(blocks_p).max(axis=3) == 0
    assert empty.any() and not (np.abs(blocks_f).max(axis=3) == 0).any()
    np.testing.assert_array_equal(blocks_f[~empty], blocks_p[~empty])
    # queries never fill
    np.testing.assert_array_equal(filled.encode_queries(sets), plain.encode_queries(sets))


def test_one_token_document_gives_exact_chamfer_times_reps():
    """A one-token document fills every bucket with its token, so <q, d> = reps * Chamfer exactly (no projection)."""
    rng = np.random.default_rng(1)
    docs = [rng.normal(size=(1, 16)).astype(np.float32) for _ in range(5)]
    query = rng.normal(size=(6, 16)).astype(np.float32)
    fde = FDE(k_sim=3, d_proj=None, reps=5, fill_empty=True).fit(docs)
    got = fde.encode_documents(docs) @ fde.encode_queries([query])[0]
    np.testing.assert_allclose(got, 5 * chamfer_scores(query, TokenSets.from_list(docs)), rtol=1e-5)


def test_inner_products_track_chamfer():
    sets = _clustered(200, d=32, seed=2)
    docs, queries = sets[:150], sets[150:]
    fde = FDE(k_sim=3, d_proj=16, reps=30, fill_empty=True, seed=0).fit(docs)
    approx = fde.encode_queries(queries) @ fde.encode_documents(docs).T  # (50, 150)
    ts = TokenSets.from_list(docs)
    exact = np.stack([chamfer_scores(q, ts) for q in queries])
    r = np.mean([np.corrcoef(a, e)[0, 1] for a, e in zip(approx, exact)])
    assert r > 0.88, r
    # the exact top 5 lie in the FDE's top 20 (the first stage of a rerank) for most queries
    top5, first20 = np.argsort(-exact, axis=1)[:, :5], np.argsort(-approx, axis=1)[:, :20]
    recall = np.mean([len(np.intersect1d(t, f)) / 5 for t, f in zip(top5, first20)])
    assert recall >= 0.8, recall
    # and FDE tracks Chamfer better than the pooled vector does (0.81 here)
    P, Pq = pooled_vectors(docs), pooled_vectors(queries)
    assert r > np.mean([np.corrcoef(a, e)[0, 1] for a, e in zip(Pq @ P.T, exact)]) + 0.05


def test_save_load_and_state_round_trip(tmp_path):
    sets = _clustered(12)
    fde = FDE(k_sim=2, d_proj=4, reps=3, final_dim=16, seed=5).fit(sets)
    path = fde.save(tmp_path / "fde.npz")
    back = FDE.load(path)
    assert back.get_params() == fde.get_params() and back.n_features_in_ == 24
    np.testing.assert_array_equal(back.encode_documents(sets), fde.encode_documents(sets))
    np.testing.assert_array_equal(back.encode_queries(sets), fde.encode_queries(sets))
    copy = FDE(**fde.get_params()).set_state(fde.get_state())
    np.testing.assert_array_equal(copy.encode_queries(sets), fde.encode_queries(sets))
    none = FDE(k_sim=2, d_proj=None, reps=3).fit(sets)
    np.testing.assert_array_equal(FDE.load(none.save(tmp_path / "n.npz")).encode_documents(sets), none.encode_documents(sets))


def test_load_refuses_other_files(tmp_path):
    bad = tmp_path / "x.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(FileFormatError, match="truncated or corrupt"):
        FDE.load(bad)
    with pytest.raises(FileFormatError, match="does not exist"):
        FDE.load(tmp_path / "missing.npz")


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"k_sim": -1}, "'k_sim' parameter of FDE must be an integer >= 0"),
        ({"k_sim": 13}, "at most 12"),
        ({"d_proj": 25}, "'d_proj' parameter of FDE must be at most the token width 24"),
        ({"d_proj": 0}, "'d_proj' parameter of FDE must be an integer >= 1"),
        ({"reps": 0}, "'reps' parameter of FDE must be an integer >= 1"),
        ({"final_dim": 0}, "'final_dim' parameter of FDE must be an integer >= 1"),
        ({"fill_empty": "yes"}, "'fill_empty' parameter of FDE must be True or False"),
        ({"seed": 1.5}, "'seed' parameter of FDE must be an integer"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(ParameterError, match=match):
        FDE(**params).fit(_clustered(3))


def test_bad_use_and_bad_tokens():
    sets = _clustered(5)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        FDE().encode_documents(sets)
    fde = FDE(k_sim=2, d_proj=4, reps=2).fit(sets)
    with pytest.raises(DimensionError, match="documents\\[0\\] has 10 features, but this encoder expects 24"):
        fde.encode_documents([np.ones((3, 10), np.float32)])
    nan = [s.copy() for s in sets]
    nan[1][0, 0] = np.nan
    with pytest.raises(ValidationError, match="queries\\[1\\] contains NaN"):
        fde.encode_queries(nan)
    with pytest.raises(ValidationError, match="empty set"):
        fde.encode_documents((np.ones((3, 24), np.float32), np.array([0, 3, 3])))
    with pytest.raises(ParameterError, match="'hyperplanes_' has shape"):
        FDE(k_sim=3, d_proj=4, reps=2).set_state(fde.get_state())


def test_matches_fastembed_given_its_draws():
    """fastembed's Muvera (an independent implementation) and ours agree when given the same draws (no fill: ties differ)."""
    muvera = pytest.importorskip("fastembed.postprocess.muvera")
    sets = _clustered(20, d=32)
    m = muvera.Muvera(dim=32, k_sim=3, dim_proj=8, r_reps=5, random_seed=1)
    fde = FDE(k_sim=3, d_proj=8, reps=5, fill_empty=False).set_state(
        {
            "hyperplanes_": np.stack([s.simhash_vectors for s in m.simhash_projections]),
            "projections_": m.dim_reduction_projections / np.sqrt(8),
        }
    )
    want_d = np.stack([m.process(s, fill_empty_clusters=False, normalize_by_count=True) for s in sets])
    want_q = np.stack([m.process_query(s) for s in sets])
    np.testing.assert_allclose(fde.encode_documents(sets), want_d, atol=1e-5)
    np.testing.assert_allclose(fde.encode_queries(sets), want_q, atol=1e-5)
