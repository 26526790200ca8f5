"""The spec-string grammar: parsing, printing, byte arithmetic, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lowdim import ParameterError, SpecError, bytes_per_vector, parse_spec
from lowdim.spec import Pipeline


@pytest.mark.parametrize(
    "text, canonical",
    [
        ("f32", "f32"),
        ("int8", "int8"),
        ("pca128/int8", "pca128/int8"),
        ("mrl256/binary+rerank10", "mrl256/binary+rerank10"),
        ("opq48/pq48x8+rerank4", "opq48/pq48x8+rerank4"),
        ("opq48/pq48+rerank4", "opq48/pq48x8+rerank4"),
        ("itq/binary", "itq/binary"),
        ("rbq2", "rbq2"),
        ("rabitq", "rabitq1"),
        ("pca256/rabitq2+rerank4", "pca256/rabitq2+rerank4"),
        ("rp128/f16", "rp128/f16"),
        ("pca128", "pca128/f32"),
        (" PCA64 / Int8 + Rerank2 ", "pca64/int8+rerank2"),
    ],
)
def test_parse_and_print(text, canonical):
    spec = parse_spec(text)
    assert spec.to_spec() == canonical
    assert parse_spec(spec.to_spec()) == spec


@pytest.mark.parametrize(
    "d, spec, expected",
    [
        (384, "f32", 1536),
        (384, "f16", 768),
        (384, "int8", 384),
        (384, "int4", 192),
        (385, "int4", 193),
        (384, "binary+rerank10", 48),
        (13, "binary", 2),
        (384, "rbq2+rerank4", 96),
        (384, "pca128/int8", 128),
        (384, "pq48x8", 48),
        (384, "pq96x4", 48),
        (768, "mrl256/binary", 32),
        (384, "opq48/pq48", 48),
        (384, "itq/binary", 48),
        (384, "rabitq", 56),
        (384, "rabitq4+rerank4", 212),
        (100, "rabitq3", 58),
    ],
)
def test_bytes_per_vector(d, spec, expected):
    assert bytes_per_vector(d, spec) == expected


def test_bytes_per_vector_matches_a_fitted_codec(make_data):
    from lowdim import Pipeline

    X = make_data(600, 64, 8)
    for spec in ["int4", "rbq3", "pq16x4", "pca24/binary", "pq8", "rabitq", "pca24/rabitq3"]:
        assert Pipeline(spec).fit(X).code_size == bytes_per_vector(64, spec)


@pytest.mark.parametrize(
    "text, match",
    [
        ("pqq48", r"unknown piece 'pqq48' in spec 'pqq48'\. Did you mean 'pq'\? Valid pieces: pca<d>"),
        ("int9", r"unknown piece 'int9' in spec 'int9'.*Valid pieces:.*int8, int4"),
        ("rabitq9", r"RaBitQ takes 1 to 8 bits per dimension; got 9"),
        ("int8/pca64", r"'pca64' comes after the quantizer 'int8' in spec 'int8/pca64'"),
        ("int8+rerank", r"unknown suffix 'rerank' in spec 'int8\+rerank'"),
        ("int8+rerank0", r"rerank factor in spec 'int8\+rerank0' must be >= 1"),
        ("int8+rerank2+rerank4", r"more than one '\+' suffix"),
        ("pca64//int8", r"empty stage in spec 'pca64//int8'"),
        ("", r"empty spec"),
        ("pq48x5", r"PQ supports 4 or 8 bits per sub-code; got 5"),
        ("pca0/int8", r"needs a size >= 1"),
    ],
)
def test_parse_errors_name_the_piece_and_the_whole(text, match):
    with pytest.raises(SpecError, match=match):
        parse_spec(text)


def test_non_string_spec():
    with pytest.raises(SpecError, match="a spec must be a string"):
        parse_spec(128)


@pytest.mark.parametrize(
    "d, spec, match",
    [
        (384, "pq50", r"The 'm' parameter of pq must divide n_features=384 \(in spec 'pq50x8'\)\. Got 50\."),
        (384, "pca512/int8", r"'pca512' in spec 'pca512/int8' asks for 512 dimensions, but its input has only 384"),
        (384, "pca100/pq32", r"must divide n_features=100"),
    ],
)
def test_width_errors(d, spec, match):
    with pytest.raises(ParameterError, match=match):
        bytes_per_vector(d, spec)


def test_bad_width_argument():
    with pytest.raises(ParameterError, match="'d' parameter of bytes_per_vector must be a positive integer"):
        bytes_per_vector(0, "int8")


_transforms = st.sampled_from(["pca32", "mrl16", "rp24", "itq", "opq8"])
_quantizers = st.sampled_from(["f32", "f16", "int8", "int4", "binary", "hamming", "rbq2", "rbq3", "rabitq2", "pq8x8", "pq8x4"])


@settings(max_examples=200, deadline=None)
@given(st.lists(_transforms, max_size=2), _quantizers, st.one_of(st.none(), st.integers(1, 50)))
def test_round_trip_invariant(transforms, quantizer, rerank):
    text = "/".join([*transforms, quantizer]) + (f"+rerank{rerank}" if rerank else "")
    spec = parse_spec(text)
    assert spec.to_spec() == text
    assert spec.rerank == rerank
    assert parse_spec(spec.to_spec()) == spec


def test_with_rerank_shares_the_fitted_stages(make_data, tmp_path):
    from lowdim import Pipeline, load_codec

    X = make_data(600, 32, 6)
    base = Pipeline("pca16/int8", metric="cosine", random_state=3).fit(X)
    pipe = base.with_rerank(4)
    assert pipe.to_spec() == "pca16/int8+rerank4" and pipe.rerank == 4 and base.to_spec() == "pca16/int8"
    assert (
        pipe.quantizer is base.quantizer and pipe.transforms[0] is base.transforms[0] and pipe.transforms is not base.transforms
    )
    assert (pipe.metric, pipe.random_state, pipe.max_train) == (base.metric, base.random_state, base.max_train)
    np.testing.assert_array_equal(pipe.encode(X), base.encode(X))
    loaded = load_codec(pipe.save(tmp_path / "codec.npz"))
    assert loaded.to_spec() == "pca16/int8+rerank4"
    np.testing.assert_array_equal(loaded.encode(X), base.encode(X))
    for none in (None, 0):
        assert pipe.with_rerank(none).to_spec() == "pca16/int8" and pipe.with_rerank(none).rerank is None
    assert Pipeline("int8").with_rerank(2).to_spec() == "int8+rerank2"  # unfitted works too
    with pytest.raises(
        ParameterError, match=r"The 'factor' parameter of Pipeline.with_rerank must be an integer >= 0\. Got -1\."
    ):
        base.with_rerank(-1)


def test_stage_questions_go_to_the_registry():
    s = parse_spec("pca128/rbq2")
    assert s.transforms[0].kind == "transform" and s.quantizer.kind == "quantizer"
    assert s.quantizer.bits_per_dim == 2 and s.transforms[0].bits_per_dim is None
    with pytest.raises(SpecError, match="'pca128' is not a quantizer"):
        s.transforms[0].code_size(384)


@pytest.mark.parametrize(
    "spec, rows, fit_rows, reason",
    [
        ("f16", 1, 1, "it learns nothing"),
        ("int8+rerank4", 256, 1, "int8 learns its calibration from at least 256 vectors"),
        ("pq96x4", 624, 16, "PQ needs 39 vectors per centroid"),
        ("pca128/pq32x8", 9984, 256, "PQ needs 39 vectors per centroid"),
        ("opq48/pq48x8", 9984, 256, "OPQ fits an 8-bit PQ: 39 vectors per centroid"),
        ("pca300/int8", 300, 1, "PCA needs at least 300 vectors"),
        ("itq/binary", 384, 1, "ITQ needs at least 384 vectors"),
    ],
)
def test_training_minimum_and_its_reason_come_from_the_registry(spec, rows, fit_rows, reason):
    s = parse_spec(spec)
    assert (s.min_train_rows(384), s.min_fit_rows(384), s.min_train_reason(384)) == (rows, fit_rows, reason)


def test_hnsw_index_prefix():
    from lowdim.spec import bytes_per_vector, parse_index_spec

    s = parse_index_spec("hnsw32/pca128/int8+rerank4")
    assert (s.kind, s.params, s.codec.to_spec(), s.to_spec()) == ("hnsw", {"m": 32}, "pca128/int8+rerank4", str(s))
    assert str(s) == "hnsw32/pca128/int8+rerank4"
    assert bytes_per_vector(384, "hnsw16/pq96x8") == 96 + 2 * 16 * 4  # the code + 2M int32 level-0 links
    for bad, msg in [
        ("hnsw1/int8", "needs M >= 2 links per node"),
        ("hnsw32", "needs a codec after it"),
        ("hnsw32/ivf16/int8", "more than one index prefix"),
    ]:
        with pytest.raises(SpecError, match=msg):
            parse_index_spec(bad)
    with pytest.raises(SpecError, match="is an index, not a codec stage"):
        parse_spec("hnsw32/int8")


@pytest.mark.parametrize("spec", ["pq8x4", "pq8x8+rerank2", "pca16/int8", "rabitq", "itq/binary"])
def test_a_fitted_pipeline_pickles_as_its_saved_file(spec):
    """Fitted FAISS objects cannot be pickled; a pipeline sent to another process (Ray) goes as its saved bytes."""
    import copy
    import pickle

    X = np.random.default_rng(0).normal(size=(2000, 32)).astype(np.float32)
    p = Pipeline(spec).fit(X)
    q = pickle.loads(pickle.dumps(p))
    assert q.to_spec() == p.to_spec() and np.array_equal(q.encode(X[:50]), p.encode(X[:50]))
    assert copy.copy(p).quantizer is p.quantizer  # a shallow copy still shares the fitted stages
    assert not pickle.loads(pickle.dumps(Pipeline(spec))).is_fitted
