"""The codec registry: every registered class declares its grammar, size, widths, training needs,
traits and FAISS counterpart, and those declarations agree with the fitted codecs and with FAISS.

Every test here is parametrised over the registry itself, so a codec added to it is covered
without touching this file (its ``examples`` must be non-empty).
"""

from __future__ import annotations

from typing import Any, ClassVar

import faiss
import numpy as np
import pytest

from lowdim import Pipeline, bytes_per_vector, load_codec, parse_spec
from lowdim.codecs import (
    CODECS,
    PCA,
    REGISTERED,
    Args,
    Codec,
    ProductQuantizer,
    Quantizer,
    Transform,
    build_stage,
    codec_class,
    relies_on_centring,
)
from lowdim.exceptions import ParameterError, SpecError
from lowdim.search import CodeIndex, DecodeScanner
from lowdim.spec import VALID_PIECES

#: (keyword, example piece) for every example of every registered codec
EXAMPLES = [(cls.keyword, ex) for cls in REGISTERED for ex in cls.examples]
#: widths tried for each example (those the stage accepts); odd ones exercise padding
WIDTHS = (8, 13, 24, 40, 64)


def _stage(example: str):
    s = parse_spec(example)
    return s.transforms[0] if s.transforms else s.quantizer


def _widths(example: str) -> list[int]:
    out = []
    for d in WIDTHS:
        try:
            parse_spec(example).check(d)
        except ParameterError:
            continue
        if _stage(example).output_dim(d) <= d:  # a projection to more dimensions is legal but pointless
            out.append(d)
    return out


@pytest.fixture(scope="module")
def data():
    """Seeded low-rank rows of width 64; narrower widths take the leading columns."""
    rng = np.random.default_rng(7)
    X = rng.standard_normal((300, 6)) @ rng.standard_normal((6, 64)) + 0.1 * rng.standard_normal((300, 64))
    return (X + 0.3).astype(np.float32)


def test_the_registry_is_one_list():
    assert list(CODECS) == [cls.keyword for cls in REGISTERED]
    assert len(set(CODECS)) == len(REGISTERED)
    kinds = [cls.kind for cls in REGISTERED]
    assert kinds == sorted(kinds, reverse=True), "transforms first, then quantizers"
    for keyword, cls in CODECS.items():
        assert issubclass(cls, Transform if cls.kind == "transform" else Quantizer), keyword
        assert cls.synopsis and cls.synopsis in VALID_PIECES, keyword
        assert cls.examples, f"{keyword} declares no example pieces"
        assert codec_class(keyword) is cls
    with pytest.raises(SpecError, match="unknown codec keyword 'nope'; registered: pca, mrl"):
        codec_class("nope")


@pytest.mark.parametrize("keyword, example", EXAMPLES)
def test_grammar_round_trips(keyword, example):
    cls = CODECS[keyword]
    spec = parse_spec(example)
    assert parse_spec(spec.to_spec()) == spec
    stage = _stage(example)
    assert stage.keyword == keyword and stage.kind == cls.kind
    canonical = cls.piece(stage.args)
    assert stage.to_spec() == canonical and cls.match_piece(canonical) == stage.args
    codec = build_stage(keyword, stage.args)
    assert type(codec) is cls and codec.to_spec() == canonical and codec.spec_args() == stage.args


@pytest.mark.parametrize("keyword, example", EXAMPLES)
def test_declared_size_equals_the_fitted_codec(keyword, example, data):
    cls = CODECS[keyword]
    args = _stage(example).args
    widths = _widths(example)
    assert len(widths) >= 2, f"{example} accepts fewer than two of {WIDTHS}"
    for d in widths:
        X = np.ascontiguousarray(data[:, :d])
        codec = build_stage(keyword, args, random_state=0)
        if isinstance(codec, Transform):
            assert issubclass(cls, Transform)
            Y = codec.fit(X).transform(X)
            assert Y.shape[1] == codec.n_features_out_ == cls.output_dim_for(args, d) == codec.output_dim(d), (example, d)
        else:
            assert issubclass(cls, Quantizer) and isinstance(codec, Quantizer)
            codes = codec.fit(X).encode(X)
            declared = cls.code_size_for(args, d)
            assert codes.shape == (len(X), codec.code_size) and codec.code_size == declared, (example, d)
            assert bytes_per_vector(d, example) == declared


#: the byte layouts that are FAISS's own (same codes, same sa_code_size)
EXACT = {"f32", "f16", "int8", "int4", "pq", "rabitq"}


def test_exact_faiss_counterparts_are_the_expected_ones():
    exact = set()
    for keyword, cls in CODECS.items():
        if issubclass(cls, Quantizer):
            eq = cls.faiss_equivalent(_stage(cls.examples[0]).args)
            if eq is not None and eq.exact:
                exact.add(keyword)
    assert exact == EXACT


@pytest.mark.parametrize("keyword, example", EXAMPLES)
def test_faiss_piece_builds_and_matches_the_code_size(keyword, example, data):
    cls = CODECS[keyword]
    stage = _stage(example)
    eq = stage.faiss_equivalent()
    if eq is None or not eq.piece:
        assert eq is None or eq.notes, f"{example}: a counterpart without a piece must say what to do instead"
        return
    for d in _widths(example):
        pieces = [eq.piece] + ([eq.deploy] if eq.deploy else [])
        if cls.kind == "transform":
            for piece in pieces:
                index = faiss.index_factory(d, f"{piece},Flat")
                if eq.exact:
                    vt = faiss.downcast_VectorTransform(faiss.downcast_index(index).chain.at(0))
                    assert vt.d_out == stage.output_dim(d), (example, d)
            continue
        if not eq.exact:
            for piece in pieces:
                faiss.index_factory(d, piece)
            continue
        X = np.ascontiguousarray(data[:, :d])
        ours = Pipeline(example, metric="l2").fit(X)
        for piece in pieces:
            index = faiss.index_factory(d, piece, faiss.METRIC_L2)
            assert index.sa_code_size() == ours.code_size, (example, piece, d)
        if keyword == "f32":  # nothing to train: byte-identical codes
            np.testing.assert_array_equal(ours.encode(X), faiss.index_factory(d, eq.piece).sa_encode(X))
        if keyword == "f16":  # FAISS's fast fp16 conversion rounds a rare tie the other way: at most 1 ulp apart
            theirs = faiss.index_factory(d, eq.piece).sa_encode(X).view(np.uint16).astype(np.int32)
            assert np.abs(ours.encode(X).view(np.uint16).astype(np.int32) - theirs).max() <= 1


def test_faiss_pieces_of_both_uses():
    """The benchmark runs the plain piece, the export deploys the fast-scan one where there is one."""
    cases = {
        "int8": ("SQ8", None),
        "pq48": ("PQ48", "PQ48np"),
        "pq96x4": ("PQ96x4", "PQ96x4fs"),
        "rabitq2": ("RaBitQ2", None),
        "rabitq": ("RaBitQ", None),
        "rbq3": ("RaBitQ3", None),
        "binary": ("RaBitQ", None),
    }
    for piece, (plain, deploy) in cases.items():
        eq = parse_spec(piece).quantizer.faiss_equivalent()
        assert eq is not None and (eq.piece, eq.deploy) == (plain, deploy), piece
    pca = parse_spec("pca128").transforms[0].faiss_equivalent()
    opq = parse_spec("opq48").transforms[0].faiss_equivalent()
    assert pca is not None and opq is not None and (pca.piece, opq.piece) == ("PCA128", "OPQ48")


def test_sign_code_traits():
    sign = {k for k in CODECS if relies_on_centring(k)}
    assert sign == {"binary", "hamming", "rbq", "rabitq"}
    bits = {k: cls.bits_per_dim(_stage(cls.examples[0]).args) for k, cls in CODECS.items() if issubclass(cls, Quantizer)}
    assert bits == {"f32": 32, "f16": 16, "int8": 8, "int4": 4, "binary": 1, "hamming": 1, "rbq": 2, "rabitq": 2, "pq": None}
    assert parse_spec("pca128/rbq2+rerank4").relies_on_centring and parse_spec("itq/binary").relies_on_centring
    assert not parse_spec("pca128/int8").relies_on_centring and not parse_spec("pq48").relies_on_centring
    flat = {k for k, cls in CODECS.items() if (eq := cls.faiss_equivalent(_stage(cls.examples[0]).args)) and eq.binary_flat}
    assert flat == {"binary", "hamming"}
    assert {k for k, cls in CODECS.items() if issubclass(cls, Quantizer) and cls.binary_query} == {"hamming"}
    notes = parse_spec("hamming").quantizer.faiss_equivalent()
    assert notes is not None and not notes.exact and "IndexBinaryFlat" in notes.notes[-1]


@pytest.mark.parametrize(
    "piece, d, rows",
    [
        ("f32", 384, 1),
        ("f16", 384, 1),
        ("mrl128", 384, 1),
        ("rp128", 384, 1),
        ("int8", 384, 256),
        ("int4", 384, 256),
        ("binary", 384, 256),
        ("hamming", 384, 256),
        ("rbq2", 384, 256),
        ("rabitq3", 384, 256),
        ("pca128", 384, 256),
        ("pca300", 384, 300),
        ("itq", 384, 384),
        ("itq", 64, 256),
        ("pq48x8", 384, 9984),
        ("pq96x4", 384, 624),
        ("opq48", 384, 9984),
    ],
)
def test_min_train_rows_by_family(piece, d, rows):
    assert _stage(piece).min_train_rows(d) == rows


def test_width_checks_on_a_codec_used_alone():
    X = np.random.default_rng(0).standard_normal((300, 16)).astype(np.float32)
    with pytest.raises(ParameterError, match=r"The 'n_components' parameter of pca must be at most n_features=16\. Got 32\."):
        PCA(32).fit(X)
    with pytest.raises(ParameterError, match=r"The 'm' parameter of pq must divide n_features=16\. Got 5\. Valid values"):
        ProductQuantizer(5).fit(X)


# -- adding a codec takes one class and one registry entry -------------------------------------------


class _Clip(Quantizer):
    """A toy codec: ``clip<b>`` keeps b bits per dimension of values clipped to [-1, 1], one byte each."""

    keyword = "clip"
    args_pattern = r"(\d+)?"
    arg_defaults = (8,)
    synopsis = "clip<bits>"
    examples = ("clip4", "clip")
    family = "scalar"
    _params: ClassVar[tuple[str, ...]] = ("bits",)

    def __init__(self, bits: int = 8) -> None:
        self.bits = bits

    @classmethod
    def check_args(cls, args: Args, where: str) -> None:
        if not 1 <= args[0] <= 8:
            raise SpecError(f"{where}: clip keeps 1 to 8 bits; got {args[0]}")

    @classmethod
    def code_size_for(cls, args: Args, d: int) -> int:
        return d

    @classmethod
    def bits_per_dim(cls, args: Args) -> float:
        return args[0]

    @classmethod
    def min_train_rows(cls, args: Args, d: int) -> int:
        return 1

    @classmethod
    def from_args(cls, args: Args, *, metric: str = "ip", random_state: int = 0) -> Codec:
        return cls(args[0])

    def spec_args(self) -> Args:
        return (self.bits,)

    def fit(self, X: Any) -> _Clip:
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def encode(self, X: Any) -> np.ndarray:
        levels = (1 << self.bits) - 1
        return np.round((np.clip(self._check_input(X), -1, 1) + 1) / 2 * levels).astype(np.uint8)

    def decode(self, codes: Any) -> np.ndarray:
        levels = (1 << self.bits) - 1
        return (self._check_codes(codes).astype(np.float32) / levels * 2 - 1).astype(np.float32)

    def make_scanner(self, metric: str) -> DecodeScanner:
        return DecodeScanner(metric, self.code_size, self.decode)


def test_a_new_codec_needs_only_its_class_and_a_registry_entry(monkeypatch, tmp_path, data):
    monkeypatch.setitem(CODECS, "clip", _Clip)
    spec = parse_spec("pca16/clip+rerank2")
    assert spec.to_spec() == "pca16/clip8+rerank2" and spec.min_train_rows(64) == 256
    assert bytes_per_vector(64, "pca16/clip4") == 16 and not spec.relies_on_centring
    with pytest.raises(SpecError, match="'clip9' in spec 'clip9': clip keeps 1 to 8 bits; got 9"):
        parse_spec("clip9")
    pipe = Pipeline("pca16/clip6+rerank2", metric="cosine").fit(data)
    codes = pipe.encode(data)
    assert codes.shape == (len(data), 16)
    loaded = load_codec(pipe.save(tmp_path / "clip.npz"))
    np.testing.assert_array_equal(loaded.encode(data), codes)
    res = CodeIndex(loaded, codes, vectors=data).search(data[:5], 3)
    assert res.ids[:, 0].tolist() == [0, 1, 2, 3, 4]
