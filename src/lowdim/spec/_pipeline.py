"""``Pipeline``: the codec a spec string builds (transforms, then one quantizer)."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any, cast

import numpy as np

from .._version import __version__
from ..arrays import iter_slices, prepare_rows, sample_rows
from ..codecs import CODEC_FORMAT_VERSION, Quantizer, Transform, build_stage, read_npz, write_npz
from ..exceptions import FileFormatError, NotFittedError, ParameterError
from ..validation import check_embeddings, check_metric, check_positive_int
from ._grammar import SpecLike, parse_spec

__all__ = ["Pipeline", "load_codec"]


class Pipeline:
    """A fitted compression pipeline built from a spec string.

    Parameters
    ----------
    spec : str or Spec
        For example ``"pca128/int8+rerank4"``.
    metric : {"cosine", "ip", "l2"}
        How vectors are compared. ``"cosine"`` L2-normalises every input row (documents
        and queries), then scores by inner product.
    random_state : int
        Seed of every random choice (subsamples, k-means, rotations): same seed, same codes.
    max_train : int
        Rows sampled (seeded) from the input of ``fit``.

    Attributes
    ----------
    transforms : list of Transform
    quantizer : Quantizer
    rerank : int or None
        The ``+rerank<N>`` factor of the spec.
    n_features_in_ : int
        Input width, set by ``fit``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(1000, 64)).astype(np.float32)
    >>> p = Pipeline("pca32/int8+rerank4", metric="cosine").fit(X)
    >>> p.encode(X).shape, p.code_size, p.rerank
    ((1000, 32), 32, 4)
    """

    def __init__(self, spec: SpecLike, *, metric: str = "cosine", random_state: int = 0, max_train: int = 100_000) -> None:
        self.spec = parse_spec(spec)
        self.metric = check_metric(metric, owner="Pipeline")
        self.random_state = random_state
        self.max_train = check_positive_int(max_train, "max_train", owner="Pipeline")
        # the grammar puts transforms first and exactly one quantizer last
        self.transforms: list[Transform] = [
            cast(Transform, build_stage(s.keyword, s.args, metric=self.metric, random_state=random_state))
            for s in self.spec.transforms
        ]
        q = self.spec.quantizer
        self.quantizer: Quantizer = cast(Quantizer, build_stage(q.keyword, q.args, metric=self.metric, random_state=random_state))

    # -- description ----------------------------------------------------------------------
    @property
    def rerank(self) -> int | None:
        return self.spec.rerank

    def to_spec(self) -> str:
        return self.spec.to_spec()

    def with_rerank(self, factor: int | None) -> Pipeline:
        """A copy whose spec carries ``+rerank<factor>`` (None or 0: no rerank), sharing the stages.

        The stages (fitted or not) are the same objects, so the copy encodes exactly as
        this pipeline does: a codec measured for a base spec serves a collection whose
        spec adds a rerank, without a second fit.

        Examples
        --------
        >>> import numpy as np
        >>> X = np.random.default_rng(0).normal(size=(500, 16)).astype(np.float32)
        >>> p = Pipeline("int8").fit(X)
        >>> q = p.with_rerank(4)
        >>> q.to_spec(), q.rerank, q.quantizer is p.quantizer, p.to_spec()
        ('int8+rerank4', 4, True, 'int8')
        """
        if factor is not None:
            factor = check_positive_int(factor, "factor", owner="Pipeline.with_rerank", minimum=0)
        new = copy.copy(self)
        new.spec = self.spec.with_rerank(factor)
        new.transforms = list(self.transforms)  # its own list of the same stages
        return new

    def __repr__(self) -> str:
        return f"Pipeline({self.to_spec()!r}, metric={self.metric!r})"

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "n_features_in_")

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"the {self.to_spec()} pipeline is not fitted yet; call fit(X) first")

    @property
    def code_size(self) -> int:
        """Bytes per encoded vector."""
        self._check_fitted()
        return self.quantizer.code_size

    @property
    def scan_metric(self) -> str:
        """Metric of the code scan: ``"ip"`` for cosine and ip, ``"l2"`` for l2."""
        return "l2" if self.metric == "l2" else "ip"

    # -- fitting and coding ---------------------------------------------------------------
    def prepare(self, X: Any) -> np.ndarray:
        """Rows as this pipeline compares them: (n, d) float32, L2-normalised under the cosine metric.

        What queries go through before an exact rerank against the full vectors (the
        codes see :meth:`transform`, which prepares and then applies the transforms).
        """
        return prepare_rows(X, self.metric)

    def fit(self, X: Any) -> Pipeline:
        """Fit every stage on (a seeded sample of at most ``max_train`` rows of) ``X`` (n, d)."""
        if isinstance(X, np.ndarray) and X.ndim == 2:
            X = sample_rows(X, self.max_train, self.random_state)
        X = check_embeddings(X, name="X")
        self.spec.check(X.shape[1])
        Y = self.prepare(X)
        for t in self.transforms:
            Y = t.fit(Y).transform(Y)
        self.quantizer.fit(Y)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: Any, *, name: str = "X") -> np.ndarray:
        """Normalise (cosine) and apply the transforms: (n, d) → (n, d_quantizer) float32."""
        self._check_fitted()
        Y = self.prepare(check_embeddings(X, n_features=self.n_features_in_, name=name, what=f"this {self.to_spec()} pipeline"))
        for t in self.transforms:
            Y = t.transform(Y)
        return Y

    def encode(self, X: Any, *, batch_size: int = 65_536) -> np.ndarray:
        """(n, d) float vectors → (n, code_size) uint8 codes, in blocks of ``batch_size`` rows."""
        self._check_fitted()
        if not (isinstance(X, np.ndarray) and X.ndim == 2):
            X = check_embeddings(X, n_features=self.n_features_in_, what=f"this {self.to_spec()} pipeline")
        out = np.empty((len(X), self.code_size), np.uint8)
        for block in iter_slices(len(X), batch_size):
            out[block] = self.quantizer.encode(self.transform(X[block]))
        if len(X) == 0:
            check_embeddings(X, n_features=self.n_features_in_, what=f"this {self.to_spec()} pipeline")
        return out

    def decode(self, codes: Any) -> np.ndarray:
        """(n, code_size) uint8 → (n, d) float32 approximate vectors in the input space."""
        self._check_fitted()
        Y = self.quantizer.decode(codes)
        for t in reversed(self.transforms):
            Y = t.inverse_transform(Y)
        return Y

    def make_scanner(self):
        """An empty :class:`lowdim.search.Scanner` for this pipeline's codes."""
        self._check_fitted()
        return self.quantizer.make_scanner(self.scan_metric)

    # -- persistence ----------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the fitted pipeline to ``path`` (.npz arrays + JSON header, no pickle)."""
        self._check_fitted()
        arrays: dict[str, np.ndarray] = {}
        stages = []
        for i, stage in enumerate([*self.transforms, self.quantizer]):
            stages.append({"spec": stage.to_spec(), "class": type(stage).__name__, "params": stage.get_params()})
            for name, value in stage.get_state().items():
                arrays[f"s{i}.{name}"] = value
        meta = {
            "format_version": CODEC_FORMAT_VERSION,
            "kind": "lowdim.Pipeline",
            "lowdim_version": __version__,
            "spec": self.to_spec(),
            "metric": self.metric,
            "random_state": self.random_state,
            "max_train": self.max_train,
            "n_features_in": self.n_features_in_,
            "stages": stages,
        }
        return write_npz(path, meta, arrays)

    def __copy__(self) -> Pipeline:
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)  # the same fitted stages (with_rerank shares them)
        return new

    def __reduce_ex__(self, protocol: Any) -> Any:
        """Pickle a fitted pipeline as the bytes :meth:`save` writes (its FAISS objects cannot be pickled), so
        it can be sent to other processes (Ray workers); an unfitted one pickles as usual."""
        if not self.is_fitted:
            return super().__reduce_ex__(protocol)
        with tempfile.TemporaryDirectory(prefix="lowdim-pickle-") as tmp:
            data = self.save(Path(tmp) / "codec.npz").read_bytes()
        return (_pipeline_from_bytes, (data,))

    @classmethod
    def load(cls, path: str | Path) -> Pipeline:
        """Read a pipeline written by :meth:`save`; it encodes exactly as before."""
        meta, arrays = read_npz(path)
        if meta.get("kind") != "lowdim.Pipeline":
            raise FileFormatError(f"{path} holds a {meta.get('kind')!r}, not a lowdim.Pipeline")
        try:
            pipe = cls(meta["spec"], metric=meta["metric"], random_state=meta["random_state"], max_train=meta["max_train"])
            for i, stage in enumerate([*pipe.transforms, pipe.quantizer]):
                prefix = f"s{i}."
                stage.set_state({k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)})
            pipe.n_features_in_ = int(meta["n_features_in"])
        except (KeyError, ParameterError) as exc:
            raise FileFormatError(f"codec file {path} is incomplete: {exc}") from None
        return pipe


def _pipeline_from_bytes(data: bytes) -> Pipeline:
    """The pipeline pickled by :meth:`Pipeline.__reduce_ex__`."""
    with tempfile.TemporaryDirectory(prefix="lowdim-pickle-") as tmp:
        path = Path(tmp) / "codec.npz"
        path.write_bytes(data)
        return Pipeline.load(path)


def load_codec(path: str | Path) -> Pipeline:
    """Load a pipeline saved with :meth:`Pipeline.save`."""
    return Pipeline.load(path)
