"""The codec contract shared by every transform and quantizer.

A codec is an estimator (scikit-learn style): ``__init__`` stores settings only,
``fit`` learns state whose names end in ``_`` and returns ``self``. Transforms map
``(n, d_in) -> (n, d_out)`` float32; quantizers map float32 vectors to ``uint8``
codes of ``code_size`` bytes and back. State is saved as ``.npz`` arrays plus a
JSON header (no pickle), so a codec loaded from disk encodes exactly as before.
"""

from __future__ import annotations

import json
import os
import zipfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..exceptions import FileFormatError, NotFittedError
from ..validation import check_embeddings

__all__ = ["Codec", "Transform", "Quantizer", "FORMAT_VERSION", "read_npz", "write_npz"]

FORMAT_VERSION = 1


def write_npz(path: str | Path, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` and a JSON ``meta`` header to ``path`` atomically (temp file + rename)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    header = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
    with open(tmp, "wb") as fh:
        np.savez(fh, __meta__=header, **arrays)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    return path


def read_npz(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a file written by :func:`write_npz`; any damage is a one-line :class:`FileFormatError`."""
    path = Path(path)
    if not path.exists():
        raise FileFormatError(f"codec file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        raise FileFormatError(
            f"codec file {path} is truncated or corrupt ({type(exc).__name__}: {exc}); expected a lowdim .npz codec file"
        ) from None
    if "__meta__" not in arrays:
        raise FileFormatError(f"codec file {path} has no lowdim header; expected a file written by Codec.save")
    try:
        meta = json.loads(arrays.pop("__meta__").tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FileFormatError(f"codec file {path} has a corrupt header: {exc}") from None
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise FileFormatError(f"codec file {path} has format version {version}; this lowdim reads version {FORMAT_VERSION}")
    return meta, arrays


class Codec(ABC):
    """Base class: parameters, fitted-state bookkeeping, spec printing."""

    #: spec keyword, e.g. ``"pca"``; set by subclasses
    keyword: ClassVar[str] = ""
    #: names of the fitted array attributes that make up the saved state
    _state: ClassVar[tuple[str, ...]] = ()
    #: names of the constructor parameters (saved in the header)
    _params: ClassVar[tuple[str, ...]] = ()

    n_features_in_: int

    # -- parameters -------------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """The constructor parameters, as a dict."""
        return {name: getattr(self, name) for name in self._params}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    @abstractmethod
    def to_spec(self) -> str:
        """The spec-string piece that builds this codec, e.g. ``"pca128"``."""

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
    n_features_out_: int

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
        """Output width for an input width ``d`` without fitting (used by ``bytes_per_vector``)."""
        return d

    def get_state(self) -> dict[str, np.ndarray]:
        state = super().get_state()
        state["n_features_out_"] = np.asarray(self.n_features_out_)
        return state

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        self.n_features_out_ = int(state["n_features_out_"])
        super().set_state(state)


class Quantizer(Codec):
    """Maps float32 vectors to fixed-size ``uint8`` codes and back."""

    kind: ClassVar[str] = "quantizer"

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
        self._check_fitted()
        return self.code_size_for(self.n_features_in_)

    @abstractmethod
    def code_size_for(self, d: int) -> int:
        """Bytes per vector for input width ``d``, without fitting."""

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


class quiet_native_stderr:
    """Silence C-level stderr (FAISS's k-means sample-size warnings) inside the block.

    The warning is turned into our own guidance instead: the planner and ``inspect``
    warn when PQ has too few training vectors.
    """

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
