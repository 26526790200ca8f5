"""The spec string: lowdim's vocabulary for a compression pipeline.

Stages are joined by ``/``: transforms first, one quantizer last, then an optional
``+rerank<N>``. Examples: ``f32``, ``int8``, ``pca128/int8``, ``mrl256/binary+rerank10``,
``opq48/pq48x8+rerank4``, ``itq/binary``, ``rbq2``, ``rp128/f16``.

The pieces are those of the codec registry (:data:`lowdim.codecs.CODECS`), listed in
:data:`VALID_PIECES`: each codec class declares its keyword, its arguments and their
defaults (``pq<m>`` is ``pq<m>x8``, ``rabitq`` is ``rabitq1``), their valid ranges, its
size formula and its width checks; this module only splits the string and asks them.
A spec without a quantizer (``pca128``) means float32 codes (``pca128/f32``).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from ..codecs import CODECS, REGISTERED, Codec, FaissEquivalent, Quantizer, Transform, codec_class
from ..exceptions import ParameterError, SpecError

__all__ = [
    "StageSpec",
    "Spec",
    "IndexSpec",
    "parse_spec",
    "parse_index_spec",
    "bytes_per_vector",
    "SpecLike",
    "VALID_PIECES",
    "ID_BYTES",
]

_RERANK = re.compile(r"rerank(\d+)")
_INDEX = re.compile(r"(ivf|hnsw)(\d+)")
#: the parameter the number after each index prefix sets
_INDEX_PARAM = {"ivf": "nlist", "hnsw": "m"}
#: bytes of the int64 id an index keeps per vector beside its code
ID_BYTES = 8

VALID_PIECES = (
    ", ".join(c.synopsis for c in REGISTERED if c.kind == "transform")
    + " (transforms); "
    + ", ".join(c.synopsis for c in REGISTERED if c.kind == "quantizer")
    + " (quantizers); and an optional final +rerank<N>"
)


@dataclass(frozen=True)
class StageSpec:
    """One stage: its keyword (``"pca"``) and integer arguments (``(128,)``).

    Everything else is asked of the registered codec class (:attr:`codec`).

    Examples
    --------
    >>> st = parse_spec("pq96x4").quantizer
    >>> st.codec.__name__, st.code_size(384), st.faiss_equivalent().piece, st.relies_on_centring
    ('ProductQuantizer', 48, 'PQ96x4', False)
    """

    keyword: str
    args: tuple[int, ...] = ()

    @property
    def codec(self) -> type[Codec]:
        """The registered codec class of this stage."""
        return codec_class(self.keyword)

    @property
    def kind(self) -> str:
        """``"transform"`` or ``"quantizer"``."""
        return self.codec.kind

    def to_spec(self) -> str:
        return self.codec.piece(self.args)

    def output_dim(self, d: int) -> int:
        """Width after this stage for input width ``d`` (a quantizer keeps it)."""
        codec = self.codec
        return codec.output_dim_for(self.args, d) if issubclass(codec, Transform) else d

    def code_size(self, d: int) -> int:
        """Bytes per vector of this quantizer for input width ``d``."""
        codec = self.codec
        if not issubclass(codec, Quantizer):
            raise SpecError(f"{self.to_spec()!r} is not a quantizer")
        return codec.code_size_for(self.args, d)

    def min_train_rows(self, d: int) -> int:
        """Fewest training vectors this stage needs on ``d``-dimensional input (see :meth:`Spec.min_train_rows`)."""
        return self.codec.min_train_rows(self.args, d)

    def min_train_reason(self, d: int) -> str:
        """Why this stage needs :meth:`min_train_rows` vectors, as a phrase ("PQ needs 39 vectors per centroid")."""
        return self.codec.min_train_reason(self.args, d)

    def min_fit_rows(self, d: int) -> int:
        """Fewest training vectors with which this stage can be fitted at all."""
        return self.codec.min_fit_rows(self.args, d)

    def check(self, d: int, whole: str) -> None:
        """Raise a :class:`ParameterError` if this stage cannot take input width ``d``."""
        self.codec.check_width(self.args, d, whole)

    def faiss_equivalent(self) -> FaissEquivalent | None:
        """FAISS's nearest counterpart of this stage (see :class:`lowdim.codecs.FaissEquivalent`), or None."""
        return self.codec.faiss_equivalent(self.args)

    @property
    def bits_per_dim(self) -> float | None:
        """Code bits per dimension of a quantizer (None for transforms and PQ)."""
        codec = self.codec
        return codec.bits_per_dim(self.args) if issubclass(codec, Quantizer) else None

    @property
    def relies_on_centring(self) -> bool:
        """True for the sign-code family (binary, hamming, rbq, rabitq)."""
        codec = self.codec
        return issubclass(codec, Quantizer) and codec.relies_on_centring()


@dataclass(frozen=True)
class Spec:
    """A parsed spec string: transforms, one quantizer and an optional rerank factor.

    Examples
    --------
    >>> s = parse_spec("pca128/int8+rerank4")
    >>> s.quantizer.keyword, s.rerank, s.to_spec()
    ('int8', 4, 'pca128/int8+rerank4')
    >>> s.bytes_per_vector(384)
    128
    """

    transforms: tuple[StageSpec, ...]
    quantizer: StageSpec
    rerank: int | None = None

    def to_spec(self) -> str:
        body = "/".join([t.to_spec() for t in self.transforms] + [self.quantizer.to_spec()])
        return body + (f"+rerank{self.rerank}" if self.rerank else "")

    def __str__(self) -> str:
        return self.to_spec()

    @property
    def relies_on_centring(self) -> bool:
        """True if the quantizer is a sign code of directions from the data centre (binary, hamming, rbq, rabitq).

        >>> parse_spec("pca128/rbq2+rerank4").relies_on_centring, parse_spec("int8").relies_on_centring
        (True, False)
        """
        return self.quantizer.relies_on_centring

    def without_rerank(self) -> Spec:
        return Spec(self.transforms, self.quantizer, None)

    def with_rerank(self, rerank: int | None) -> Spec:
        return Spec(self.transforms, self.quantizer, rerank or None)

    def output_dim(self, d: int) -> int:
        """Width the quantizer sees for input width ``d``."""
        for t in self.transforms:
            d = t.output_dim(d)
        return d

    def check(self, d: int) -> None:
        """Raise a :class:`ParameterError` if the spec cannot apply to ``d``-dimensional input."""
        whole = self.to_spec()
        for t in self.transforms:
            t.check(d, whole)
            d = t.output_dim(d)
        self.quantizer.check(d, whole)

    def min_train_rows(self, d: int) -> int:
        """Fewest vectors a fit of this spec on ``d``-dimensional data needs to be worth using.

        The rule, by codec family: nothing to learn (``f32``, ``f16``, ``mrl``, ``rp``): 1;
        scalar ranges, sign-code means and scales, RaBitQ's centre: 256; ``pca<p>``: at least
        ``p``; ``itq``: at least ``d``; PQ: 39 per centroid (FAISS's k-means minimum), so
        624 rows for ``pq<m>x4`` and 9,984 for ``pq<m>x8`` and OPQ. A pipeline needs the most
        any of its stages needs.

        >>> parse_spec("int8+rerank4").min_train_rows(384), parse_spec("pca128/pq32x8").min_train_rows(384)
        (256, 9984)
        """
        return max(stage.min_train_rows(width) for stage, width in self._stages(d))

    def min_train_reason(self, d: int) -> str:
        """Why :meth:`min_train_rows` is what it is: the reason of the stage that needs the most.

        >>> parse_spec("pca128/pq32x8").min_train_reason(384)
        'PQ needs 39 vectors per centroid'
        """
        stage, width = max(self._stages(d), key=lambda sw: sw[0].min_train_rows(sw[1]))
        return stage.min_train_reason(width)

    def min_fit_rows(self, d: int) -> int:
        """Fewest training vectors with which every stage can be fitted at all (PQ: one per centroid)."""
        return max(stage.min_fit_rows(width) for stage, width in self._stages(d))

    def _stages(self, d: int) -> list[tuple[StageSpec, int]]:
        """Every stage with the width of its input, transforms first."""
        out = []
        for t in self.transforms:
            out.append((t, d))
            d = t.output_dim(d)
        return out + [(self.quantizer, d)]

    def bytes_per_vector(self, d: int) -> int:
        """RAM bytes of one code for ``d``-dimensional input (pure arithmetic)."""
        self.check(d)
        return self.quantizer.code_size(self.output_dim(d))


SpecLike = str | Spec


def _match(piece: str) -> StageSpec | None:
    # the registry's order: a piece that two codecs could spell goes to the first (none can today)
    for keyword, cls in CODECS.items():
        args = cls.match_piece(piece)
        if args is not None:
            return StageSpec(keyword, args)
    return None


def _unknown(piece: str, whole: str, why: str = "unknown piece") -> SpecError:
    stem = re.sub(r"\d+", "", piece.split("x")[0]) or piece
    close = difflib.get_close_matches(stem, [*CODECS, "rerank"], n=1, cutoff=0.5)
    hint = f" Did you mean '{close[0]}'?" if close and close[0] != stem else ""
    return SpecError(f"{why} '{piece}' in spec '{whole}'.{hint} Valid pieces: {VALID_PIECES}")


def parse_spec(spec: SpecLike) -> Spec:
    """Parse a spec string into a :class:`Spec` (a ``Spec`` passes through).

    Raises :class:`SpecError` naming the failing piece and the whole string.

    Examples
    --------
    >>> parse_spec("opq48/pq48+rerank4").to_spec()
    'opq48/pq48x8+rerank4'
    """
    if isinstance(spec, Spec):
        return spec
    if not isinstance(spec, str):
        raise SpecError(f"a spec must be a string such as 'pca128/int8+rerank4'; got {type(spec).__name__}")
    whole = spec
    text = spec.strip().lower().replace(" ", "")
    if not text:
        raise SpecError(f"empty spec; expected e.g. 'int8' or 'pca128/int8+rerank4'. Valid pieces: {VALID_PIECES}")
    rerank = None
    if "+" in text:
        body, *extras = text.split("+")
        if len(extras) != 1:
            raise SpecError(f"spec '{whole}' has more than one '+' suffix; only one '+rerank<N>' is allowed")
        m = _RERANK.fullmatch(extras[0])
        if not m:
            raise _unknown(extras[0], whole, "unknown suffix")
        rerank = int(m.group(1))
        if rerank < 1:
            raise SpecError(f"rerank factor in spec '{whole}' must be >= 1; got {rerank}")
        text = body
    pieces = text.split("/")
    if _INDEX.fullmatch(pieces[0]):
        raise SpecError(
            f"'{pieces[0]}' in spec '{whole}' is an index, not a codec stage: parse the whole string with "
            f"parse_index_spec, and give a codec only the part after the first '/'"
        )
    transforms: list[StageSpec] = []
    quantizer: StageSpec | None = None
    for piece in pieces:
        if not piece:
            raise SpecError(f"empty stage in spec '{whole}' (two '/' in a row, or one at an end)")
        if quantizer is not None:
            raise SpecError(
                f"'{piece}' comes after the quantizer '{quantizer.to_spec()}' in spec '{whole}'; "
                f"the quantizer must be the last stage"
            )
        stage = _match(piece)
        if stage is None:
            raise _unknown(piece, whole)
        stage.codec.check_args(stage.args, f"'{piece}' in spec '{whole}'")
        if stage.kind == "transform":
            transforms.append(stage)
        else:
            quantizer = stage
    if quantizer is None:
        quantizer = StageSpec("f32")
    return Spec(tuple(transforms), quantizer, rerank)


@dataclass(frozen=True)
class IndexSpec:
    """A spec string with an optional index prefix: ``ivf<nlist>/<codec spec>`` or ``hnsw<M>/<codec spec>``.

    Attributes
    ----------
    kind : str
        ``"ivf"`` (inverted file over the codes, :class:`lowdim.search.IVFIndex`), ``"hnsw"``
        (an HNSW graph whose nodes hold the codes, :class:`lowdim.search.CodeGraph`, ``M``
        links per node and level) or ``"flat"`` (no prefix: a linear scan).
    params : dict
        ``{"nlist": 1024}`` for ``ivf1024``, ``{"m": 32}`` for ``hnsw32``; empty for ``"flat"``.
    codec : Spec
        The codec spec, parsed exactly as :func:`parse_spec` parses it.

    Examples
    --------
    >>> s = parse_index_spec("ivf1024/pq96x4+rerank10")
    >>> s.kind, s.params, s.codec.to_spec(), s.to_spec()
    ('ivf', {'nlist': 1024}, 'pq96x4+rerank10', 'ivf1024/pq96x4+rerank10')
    >>> s.bytes_per_vector(384)  # 48 code bytes + the 8-byte id
    56
    >>> parse_index_spec("hnsw32/int8+rerank4").bytes_per_vector(384)  # 384 code bytes + 2 × 32 level-0 links
    640
    """

    kind: str
    params: dict[str, int]
    codec: Spec

    def to_spec(self) -> str:
        if self.kind == "flat":
            return self.codec.to_spec()
        return f"{self.kind}{self.params[_INDEX_PARAM[self.kind]]}/{self.codec.to_spec()}"

    def __str__(self) -> str:
        return self.to_spec()

    def bytes_per_vector(self, d: int) -> int:
        """RAM bytes per vector: the code, plus the int64 id an IVF list keeps with it, or the
        2M int32 level-0 links of an HNSW node.

        The coarse centroids (nlist × d × 4 bytes in all) are not counted: they do not grow
        with the collection; nor are an HNSW graph's upper levels and offsets (about 16 bytes
        more per node, see :attr:`lowdim.search.CodeGraph.bytes_per_vector`).
        """
        code = self.codec.bytes_per_vector(d)
        if self.kind == "ivf":
            return code + ID_BYTES
        if self.kind == "hnsw":
            return code + 2 * self.params["m"] * 4
        return code


def parse_index_spec(spec: str | IndexSpec) -> IndexSpec:
    """Split an index prefix (``ivf<nlist>/`` or ``hnsw<M>/``) off a spec string and parse the codec spec after it.

    Without a prefix the index is ``"flat"`` (a linear scan of the codes).

    Examples
    --------
    >>> parse_index_spec("ivf256/pca128/int8+rerank4").params, parse_index_spec("int8").kind
    ({'nlist': 256}, 'flat')
    """
    if isinstance(spec, IndexSpec):
        return spec
    if not isinstance(spec, str):
        raise SpecError(f"a spec must be a string such as 'ivf1024/pq96x4+rerank10'; got {type(spec).__name__}")
    text = spec.strip().lower().replace(" ", "")
    head, sep, rest = text.partition("/")
    m = _INDEX.fullmatch(head)
    if m is None:
        return IndexSpec("flat", {}, parse_spec(spec))
    kind, value = m.group(1), int(m.group(2))
    if kind == "ivf" and value < 1:
        raise SpecError(f"'{head}' in spec '{spec}': an IVF index needs nlist >= 1; got {value}")
    if kind == "hnsw" and value < 2:
        raise SpecError(f"'{head}' in spec '{spec}': an HNSW graph needs M >= 2 links per node; got {value}")
    if not sep or not rest:
        raise SpecError(f"'{head}' in spec '{spec}' needs a codec after it, e.g. '{head}/pq96x4+rerank10'")
    if _INDEX.fullmatch(rest.split("/")[0]):
        raise SpecError(f"spec '{spec}' has more than one index prefix; only one 'ivf<nlist>/' or 'hnsw<M>/' is allowed")
    try:
        codec = parse_spec(rest)
    except SpecError as exc:
        raise SpecError(f"{exc} (the codec part of index spec '{spec}')") from None
    return IndexSpec(kind, {_INDEX_PARAM[kind]: value}, codec)


def bytes_per_vector(d: int, spec: SpecLike | IndexSpec) -> int:
    """RAM bytes per vector of ``spec`` on ``d``-dimensional input, from the string alone.

    Full vectors kept on disk for ``+rerank`` are not counted (they are disk bytes). An
    ``ivf<nlist>/`` prefix adds the 8-byte int64 id each inverted list keeps per vector
    (the centroids, a fixed nlist × d × 4 bytes, are not counted); an ``hnsw<M>/`` prefix
    adds the 2M int32 level-0 links of each graph node.

    Examples
    --------
    >>> bytes_per_vector(384, "binary+rerank10"), bytes_per_vector(384, "pca128/int8"), bytes_per_vector(768, "pq48")
    (48, 128, 48)
    >>> bytes_per_vector(384, "ivf1024/pq96x4+rerank10")
    56
    """
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise ParameterError(f"The 'd' parameter of bytes_per_vector must be a positive integer. Got {d!r}.")
    if isinstance(spec, Spec):
        return spec.bytes_per_vector(d)
    return parse_index_spec(spec).bytes_per_vector(d)
