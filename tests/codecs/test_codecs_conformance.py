"""Every registered codec passes the same checks (the estimator contract of style.md)."""

from __future__ import annotations

import numpy as np
import pytest

from lowdim import Pipeline, bytes_per_vector, load_codec
from lowdim.codecs import CODECS

# one spec per registered codec keyword (transforms with a cheap quantizer after them)
SPECS = {
    "f32": "f32",
    "f16": "f16",
    "int8": "int8",
    "int4": "int4",
    "binary": "binary",
    "hamming": "hamming",
    "rbq": "rbq2",
    "rabitq": "rabitq2",
    "pq": "pq8x8",
    "pca": "pca16/f32",
    "mrl": "mrl16/f32",
    "rp": "rp16/f32",
    "opq": "opq8/pq8x4",
    "itq": "itq/binary",
}
# transforms whose decode is an exact inverse on their range, so encode∘decode∘encode is stable
# (RaBitQ's decode is an estimate whose re-encoding may flip low bits)
STABLE = [s for k, s in SPECS.items() if k not in ("rp", "rabitq")] + ["pca16/int8", "opq8/pq8x8", "pca32/rbq3"]


def test_every_registered_codec_is_covered():
    assert set(CODECS) == set(SPECS)


@pytest.fixture(scope="module")
def data(make_data):
    return make_data(1200, 64, 8, seed=3)


@pytest.mark.parametrize("spec", sorted(SPECS.values()))
@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_contract(spec, metric, data, tmp_path):
    pipe = Pipeline(spec, metric=metric, random_state=0)
    assert pipe.fit(data) is pipe
    codes = pipe.encode(data)
    assert codes.dtype == np.uint8
    assert codes.shape == (len(data), pipe.code_size)
    assert pipe.code_size == bytes_per_vector(data.shape[1], spec)
    dec = pipe.decode(codes)
    assert dec.dtype == np.float32 and dec.shape == data.shape
    assert np.isfinite(dec).all()
    # save / load: the loaded codec encodes exactly as before
    path = pipe.save(tmp_path / "codec.npz")
    loaded = load_codec(path)
    assert loaded.to_spec() == pipe.to_spec() and loaded.metric == metric
    np.testing.assert_array_equal(loaded.encode(data), codes)
    np.testing.assert_array_equal(loaded.decode(codes), dec)
    # same seed, same codes
    again = Pipeline(spec, metric=metric, random_state=0).fit(data).encode(data)
    np.testing.assert_array_equal(again, codes)


@pytest.mark.parametrize("spec", STABLE)
def test_encode_decode_encode_is_stable(spec, data):
    pipe = Pipeline(spec, metric="ip").fit(data)
    codes = pipe.encode(data)
    again = pipe.encode(pipe.decode(codes))
    if pipe.quantizer.keyword in ("f32", "f16") and pipe.transforms:
        # float codes after a float transform: equal up to rounding, not bit for bit
        np.testing.assert_allclose(pipe.decode(again), pipe.decode(codes), rtol=1e-3, atol=1e-5)
    else:
        np.testing.assert_array_equal(again, codes)


@pytest.mark.parametrize("spec", ["int8", "int4", "binary", "rbq2", "pq8x8", "pca16/int8"])
def test_reconstruction_beats_the_mean(spec, data):
    """Every lossy codec keeps real information: its error is well below predicting the mean."""
    pipe = Pipeline(spec, metric="l2").fit(data)
    err = np.mean((pipe.decode(pipe.encode(data)) - data) ** 2)
    baseline = np.mean((data - data.mean(0)) ** 2)
    assert err < 0.5 * baseline


def test_more_bits_less_error(data):
    errs = {}
    for spec in ["binary", "rbq2", "rbq3", "int4", "int8"]:
        p = Pipeline(spec, metric="l2").fit(data)
        errs[spec] = np.mean((p.decode(p.encode(data)) - data) ** 2)
    assert errs["binary"] > errs["rbq2"] > errs["rbq3"]
    assert errs["int4"] > errs["int8"]


def test_int8_saturates_outside_the_fitted_range(data):
    p = Pipeline("int8", metric="l2").fit(data)
    q = p.quantizer
    big = np.full((1, data.shape[1]), 1e6, np.float32)
    small = -big
    np.testing.assert_array_equal(p.encode(big)[0], np.full(data.shape[1], 255, np.uint8))
    np.testing.assert_array_equal(p.encode(small)[0], np.zeros(data.shape[1], np.uint8))
    hi = q.vmin_ + q.vdiff_
    np.testing.assert_allclose(p.decode(p.encode(big))[0], hi, rtol=0, atol=float(q.vdiff_.max()) / 255)


def test_constant_dimension_does_not_divide_by_zero():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 8)).astype(np.float32)
    X[:, 3] = 0.25
    for spec in ["int8", "int4", "binary", "rbq2"]:
        p = Pipeline(spec, metric="l2").fit(X)
        dec = p.decode(p.encode(X))
        assert np.isfinite(dec).all()
        np.testing.assert_allclose(dec[:, 3], 0.25, atol=1e-3)


def test_f16_saturates_instead_of_inf():
    X = np.array([[1e6, -1e6, 1.0]], np.float32)
    p = Pipeline("f16", metric="l2").fit(X)
    assert np.isfinite(p.decode(p.encode(X))).all()


def test_binary_codes_are_packed_signs_after_centring(data):
    p = Pipeline("binary", metric="l2").fit(data)
    bits = np.unpackbits(p.encode(data), axis=1, bitorder="little")[:, : data.shape[1]]
    np.testing.assert_array_equal(bits.astype(bool), (data - p.quantizer.mean_) > 0)


def test_odd_width_binary_pads_codes():
    X = np.random.default_rng(0).standard_normal((100, 13)).astype(np.float32)
    p = Pipeline("binary+rerank2", metric="l2").fit(X)
    assert p.code_size == 2
    from lowdim import CodeIndex

    res = CodeIndex(p, p.encode(X), vectors=X).search(X[:5], 3)
    assert res.ids[:, 0].tolist() == [0, 1, 2, 3, 4]


def test_rabitq_codes_are_faiss_codes(data):
    """lowdim's rabitq<b> is FAISS's IndexRaBitQ: same bytes, and FAISS searches them unchanged."""
    import faiss

    p = Pipeline("rabitq3", metric="ip").fit(data)
    index = faiss.IndexRaBitQ(data.shape[1], faiss.METRIC_INNER_PRODUCT, 3)
    index.train(data)
    np.testing.assert_array_equal(p.encode(data), index.sa_encode(data))
    index.add(data)
    from lowdim import CodeIndex

    ours = CodeIndex(p, p.encode(data)).search(data[:20], 5)
    _, I = index.search(data[:20], 5)
    np.testing.assert_array_equal(ours.ids, I)


def test_rabitq_refuses_a_scan_under_another_metric(data):
    from lowdim.exceptions import ParameterError

    q = Pipeline("rabitq", metric="l2").fit(data).quantizer
    with pytest.raises(ParameterError, match="made for the 'l2' metric"):
        q.make_scanner("ip")
