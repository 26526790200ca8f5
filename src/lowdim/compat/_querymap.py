"""A fitted query map: new-model query vectors → the old model's space, saved as one ``.npz``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .._npzfile import read_npz_file, write_npz_file
from ..arrays import normalize_rows
from ..exceptions import FileFormatError
from ..validation import check_embeddings
from ._kinds import KINDS, apply_params
from ._quality import KindQuality

__all__ = ["QueryMap", "MAP_FORMAT_VERSION"]

MAP_FORMAT_VERSION = 1
_WHAT = "query map file"
_WRITER = "QueryMap.save"


class QueryMap:
    """Maps query vectors of a new embedding model into an old model's space.

    Made by :func:`lowdim.compat.fit_map`; read back with :meth:`load`. Attributes are
    fitted state (read-only by convention).

    Attributes
    ----------
    kind : str
        One of ``procrustes``, ``ridge``, ``lowrank``, ``mlp``, ``relative``.
    n_features_in_, n_features_out_ : int
        Widths of the new model's vectors and of the old model's.
    normalize_output_ : bool
        Whether :meth:`transform` L2-normalises its rows (True when the fit's old vectors were unit-norm).
    report : dict of str to KindQuality
        Held-out quality of every kind tried, the chosen one included.
    n_fit_ : int
        Number of pairs the map was fitted on (the held-out pairs excluded).
    models : tuple of (str or None, str or None)
        Names of the new and old models, when given.
    fit_ids : ndarray of int64, optional
        Ids of the fit sample's items, when given.

    Examples
    --------
    >>> import numpy as np
    >>> from lowdim.compat import fit_map
    >>> rng = np.random.default_rng(0)
    >>> old = rng.standard_normal((400, 8)).astype(np.float32)
    >>> new = old @ np.linalg.qr(rng.standard_normal((8, 8)))[0].astype(np.float32)
    >>> qmap = fit_map(new, old, kind="procrustes")
    >>> qmap.transform(new[:2]).shape
    (2, 8)
    """

    def __init__(
        self,
        kind: str,
        params: dict[str, np.ndarray],
        *,
        report: dict[str, KindQuality],
        n_fit: int,
        normalize_output: bool,
        models: tuple[str | None, str | None] = (None, None),
        fit_ids: np.ndarray | None = None,
    ) -> None:
        self.kind = kind
        self.params_ = params
        self.report = report
        self.n_fit_ = n_fit
        self.normalize_output_ = normalize_output
        self.models = models
        self.fit_ids = fit_ids
        self.n_features_in_ = int(params["W"].shape[0])
        self.n_features_out_ = int(params["W"].shape[1])

    def __repr__(self) -> str:
        q = self.report.get(self.kind)
        quality = f", top10={q.top10:.3f}" if q is not None else ""
        return f"QueryMap(kind={self.kind!r}, {self.n_features_in_}->{self.n_features_out_}, n_fit={self.n_fit_}{quality})"

    @property
    def quality(self) -> KindQuality:
        """Held-out quality of this map's kind."""
        return self.report[self.kind]

    def transform(self, Q: Any) -> np.ndarray:
        """Map queries ``Q`` (n, n_features_in_) of the new model → float32 (n, n_features_out_).

        Rows are L2-normalised when ``normalize_output_``. A width other than the map's is a
        one-line :class:`~lowdim.exceptions.DimensionError`; NaN/inf a ``ValidationError``.
        """
        Q = check_embeddings(Q, n_features=self.n_features_in_, name="queries", what="this query map", allow_empty=True)
        out = apply_params(self.params_, Q)
        return normalize_rows(out, copy=False) if self.normalize_output_ and len(out) else out

    # -- files -----------------------------------------------------------------------------------------------

    def header(self) -> dict[str, Any]:
        """The JSON header written by :meth:`save` (kinds, models, fit sample size, measured quality)."""
        return {
            "format_version": MAP_FORMAT_VERSION,
            "kind": self.kind,
            "kinds": sorted(self.report),
            "report": {k: q.to_dict() for k, q in self.report.items()},
            "n_fit": self.n_fit_,
            "normalize_output": self.normalize_output_,
            "new_model": self.models[0],
            "old_model": self.models[1],
            "n_features_in": self.n_features_in_,
            "n_features_out": self.n_features_out_,
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the map to ``path`` (an ``.npz`` with a JSON header), atomically; return the path."""
        arrays = {f"param_{k}": v for k, v in self.params_.items()}
        if self.fit_ids is not None:
            arrays["fit_ids"] = np.asarray(self.fit_ids, dtype=np.int64)
        return write_npz_file(path, self.header(), arrays)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> QueryMap:
        """Read a map written by :meth:`save`; damage of any kind is a one-line ``FileFormatError``."""
        meta, arrays = read_npz_file(path, what=_WHAT, version=MAP_FORMAT_VERSION, writer=_WRITER)
        return cls.from_parts(meta, arrays, where=f"{_WHAT} {path}")

    @classmethod
    def from_parts(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray], *, where: str) -> QueryMap:
        """A map from a header and arrays (as :meth:`save` wrote them), every field checked."""
        try:
            kind = meta["kind"]
            if kind not in KINDS:
                raise ValueError(f"unknown kind {kind!r}")
            report = {k: KindQuality.from_dict(v) for k, v in meta["report"].items()}
            params = {k[len("param_") :]: v for k, v in arrays.items() if k.startswith("param_")}
            W, b = params["W"], params["b"]
            d_in, d_out = int(meta["n_features_in"]), int(meta["n_features_out"])
            ok = W.shape == (d_in, d_out) and b.shape == (d_out,)
            if "A" in params:
                h = params["A"].shape[1]
                ok = ok and params["A"].shape == (d_in, h) and params["a"].shape == (h,) and params["B"].shape == (h, d_out)
            if not ok or any(v.dtype.kind != "f" or not np.isfinite(v).all() for v in params.values()):
                raise ValueError("parameter arrays of the wrong shape, dtype or with NaN")
            models = (meta.get("new_model"), meta.get("old_model"))
            return cls(
                kind,
                {k: v.astype(np.float32) for k, v in params.items()},
                report=report,
                n_fit=int(meta["n_fit"]),
                normalize_output=bool(meta["normalize_output"]),
                models=models,
                fit_ids=arrays.get("fit_ids"),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise FileFormatError(
                f"{where} is corrupt: {type(exc).__name__}: {exc}; expected a file written by {_WRITER}"
            ) from None
