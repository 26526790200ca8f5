"""The codec contract shared by every transform and quantizer.

A codec is an estimator (scikit-learn style): ``__init__`` stores settings only,
``fit`` learns state whose names end in ``_`` and returns ``self``. Transforms map
``(n, d_in) -> (n, d_out)`` float32; quantizers map float32 vectors to ``uint8``
codes of ``code_size`` bytes and back. State is saved as ``.npz`` arrays plus a
JSON header (no pickle), so a codec loaded from disk encodes exactly as before.

Each codec class also declares, as class-level data and classmethods, everything the
rest of lowdim needs to know about it without fitting it: its spec piece (keyword,
argument regex, defaults, argument checks), its size formula, its width checks, how
many training rows it needs, how a parsed stage builds it, and its traits (kind,
family, bits per dimension, FAISS's nearest counterpart). ``lowdim.codecs.CODECS``
lists the classes; the grammar, the pipeline, the planner, the benchmarks and the
exports ask them instead of matching keywords.
"""

from __future__ import annotations

import contextlib
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .._npzfile import read_npz_file, write_npz_file
from ..exceptions import FileFormatError, NotFittedError, ParameterError, SpecError
from ..validation import check_embeddings

__all__ = [
    "Codec",
    "Transform",
    "Reduction",
    "Quantizer",
    "FaissEquivalent",
    "FORMAT_VERSION",
    "MIN_TRAIN_ROWS",
    "PQ_POINTS_PER_CENTROID",
    "read_npz",
    "write_npz",
]

FORMAT_VERSION = 1
#: training vectors per centroid below which FAISS's k-means warns (PQ and OPQ codebooks)
PQ_POINTS_PER_CENTROID = 39
#: training vectors a learned codec needs at the least (scalar ranges, sign-code means and scales, centres)
MIN_TRAIN_ROWS = 256

#: one stage's integer arguments as the spec string gives them, e.g. ``(48, 8)`` for ``pq48x8``
Args = tuple[int, ...]


@dataclass(frozen=True)
class FaissEquivalent:
    """FAISS's nearest counterpart of one lowdim stage (see :meth:`Codec.faiss_equivalent`).

    Attributes
    ----------
    piece : str
        The ``index_factory`` piece: ``"SQ8"``, ``"PQ96x4"``, ``"RaBitQ2"``, ``"PCA128"``; ``""``
        where the step has no factory piece and is done on the vectors before FAISS sees them.
    exact : bool
        FAISS computes the same thing: the same code layout and size (quantizers; ``sa_code_size``
        equals lowdim's ``code_size``) or the same map up to FAISS's centring (transforms).
        Side-by-side benchmarks only chain exact transforms.
    deploy : str or None
        The piece to deploy instead where FAISS has a faster kernel for the same codes
        (``"PQ96x4fs"``, its SIMD fast scan); exports use it.
    binary_flat : bool
        FAISS users keep such codes as plain sign bits in ``IndexBinaryFlat``; side-by-side
        benchmarks compare with that rather than with ``piece``.
    notes : tuple of str
        What differs, in words, for exports.

    Examples
    --------
    >>> from lowdim.codecs import ProductQuantizer
    >>> eq = ProductQuantizer.faiss_equivalent((96, 4))
    >>> eq.piece, eq.deploy, eq.exact
    ('PQ96x4', 'PQ96x4fs', True)
    """

    piece: str
    exact: bool = True
    deploy: str | None = None
    binary_flat: bool = False
    notes: tuple[str, ...] = ()


def write_npz(path: str | Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` and a JSON ``meta`` header to ``path`` atomically (temp file + rename)."""
    return write_npz_file(path, meta, arrays)


def read_npz(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a file written by :func:`write_npz`; any damage is a one-line :class:`FileFormatError`."""
    return read_npz_file(path, what="codec file", version=FORMAT_VERSION, writer="Codec.save (a lowdim .npz codec file)")


def width_at_most(keyword: str, n: int, d: int, whole: str | None) -> None:
    """Raise :class:`ParameterError` if a stage asks for ``n`` of ``d`` input dimensions with ``n > d``."""
    if n > d:
        if whole is not None:
            raise ParameterError(f"'{keyword}{n}' in spec '{whole}' asks for {n} dimensions, but its input has only {d}")
        raise ParameterError(f"The 'n_components' parameter of {keyword} must be at most n_features={d}. Got {n}.")


def m_divides(keyword: str, m: int, d: int, whole: str | None) -> None:
    """Raise :class:`ParameterError` unless ``m`` sub-vectors split ``d`` dimensions evenly (PQ, OPQ)."""
    if d % m:
        divisors = [k for k in range(1, min(d, 256) + 1) if d % k == 0]
        in_spec = f" (in spec '{whole}')" if whole is not None else ""
        raise ParameterError(
            f"The 'm' parameter of {keyword} must divide n_features={d}{in_spec}. Got {m}. "
            f"Valid values include {', '.join(map(str, divisors[-8:]))}."
        )


class Codec(ABC):
    """Base class: what a codec is (class-level declarations), parameters, fitted-state bookkeeping.

    The declarations below are read without fitting or even building the codec; ``args``
    are the stage's integer arguments as the spec gives them (``(128,)`` for ``pca128``).
    """

    #: spec keyword, e.g. ``"pca"``; set by registered subclasses
    keyword: ClassVar[str] = ""
    #: "transform" or "quantizer"
    kind: ClassVar[str] = ""
    #: regex of the arguments after the keyword, one group per integer argument (``r"(\d+)"``)
    args_pattern: ClassVar[str] = ""
    #: each argument's value when its (optional) group is absent; None where it is required
    arg_defaults: ClassVar[tuple[int | None, ...]] = ()
    #: the piece as the list of valid pieces shows it, e.g. ``"pq<m>x<nbits>"``
    synopsis: ClassVar[str] = ""
    #: pieces that build this codec (the first is canonical); the registry tests run them all
    examples: ClassVar[tuple[str, ...]] = ()
    #: names of the fitted array attributes that make up the saved state
    _state: ClassVar[tuple[str, ...]] = ()
    #: names of the constructor parameters (saved in the header)
    _params: ClassVar[tuple[str, ...]] = ()

    n_features_in_: int

    # -- the spec piece (class level: no instance needed) ------------------------------------
    @classmethod
    def match_piece(cls, piece: str) -> Args | None:
        """The arguments of ``piece`` if it spells this codec (defaults filled in), else None.

        >>> from lowdim.codecs import ProductQuantizer
        >>> ProductQuantizer.match_piece("pq48"), ProductQuantizer.match_piece("int8")
        ((48, 8), None)
        """
        if not cls.keyword:
            return None
        m = re.fullmatch(re.escape(cls.keyword) + cls.args_pattern, piece)
        if m is None:
            return None
        groups = m.groups()
        defaults = cls.arg_defaults or (None,) * len(groups)
        args: list[int] = []
        for group, default in zip(groups, defaults):
            if group is not None:
                args.append(int(group))
            elif default is not None:
                args.append(default)
        return tuple(args)

    @classmethod  # noqa: B027 (a hook: most codecs take whatever their regex spells)
    def check_args(cls, args: Args, where: str) -> None:
        """Raise :class:`SpecError` if ``args`` are out of range; ``where`` names the piece and its spec."""

    @classmethod
    def piece(cls, args: Args) -> str:
        """The canonical spec piece for ``args``, e.g. ``"pca128"``."""
        return cls.keyword + "".join(str(a) for a in args)

    @classmethod  # noqa: B027 (a hook: most codecs take any width)
    def check_width(cls, args: Args, d: int, whole: str | None = None) -> None:
        """Raise :class:`ParameterError` if the stage cannot take ``d``-dimensional input.

        ``whole`` is the spec the stage belongs to (named in the message), or None for a
        codec used on its own.
        """

    @classmethod
    def min_train_rows(cls, args: Args, d: int) -> int:
        """Fewest training vectors the stage needs on ``d``-dimensional input to be worth using."""
        return MIN_TRAIN_ROWS

    @classmethod
    def min_train_reason(cls, args: Args, d: int) -> str:
        """Why the stage needs :meth:`min_train_rows` vectors, as a phrase for messages."""
        n = cls.min_train_rows(args, d)
        return "it learns nothing" if n <= 1 else f"{cls.keyword} learns its calibration from at least {n:,} vectors"

    @classmethod
    def min_fit_rows(cls, args: Args, d: int) -> int:
        """Fewest training vectors with which a fit can run at all (a fit on fewer is an error)."""
        return 1

    @classmethod
    def from_args(cls, args: Args, *, metric: str = "ip", random_state: int = 0) -> Codec:
        """An unfitted codec for one parsed stage; ``metric`` is the pipeline's ("cosine", "ip" or "l2")."""
        raise NotImplementedError(f"{cls.__name__} declares no way to be built from a spec piece")

    @classmethod
    def faiss_equivalent(cls, args: Args) -> FaissEquivalent | None:
        """FAISS's nearest counterpart of the stage, or None where FAISS has none."""
        return None

    def spec_args(self) -> Args:
        """This codec's spec arguments (the inverse of :meth:`from_args`)."""
        return ()

    def to_spec(self) -> str:
        """The spec-string piece that builds this codec, e.g. ``"pca128"``."""
        return self.piece(self.spec_args())

    # -- parameters -------------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """The constructor parameters, as a dict."""
        return {name: getattr(self, name) for name in self._params}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # -- fitted state -----------------------------------------------------------------------
    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "n_features_in_")

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"{type(self).__name__} ({self.to_spec()}) is not fitted yet; call fit(X) first")

    def _check_input(self, X: Any, name: str = "X") -> np.ndarray:
        self._check_fitted()
        return check_embeddings(X, n_features=self.n_features_in_, name=name, what=f"this {self.to_spec()} codec")

    def get_state(self) -> dict[str, np.ndarray]:
        """Fitted arrays keyed by attribute name (for saving)."""
        self._check_fitted()
        state = {name: np.asarray(getattr(self, name)) for name in self._state}
        state["n_features_in_"] = np.asarray(self.n_features_in_)
        return state

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore fitted arrays produced by :meth:`get_state`."""
        missing = [name for name in (*self._state, "n_features_in_") if name not in state]
        if missing:
            raise FileFormatError(f"{type(self).__name__} state is missing {', '.join(missing)}")
        for name in self._state:
            setattr(self, name, state[name])
        self.n_features_in_ = int(state["n_features_in_"])
        self._after_load()

    def _after_load(self) -> None:  # noqa: B027 (a hook: most codecs derive nothing)
        """Rebuild derived (unsaved) helpers after :meth:`set_state`."""


class Transform(Codec):
    """A float-to-float map applied before the quantizer (PCA, MRL, RP, OPQ, ITQ)."""

    kind: ClassVar[str] = "transform"
    #: how the map changes the vectors: "projection" (a linear map to fewer dimensions), "truncation"
    #: (a prefix of the coordinates, which engines can take themselves) or "rotation" (same width)
    map_kind: ClassVar[str] = "rotation"
    n_features_out_: int

    @classmethod
    def check_args(cls, args: Args, where: str) -> None:
        if args and args[0] < 1:
            raise SpecError(f"{where} needs a size >= 1")

    @classmethod
    def output_dim_for(cls, args: Args, d: int) -> int:
        """Output width for input width ``d``, without fitting."""
        return d

    @classmethod
    def from_args(cls, args: Args, *, metric: str = "ip", random_state: int = 0) -> Transform:
        raise NotImplementedError(f"{cls.__name__} declares no way to be built from a spec piece")

    @abstractmethod
    def fit(self, X: Any) -> Transform:
        """Learn the fitted state from (n, d) float vectors; returns self."""

    @abstractmethod
    def transform(self, X: Any) -> np.ndarray:
        """Map (n, n_features_in_) float vectors to (n, n_features_out_) float32."""

    @abstractmethod
    def inverse_transform(self, Y: Any) -> np.ndarray:
        """Map back to the input space (exact for rotations, least-squares otherwise)."""

    def output_dim(self, d: int) -> int:
        """Output width for an input width ``d`` without fitting."""
        return self.output_dim_for(self.spec_args(), d)

    def _check_fit_width(self, d: int) -> None:
        self.check_width(self.spec_args(), d)

    def get_state(self) -> dict[str, np.ndarray]:
        state = super().get_state()
        state["n_features_out_"] = np.asarray(self.n_features_out_)
        return state

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        self.n_features_out_ = int(state["n_features_out_"])
        super().set_state(state)


class Reduction(Transform):
    """A transform to ``args[0]`` of its ``d`` input dimensions (PCA, MRL): at most ``d``."""

    @classmethod
    def output_dim_for(cls, args: Args, d: int) -> int:
        return args[0]

    @classmethod
    def check_width(cls, args: Args, d: int, whole: str | None = None) -> None:
        width_at_most(cls.keyword, args[0], d, whole)


class Quantizer(Codec):
    """Maps float32 vectors to fixed-size ``uint8`` codes and back."""

    kind: ClassVar[str] = "quantizer"
    #: "float" (f32, f16), "scalar" (uniform per-dimension levels), "sign" (centred sign codes, which
    #: rely on centring: engines that binarise at 0 recall less) or "pq" (codebooks over sub-vectors)
    family: ClassVar[str] = ""
    #: the scan binarises the query too and ranks by Hamming distance (symmetric)
    binary_query: ClassVar[bool] = False

    @classmethod
    @abstractmethod
    def code_size_for(cls, args: Args, d: int) -> int:
        """Bytes per vector for input width ``d``, from the arguments alone (no fitting)."""

    @classmethod
    def bits_per_dim(cls, args: Args) -> float | None:
        """Code bits per input dimension, or None where it depends on more than the arguments (PQ)."""
        return None

    @classmethod
    def relies_on_centring(cls) -> bool:
        """True for the sign-code family (binary, hamming, rbq, rabitq): codes of the direction from the data centre."""
        return cls.family == "sign"

    @classmethod
    def from_args(cls, args: Args, *, metric: str = "ip", random_state: int = 0) -> Quantizer:
        raise NotImplementedError(f"{cls.__name__} declares no way to be built from a spec piece")

    @abstractmethod
    def fit(self, X: Any) -> Quantizer:
        """Learn the fitted state from (n, d) float vectors; returns self."""

    @abstractmethod
    def encode(self, X: Any) -> np.ndarray:
        """(n, d) float → (n, code_size) uint8."""

    @abstractmethod
    def decode(self, codes: Any) -> np.ndarray:
        """(n, code_size) uint8 → (n, d) float32 reconstruction."""

    @property
    def code_size(self) -> int:
        """Bytes per code of the fitted codec."""
        self._check_fitted()
        return self.code_size_for(self.spec_args(), self.n_features_in_)

    @abstractmethod
    def make_scanner(self, metric: str):
        """A :class:`lowdim.search.Scanner` for this quantizer's codes under ``metric`` ("ip" or "l2")."""

    def _check_codes(self, codes: Any, name: str = "codes") -> np.ndarray:
        from ..exceptions import DimensionError, DTypeError

        self._check_fitted()
        arr = np.asarray(codes)
        if arr.dtype != np.uint8:
            raise DTypeError(f"{name} have dtype {arr.dtype}; expected uint8 codes from encode()")
        if arr.ndim != 2 or arr.shape[1] != self.code_size:
            raise DimensionError(f"{name} have shape {arr.shape}; expected (n, {self.code_size}) for this {self.to_spec()} codec")
        return np.ascontiguousarray(arr)


@contextlib.contextmanager
def blas_kmeans() -> Iterator[None]:
    """FAISS's BLAS distances for k-means inside the block (training PQ, OPQ, IVF on fewer than 128,000 rows).

    FAISS 1.15 assigns points to centroids with a direct loop below ``distance_compute_blas_threshold``
    (128,000) points. On this kind of machine that loop is 5-25x slower than BLAS: ``pq48x8`` on 5,000
    wordnet rows trains in 5.3 s against 0.6 s (20,000 rows: 2.5 s either way), with the same centroids.
    Same k-means on the same rows; the distances differ in rounding only.
    """
    import faiss

    before = faiss.cvar.distance_compute_blas_threshold
    faiss.cvar.distance_compute_blas_threshold = 20
    try:
        yield
    finally:
        faiss.cvar.distance_compute_blas_threshold = before


class quiet_native_stderr:
    """Silence C-level stderr (FAISS's k-means sample-size warnings) inside the block.

    The warning is turned into our own guidance instead: the planner and ``inspect``
    warn when PQ has too few training vectors.
    """

    _saved: int | None

    def __enter__(self) -> quiet_native_stderr:
        import sys

        try:
            sys.stderr.flush()
            self._saved = os.dup(2)
            self._null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(self._null, 2)
        except OSError:  # no real fd 2 (embedded interpreters): leave it alone
            self._saved = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._saved is not None:
            os.dup2(self._saved, 2)
            os.close(self._saved)
            os.close(self._null)
