"""One-call diagnosis of an embedding collection: :class:`Diagnosis` and :func:`diagnose`."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from ..arrays import block_rows, sample_indices, to_float32
from ..validation import as_float_rows, check_positive_int, iter_blocks
from ._duplicates import duplicate_mask, row_hashes
from ._hubness import hubness_from_indices
from ._intrinsic import mle_from_distances, twonn_from_distances
from ._neighbours import distinct_rows, self_knn
from ._spectrum import dims_for_variance, explained_variance_ratio

__all__ = ["Diagnosis", "diagnose"]

# Thresholds behind the warnings; each names the fact it tests.
NORM_TOLERANCE = 1e-2  # "normalized": every L2 norm within this of 1
BINARY_MIN_DIMS = 128  # sign codes give d bits; below 128 bits recall drops fast
MEAN_SHARE_LARGE = 0.1  # ||mean||^2 / mean ||x||^2 above this: the mean dominates signs
HUBNESS_STRONG = 1.0  # k-occurrence skewness above 1 is "strong hubness" in the literature
PQ_POINTS_PER_CENTROID = 39  # faiss k-means warns below 39 training points per centroid
FEW_ROWS_FOR_ID = 1000  # ID estimates from fewer distinct rows are noisy


@dataclass(frozen=True)
class Diagnosis:
    """What :func:`diagnose` found in an (n, d) collection.

    Full-data statistics (every row): ``n``, ``d``, ``dtype``, the norm statistics,
    ``mean_share``, ``mean_cosine`` and ``n_duplicates``. Sample statistics (a seeded
    sample of ``sample_size`` distinct rows): the intrinsic dimensions, the PCA
    spectrum and hubness.

    Attributes
    ----------
    n, d : int
        Rows and features.
    dtype : str
        Stored dtype, e.g. ``"float16"``.
    norm_min, norm_mean, norm_max, norm_std : float
        Statistics of the rows' L2 norms.
    normalized : bool
        Every norm is within 1e-2 of 1.
    mean_share : float
        ||mean||^2 / mean(||x||^2) in [0, 1]: the share of the rows' energy in the
        common mean vector (0: centred, 1: every row the same).
    mean_cosine : float
        Expected cosine between two different random rows, computed exactly over all
        pairs from the sum of the normalised rows; rows of norm 0 are left out. High
        values mean an anisotropic (cone-shaped) collection.
    n_duplicates : int
        Rows that are exact copies of an earlier row, in the stored dtype.
    sample_size : int
        Distinct rows in the sample the estimates below use.
    seed : int
        Seed of the sample.
    id_twonn : float
        Intrinsic dimension by TwoNN (top 10% of ratios discarded); NaN if undefined.
    id_mle : float
        Intrinsic dimension by Levina-Bickel MLE, MacKay-Ghahramani averaging.
    id_k : int
        Neighbours the MLE used (``k``, capped at sample_size - 1).
    explained_variance_ratio : float64 ndarray of shape (d,)
        PCA spectrum of the sample, descending, summing to 1 (read-only).
    dims_90, dims_95, dims_99 : int
        Leading principal axes needed for 90/95/99% of the variance.
    hubness_k : int
        Neighbours per point of the k-NN graph for hubness.
    hubness_skewness : float
        Skewness of the k-occurrence distribution.
    antihub_share : float
        Share of sample points in nobody's k-NN list.
    warnings : tuple of str
        Facts that make some codecs or settings risky on this data.
    recommendations : tuple of str
        Facts that suggest a setting.
    """

    n: int
    d: int
    dtype: str
    norm_min: float
    norm_mean: float
    norm_max: float
    norm_std: float
    normalized: bool
    mean_share: float
    mean_cosine: float
    n_duplicates: int
    sample_size: int
    seed: int
    id_twonn: float
    id_mle: float
    id_k: int
    explained_variance_ratio: np.ndarray = field(repr=False, compare=False)
    dims_90: int
    dims_95: int
    dims_99: int
    hubness_k: int
    hubness_skewness: float
    antihub_share: float
    warnings: tuple[str, ...] = ()
    recommendations: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict: Python scalars, lists for the spectrum and messages, NaN/inf as None.

        Examples
        --------
        >>> import json, numpy as np
        >>> X = np.random.default_rng(0).standard_normal((300, 8))
        >>> json.loads(json.dumps(diagnose(X).to_dict()))["d"]
        8
        """
        out: dict[str, Any] = {}
        for f in fields(self):
            out[f.name] = _json_safe(getattr(self, f.name))
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Diagnosis:
        """Rebuild a :class:`Diagnosis` from :meth:`to_dict` output (None back to NaN)."""
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            value = data[f.name]
            if f.name == "explained_variance_ratio":
                value = _frozen(np.asarray(value, dtype=np.float64))
            elif f.name in ("warnings", "recommendations"):
                value = tuple(value)
            elif value is None:
                value = float("nan")
            kwargs[f.name] = value
        return cls(**kwargs)


def _json_safe(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_json_safe(v) for v in value.tolist()]
    if isinstance(value, (tuple, list)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


class _Steps:
    """A rich progress bar on stderr, or nothing."""

    def __init__(self, enabled: bool) -> None:
        self._progress = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )

    @contextmanager
    def running(self) -> Iterator[_Steps]:
        if self._progress is None:
            yield self
            return
        with self._progress:
            yield self

    def task(self, description: str, total: int) -> Any:
        if self._progress is None:
            return lambda n=1: None
        task_id = self._progress.add_task(description, total=total)
        return lambda n=1: self._progress.advance(task_id, n)


def diagnose(
    X: Any,
    *,
    sample: int = 20000,
    k: int = 20,
    hubness_k: int = 10,
    seed: int = 0,
    progress: bool = False,
    name: str = "X",
) -> Diagnosis:
    """Measure what decides how well a collection compresses.

    One pass over all rows, block by block (norms, mean vector, mean cosine, exact
    duplicates by hashing the rows' bytes), then a seeded sample of ``sample`` rows,
    duplicates dropped, for everything that needs neighbours or a covariance: exact k-NN via faiss for
    TwoNN, the Levina-Bickel MLE and hubness, and the PCA spectrum. A memmapped
    float16 array is read in blocks and only the sample is converted to float32.

    Parameters
    ----------
    X : array-like of shape (n, d)
        float16/float32/float64 rows; an ``np.memmap`` / ``np.load(mmap_mode="r")``
        array is fine.
    sample : int
        Rows drawn (without replacement) for the sample statistics; the neighbour
        search costs O(sample^2 d).
    k : int
        Neighbours for the MLE, >= 2.
    hubness_k : int
        Neighbours per point for hubness.
    seed : int
        Seed of the sample; the same seed gives the same Diagnosis.
    progress : bool
        Show a rich progress bar on stderr.
    name : str
        What error messages call the array ("X", a file name).

    Returns
    -------
    Diagnosis

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((3000, 5)) @ rng.standard_normal((5, 64))
    >>> dg = diagnose(X, sample=2000)
    >>> dg.n, dg.d, round(dg.id_twonn), dg.dims_99
    (3000, 64, 5, 5)
    """
    sample = check_positive_int(sample, "sample", owner="diagnose", minimum=2)
    k = check_positive_int(k, "k", owner="diagnose", minimum=2)
    hubness_k = check_positive_int(hubness_k, "hubness_k", owner="diagnose")
    seed = check_positive_int(seed, "seed", owner="diagnose", minimum=0)
    X = as_float_rows(X, name=name)
    n, d = X.shape
    steps = _Steps(progress)
    with steps.running():
        scan = _scan(X, steps.task("scanning rows", n), name=name)
        idx = sample_indices(n, sample, seed)
        # Gathered in the stored dtype (sorted rows: one forward pass over a memmap);
        # the scan has already checked them for NaN/inf.
        S = distinct_rows(to_float32(np.asarray(X[idx])))
        m = S.shape[0]
        ratios = _frozen(explained_variance_ratio(S))
        kmax = min(max(k, hubness_k), m - 1)
        if kmax >= 1:
            dist, nbr = self_knn(S, kmax, advance=steps.task("nearest neighbours", m))
            id_k = min(k, kmax)
            id_twonn = twonn_from_distances(dist[:, 0], dist[:, 1]) if kmax >= 2 else float("nan")
            id_mle = mle_from_distances(dist[:, :id_k])
            hub = hubness_from_indices(nbr[:, : min(hubness_k, kmax)])
            hub_k, hub_skew, antihubs = hub.k, hub.skewness, hub.antihub_share
        else:
            id_k, id_twonn, id_mle = 0, float("nan"), float("nan")
            hub_k, hub_skew, antihubs = 0, float("nan"), float("nan")

    facts: dict[str, Any] = dict(
        n=n,
        d=d,
        dtype=str(X.dtype),
        **scan,
        sample_size=m,
        seed=seed,
        id_twonn=id_twonn,
        id_mle=id_mle,
        id_k=id_k,
        explained_variance_ratio=ratios,
        dims_90=dims_for_variance(ratios, 0.90),
        dims_95=dims_for_variance(ratios, 0.95),
        dims_99=dims_for_variance(ratios, 0.99),
        hubness_k=hub_k,
        hubness_skewness=hub_skew,
        antihub_share=antihubs,
    )
    warnings, recommendations = _advice(facts)
    return Diagnosis(**facts, warnings=tuple(warnings), recommendations=tuple(recommendations))


def _scan(X: np.ndarray, advance: Any, *, name: str) -> dict[str, Any]:
    """Full-data statistics, one block of rows at a time."""
    n, d = X.shape
    hashes = np.empty(n, dtype=np.uint64)
    norms = np.empty(n, dtype=np.float64)
    total = np.zeros(d, dtype=np.float64)  # sum of rows
    unit_total = np.zeros(d, dtype=np.float64)  # sum of normalised rows
    for start, raw, block in iter_blocks(X, name=name, rows=block_rows(d)):
        stop = start + len(raw)
        hashes[start:stop] = row_hashes(raw)
        nrm = np.sqrt(np.einsum("ij,ij->i", block, block).astype(np.float64))
        norms[start:stop] = nrm
        inv = np.divide(1.0, nrm, out=np.zeros_like(nrm), where=nrm > 0)
        # Column sums as BLAS matrix-vector products (float32 within a block, float64
        # across blocks); one (2, m) @ (m, d) product for both is ~20x slower.
        total += np.ones(len(block), dtype=np.float32) @ block
        unit_total += inv.astype(np.float32) @ block
        advance(len(raw))
    sq_mean = float(np.mean(norms**2))
    mean = total / n
    nonzero = int(np.count_nonzero(norms))
    if nonzero >= 2:
        # sum_{i != j} cos(x_i, x_j) = ||sum_i u_i||^2 - (number of unit rows).
        mean_cosine = (float(unit_total @ unit_total) - nonzero) / (nonzero * (nonzero - 1))
    else:
        mean_cosine = float("nan")
    return dict(
        norm_min=float(norms.min()),
        norm_mean=float(norms.mean()),
        norm_max=float(norms.max()),
        norm_std=float(norms.std()),
        normalized=bool(np.all(np.abs(norms - 1.0) <= NORM_TOLERANCE)),
        mean_share=float(mean @ mean) / sq_mean if sq_mean > 0 else float("nan"),
        mean_cosine=mean_cosine,
        n_duplicates=int(duplicate_mask(X, hashes).sum()),
    )


def _advice(f: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Short factual warnings and recommendations from the measured facts."""
    warnings: list[str] = []
    recs: list[str] = []
    n, d = f["n"], f["d"]
    if f["normalized"]:
        recs.append("rows are unit-norm: inner product equals cosine")
    else:
        warnings.append(
            f"rows are not unit-norm (norms {f['norm_min']:.3g} to {f['norm_max']:.3g}); "
            "normalise them if the model's similarity is cosine"
        )
    if f["n_duplicates"]:
        warnings.append(
            f"{f['n_duplicates']} rows ({f['n_duplicates'] / n:.1%}) are exact copies of earlier rows; "
            "they inflate recall and waste space"
        )
    if d < BINARY_MIN_DIMS:
        warnings.append(f"binary codes keep only {d} bits per vector at d={d} < {BINARY_MIN_DIMS}; expect low recall")
    share = f["mean_share"]
    if math.isfinite(share) and share > MEAN_SHARE_LARGE:
        warnings.append(
            f"the mean vector holds {share:.0%} of the energy: sign-binarising without centring loses bits "
            "(lowdim's binary codec centres; other engines' may not)"
        )
    pq_min = PQ_POINTS_PER_CENTROID * 256
    if n < 256:
        warnings.append(f"PQ with 8-bit codes (pq...x8) needs at least 256 training rows; n={n}")
    elif n < pq_min:
        warnings.append(
            f"PQ with 8-bit codes trains 256 centroids per sub-space; faiss wants >= {pq_min} rows "
            f"({PQ_POINTS_PER_CENTROID} per centroid), n={n}; 4-bit codes need {PQ_POINTS_PER_CENTROID * 16}"
        )
    skew = f["hubness_skewness"]
    if math.isfinite(skew) and skew > HUBNESS_STRONG:
        warnings.append(
            f"strong hubness: k-occurrence skewness {skew:.1f} (k={f['hubness_k']}), "
            f"{f['antihub_share']:.0%} of points in no k-NN list"
        )
    if f["sample_size"] < FEW_ROWS_FOR_ID:
        warnings.append(f"only {f['sample_size']} distinct rows sampled: intrinsic-dimension estimates are noisy")
    if f["sample_size"] <= d:
        warnings.append(f"the PCA spectrum comes from {f['sample_size']} rows <= d={d}: it is rank-limited")
    ids = [v for v in (f["id_twonn"], f["id_mle"]) if math.isfinite(v)]
    if ids:
        lo, hi = f"{min(ids):.0f}", f"{max(ids):.0f}"
        recs.append(
            f"intrinsic dimension about {lo if lo == hi else lo + '-' + hi} of d={d} "
            f"(TwoNN {f['id_twonn']:.1f}, MLE {f['id_mle']:.1f})"
        )
    if 0 < f["dims_95"] < d:
        recs.append(f"95% of the variance lies in the first {f['dims_95']} of {d} principal axes (pca{f['dims_95']})")
    return warnings, recs
