"""diagnose(): full-data statistics, sample statistics, warnings, serialisation, plot."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from lowdim import DimensionError, DTypeError, FileFormatError, ParameterError, ValidationError
from lowdim.diagnose import Diagnosis, diagnose, plot_spectrum


@pytest.fixture(scope="module")
def low_id(synth):
    """12-D Gaussian latent mapped into 192 dims plus small noise, unit rows, float32 (4000, 192)."""
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((4000, 12)) @ rng.standard_normal((12, 192))
    return synth.unit_rows(Z + 0.01 * rng.standard_normal(Z.shape)).astype(np.float32)


@pytest.fixture(scope="module")
def low_id_diag(low_id):
    return diagnose(low_id, sample=3000)


def test_fields(low_id_diag):
    dg = low_id_diag
    assert (dg.n, dg.d, dg.dtype, dg.sample_size, dg.seed) == (4000, 192, "float32", 3000, 0)
    assert (dg.id_k, dg.hubness_k) == (20, 10)
    assert dg.normalized and dg.norm_min == pytest.approx(1, abs=1e-6) and dg.norm_max == pytest.approx(1, abs=1e-6)
    assert dg.explained_variance_ratio.shape == (192,)
    assert dg.dims_90 <= dg.dims_95 <= dg.dims_99 <= 14
    assert dg.id_twonn == pytest.approx(12, rel=0.2) and dg.id_mle == pytest.approx(12, rel=0.2)
    assert 0 <= dg.antihub_share <= 1 and dg.n_duplicates == 0


def test_normalized_detection(synth):
    X = synth.unit_rows(np.random.default_rng(1).standard_normal((500, 16)))
    assert diagnose(X).normalized
    X[3] *= 1.005  # within 1e-2 of 1
    assert diagnose(X).normalized
    X[4] *= 1.02
    dg = diagnose(X)
    assert not dg.normalized and dg.norm_max == pytest.approx(1.02)
    assert any("not unit-norm" in w for w in dg.warnings)


def test_mean_share_and_mean_cosine_match_brute_force():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((300, 8)) + [3.0, 0, 0, 0, 0, 0, 0, 1.0]
    X[5] = 0.0  # a zero row has no direction; it is left out of the cosine
    dg = diagnose(X)
    mean = X.mean(axis=0)
    assert dg.mean_share == pytest.approx(mean @ mean / np.mean((X**2).sum(axis=1)), rel=1e-6)
    U = np.delete(X, 5, axis=0)
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    C = U @ U.T
    assert dg.mean_cosine == pytest.approx((C.sum() - np.trace(C)) / (len(U) * (len(U) - 1)), rel=1e-5)


def test_warnings_where_expected(synth):
    rng = np.random.default_rng(3)
    small_d = diagnose(synth.linear_manifold(600, 4, ambient=64, seed=3))
    assert any("binary codes keep only 64 bits" in w for w in small_d.warnings)
    assert any("faiss wants >= 9984 rows" in w for w in small_d.warnings)
    assert not any("mean vector" in w for w in small_d.warnings)

    wide = diagnose(synth.unit_rows(rng.standard_normal((200, 256)) + 1.0))
    assert not any("binary codes" in w for w in wide.warnings)
    assert any("mean vector holds" in w and "lowdim's binary codec centres" in w for w in wide.warnings)
    assert any("rank-limited" in w for w in wide.warnings)

    tiny = diagnose(rng.standard_normal((100, 8)))
    assert any("needs at least 256 training rows" in w for w in tiny.warnings)
    assert any("noisy" in w for w in tiny.warnings)

    X = rng.standard_normal((400, 8))
    copies = diagnose(np.vstack([X, X[:40]]))
    assert copies.n_duplicates == 40 and any("40 rows (9.1%) are exact copies" in w for w in copies.warnings)

    hubs = diagnose(rng.standard_normal((3000, 200)), sample=3000)
    assert any("strong hubness" in w for w in hubs.warnings)


def test_recommendations(low_id_diag):
    recs = " | ".join(low_id_diag.recommendations)
    assert "inner product equals cosine" in recs
    assert f"pca{low_id_diag.dims_95}" in recs and "TwoNN" in recs


def test_same_seed_same_result_other_seed_other_sample(low_id):
    a, b = diagnose(low_id, sample=1000, seed=5), diagnose(low_id, sample=1000, seed=5)
    assert a.to_dict() == b.to_dict()
    c = diagnose(low_id, sample=1000, seed=6)
    assert c.id_twonn != a.id_twonn and c.n == a.n and c.norm_mean == a.norm_mean


def test_memmap_float16_equals_in_memory(tmp_path, low_id):
    X16 = low_id.astype(np.float16)
    np.save(tmp_path / "x.f16.npy", X16)
    mm = np.load(tmp_path / "x.f16.npy", mmap_mode="r")
    on_disk, in_ram = diagnose(mm, sample=1500), diagnose(X16, sample=1500)
    assert on_disk.dtype == "float16" and on_disk.to_dict() == in_ram.to_dict()


def test_list_input_and_tiny_inputs():
    dg = diagnose([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assert (dg.n, dg.d, dg.dtype) == (3, 2, "float32")
    one = diagnose([[1.0, 2.0], [1.0, 2.0]])  # one distinct row: nothing to measure by neighbours
    assert one.sample_size == 1 and math.isnan(one.id_twonn) and one.dims_95 == 0
    assert json.loads(json.dumps(one.to_dict()))["id_twonn"] is None


def test_to_dict_is_json_safe_and_round_trips(low_id_diag):
    d = low_id_diag.to_dict()
    text = json.dumps(d, allow_nan=False)
    assert isinstance(d["explained_variance_ratio"], list) and len(d["explained_variance_ratio"]) == 192
    assert all(type(v) in (int, float, bool, str, list) for v in d.values())
    back = Diagnosis.from_dict(json.loads(text))
    assert back == low_id_diag
    np.testing.assert_array_equal(back.explained_variance_ratio, low_id_diag.explained_variance_ratio)


def test_frozen(low_id_diag):
    with pytest.raises(dataclasses.FrozenInstanceError):
        low_id_diag.n = 3  # type: ignore[misc]
    with pytest.raises(ValueError, match="read-only"):
        low_id_diag.explained_variance_ratio[0] = 1.0


def test_progress_bar_runs(low_id, capsys):
    dg = diagnose(low_id[:500], progress=True)
    assert dg.n == 500
    assert capsys.readouterr().out == ""  # the bar goes to stderr, never stdout


def test_input_errors():
    with pytest.raises(DimensionError, match=r"X is 1-D with shape \(5,\).*reshape\(1, -1\)"):
        diagnose(np.ones(5))
    with pytest.raises(DTypeError, match="integer dtype int64"):
        diagnose(np.ones((5, 3), dtype=np.int64))
    with pytest.raises(ValidationError, match="empty"):
        diagnose(np.ones((0, 3)))
    X = np.ones((10, 3))
    X[[2, 7], 0] = np.inf
    with pytest.raises(ValidationError, match=r"vectors.npy contains NaN or infinity in row\(s\) 2, 7"):
        diagnose(X, name="vectors.npy")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sample": 1}, "'sample' parameter of diagnose must be an integer >= 2. Got 1."),
        ({"k": 1}, "'k' parameter of diagnose must be an integer >= 2. Got 1."),
        ({"seed": -1}, "'seed' parameter of diagnose must be an integer >= 0. Got -1."),
        ({"sample": 10.5}, "'sample' parameter of diagnose must be an integer >= 2. Got 10.5."),
    ],
)
def test_parameter_errors(kwargs, message):
    with pytest.raises(ParameterError, match=message.replace(".", r"\.").replace("(", r"\(")):
        diagnose(np.eye(4), **kwargs)


def test_plot_spectrum(tmp_path, low_id_diag):
    out = plot_spectrum(low_id_diag, tmp_path / "spectrum.png")
    assert out == tmp_path / "spectrum.png" and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(FileFormatError, match="does not exist"):
        plot_spectrum(low_id_diag, tmp_path / "missing" / "s.png")
    with pytest.raises(ParameterError, match="must be a Diagnosis"):
        plot_spectrum(low_id_diag.to_dict(), tmp_path / "s.png")  # type: ignore[arg-type]


def test_plot_spectrum_without_estimates(tmp_path):
    dg = diagnose([[1.0, 2.0], [1.0, 2.0]])
    assert plot_spectrum(dg, tmp_path / "s.png").stat().st_size > 0
