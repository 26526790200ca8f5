"""The spec string: lowdim's vocabulary for a compression pipeline.

Stages are joined by ``/``: transforms first, one quantizer last, then an optional
``+rerank<N>``. Examples: ``f32``, ``int8``, ``pca128/int8``, ``mrl256/binary+rerank10``,
``opq48/pq48x8+rerank4``, ``itq/binary``, ``rbq2``, ``rp128/f16``.

Pieces
------
transforms: ``pca<d>``, ``mrl<d>``, ``rp<d>``, ``opq<m>``, ``itq``
quantizers: ``f32``, ``f16``, ``int8``, ``int4``, ``binary``, ``hamming``, ``rbq<b>``,
``rabitq<b>`` (FAISS RaBitQ, 1 to 8 bits; ``rabitq`` is 1 bit), ``pq<m>`` / ``pq<m>x<nbits>``
(nbits 4 or 8; default 8)

A spec without a quantizer (``pca128``) means float32 codes (``pca128/f32``).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from ..exceptions import ParameterError, SpecError

#: training vectors per centroid below which FAISS's k-means warns (PQ and OPQ codebooks)
PQ_POINTS_PER_CENTROID = 39
#: training vectors the other learned codecs need at the least (ranges, means, scales, centres)
MIN_TRAIN_ROWS = 256

__all__ = ["StageSpec", "Spec", "parse_spec", "bytes_per_vector", "SpecLike", "VALID_PIECES"]

_TRANSFORM_PATTERNS = {
    "pca": re.compile(r"pca(\d+)"),
    "mrl": re.compile(r"mrl(\d+)"),
    "rp": re.compile(r"rp(\d+)"),
    "opq": re.compile(r"opq(\d+)"),
    "itq": re.compile(r"itq"),
}
_QUANTIZER_PATTERNS = {
    "f32": re.compile(r"f32"),
    "f16": re.compile(r"f16"),
    "int8": re.compile(r"int8"),
    "int4": re.compile(r"int4"),
    "binary": re.compile(r"binary"),
    "hamming": re.compile(r"hamming"),
    "rbq": re.compile(r"rbq(\d+)"),
    "rabitq": re.compile(r"rabitq(\d+)?"),
    "pq": re.compile(r"pq(\d+)(?:x(\d+))?"),
}
_RERANK = re.compile(r"rerank(\d+)")

VALID_PIECES = (
    "pca<d>, mrl<d>, rp<d>, opq<m>, itq (transforms); "
    "f32, f16, int8, int4, binary, hamming, rbq<bits>, rabitq<bits>, pq<m>x<nbits> (quantizers); "
    "and an optional final +rerank<N>"
)
_EXAMPLES = ["pca", "mrl", "rp", "opq", "itq", "f32", "f16", "int8", "int4", "binary", "hamming", "rbq", "rabitq", "pq", "rerank"]


@dataclass(frozen=True)
class StageSpec:
    """One stage: its keyword (``"pca"``) and integer arguments (``(128,)``)."""

    keyword: str
    args: tuple[int, ...] = ()

    @property
    def kind(self) -> str:
        return "transform" if self.keyword in _TRANSFORM_PATTERNS else "quantizer"

    def to_spec(self) -> str:
        if self.keyword == "pq":
            m, nbits = self.args
            return f"pq{m}x{nbits}"
        return self.keyword + "".join(str(a) for a in self.args)

    def output_dim(self, d: int) -> int:
        """Width after this stage for input width ``d`` (transforms only)."""
        if self.keyword in ("pca", "mrl", "rp"):
            return self.args[0]
        return d

    def code_size(self, d: int) -> int:
        """Bytes per vector of this quantizer for input width ``d``."""
        k = self.keyword
        padded_bytes = (d + 7) // 8
        if k == "f32":
            return 4 * d
        if k == "f16":
            return 2 * d
        if k == "int8":
            return d
        if k == "int4":
            return (d + 1) // 2
        if k in ("binary", "hamming"):
            return padded_bytes
        if k == "rbq":
            return self.args[0] * padded_bytes
        if k == "rabitq":
            from ..codecs import rabitq_code_size

            return rabitq_code_size(d, self.args[0])
        if k == "pq":
            m, nbits = self.args
            return (m * nbits + 7) // 8
        raise SpecError(f"{self.to_spec()!r} is not a quantizer")

    def min_train_rows(self, d: int) -> int:
        """Fewest training vectors this stage needs on ``d``-dimensional input (see :meth:`Spec.min_train_rows`)."""
        k, a = self.keyword, self.args
        if k in ("f32", "f16", "mrl", "rp"):
            return 1  # nothing is learned
        if k == "pq":
            return PQ_POINTS_PER_CENTROID * 2 ** a[1]
        if k == "opq":
            return PQ_POINTS_PER_CENTROID * 256  # the rotation is fitted with an 8-bit PQ
        if k == "pca":
            return max(MIN_TRAIN_ROWS, a[0])
        if k == "itq":
            return max(MIN_TRAIN_ROWS, d)
        return MIN_TRAIN_ROWS  # scalar ranges, sign-code means and scales, RaBitQ's centre

    def check(self, d: int, whole: str) -> None:
        """Raise a :class:`ParameterError` if this stage cannot take input width ``d``."""
        k, a = self.keyword, self.args
        if k in ("pca", "mrl") and a[0] > d:
            raise ParameterError(f"'{self.to_spec()}' in spec '{whole}' asks for {a[0]} dimensions, but its input has only {d}")
        if k in ("opq", "pq") and d % a[0]:
            divisors = [m for m in range(1, d + 1) if d % m == 0 and m <= 256]
            raise ParameterError(
                f"The 'm' parameter of {k} must divide n_features={d} (in spec '{whole}'). Got {a[0]}. "
                f"Valid values include {', '.join(map(str, divisors[-8:]))}."
            )


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
        need = 1
        for t in self.transforms:
            need = max(need, t.min_train_rows(d))
            d = t.output_dim(d)
        return max(need, self.quantizer.min_train_rows(d))

    def bytes_per_vector(self, d: int) -> int:
        """RAM bytes of one code for ``d``-dimensional input (pure arithmetic)."""
        self.check(d)
        return self.quantizer.code_size(self.output_dim(d))


SpecLike = str | Spec


def _match(piece: str, patterns: dict[str, re.Pattern]) -> StageSpec | None:
    for keyword, pattern in patterns.items():
        m = pattern.fullmatch(piece)
        if m:
            args = tuple(int(g) for g in m.groups() if g is not None)
            if keyword == "pq" and len(args) == 1:
                args = (args[0], 8)
            if keyword == "rabitq" and not args:
                args = (1,)
            return StageSpec(keyword, args)
    return None


def _unknown(piece: str, whole: str, why: str = "unknown piece") -> SpecError:
    stem = re.sub(r"\d+", "", piece.split("x")[0]) or piece
    close = difflib.get_close_matches(stem, _EXAMPLES, n=1, cutoff=0.5)
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
        stage = _match(piece, _TRANSFORM_PATTERNS)
        if stage is not None:
            if stage.args and stage.args[0] < 1:
                raise SpecError(f"'{piece}' in spec '{whole}' needs a size >= 1")
            transforms.append(stage)
            continue
        stage = _match(piece, _QUANTIZER_PATTERNS)
        if stage is None:
            raise _unknown(piece, whole)
        if stage.keyword == "pq" and stage.args[1] not in (4, 8):
            raise SpecError(f"'{piece}' in spec '{whole}': PQ supports 4 or 8 bits per sub-code; got {stage.args[1]}")
        if stage.keyword in ("pq", "rbq") and stage.args[0] < 1:
            raise SpecError(f"'{piece}' in spec '{whole}' needs a size >= 1")
        if stage.keyword == "rabitq" and not 1 <= stage.args[0] <= 8:
            raise SpecError(f"'{piece}' in spec '{whole}': RaBitQ takes 1 to 8 bits per dimension; got {stage.args[0]}")
        quantizer = stage
    if quantizer is None:
        quantizer = StageSpec("f32")
    return Spec(tuple(transforms), quantizer, rerank)


def bytes_per_vector(d: int, spec: SpecLike) -> int:
    """RAM bytes per vector of ``spec`` on ``d``-dimensional input, from the string alone.

    Full vectors kept on disk for ``+rerank`` are not counted (they are disk bytes).

    Examples
    --------
    >>> bytes_per_vector(384, "binary+rerank10"), bytes_per_vector(384, "pca128/int8"), bytes_per_vector(768, "pq48")
    (48, 128, 48)
    """
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise ParameterError(f"The 'd' parameter of bytes_per_vector must be a positive integer. Got {d!r}.")
    return parse_spec(spec).bytes_per_vector(d)
