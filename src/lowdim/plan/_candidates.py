"""Which specs the planner measures: :class:`CandidateSpec` and :func:`generate_candidates`.

The candidates are families of spec strings, each ordered by RAM bytes, so that the
planner can walk them cheapest-first and stop once the target is met:

- **scalar**: ``int4``, ``int8``, ``f16``, ``f32`` (``f32`` is "do not compress").
- **sign**: ``binary``, ``hamming``, ``rbq2``, ``rbq3``, ``rbq4`` (centred sign codes, 1 to 4
  bits per dimension, scored asymmetrically; ``hamming`` is the same code scanned faster).
- **itq**: ``itq/binary``, ``itq/rbq2`` (a learned rotation before the sign codes).
- **rabitq**: ``rabitq1`` to ``rabitq4`` (FAISS's RaBitQ: centred codes of 1 to 4 bits per
  dimension with per-vector correction factors, 8 or 20 bytes more than the bits).
- **pq**: ``pq<m>x4`` for every ``m`` that divides ``d`` with 2 to 16 dimensions per
  sub-quantizer. 4-bit PQ is scanned with FAISS's SIMD fast-scan kernel, 10-20x faster than
  8-bit PQ, and ``pq<2m>x4`` recalls as well as ``pq<m>x8`` at the same bytes (within
  0.005 on wordnet-minilm from 12 to 48 bytes at rerank 4), so plain 8-bit PQ is not
  measured; it comes back rotated, as OPQ.
- **pca**: ``pca<p>/int8``, ``pca<p>/int4``, ``pca<p>/rbq2``, ``pca<p>/binary`` for widths ``p``
  read off the diagnosis: 2, 4 and 8 times the intrinsic dimension and the widths holding
  90, 95 and 99% of the variance. Sign codes are only proposed with at least 128 bits.
- **mrl**: the same widths with Matryoshka truncation, only when the leading
  coordinates hold most of the variance (as in models trained with Matryoshka loss).
- **opq** (``opq<m>/pq<m>x8``) is slow to train, so the planner adds it on the fly, at
  most twice, where plain PQ of the same bytes just missed the target (see
  :func:`opq_candidate`).

Every candidate is measured at each rerank factor of :func:`rerank_factors`: one fitted
and encoded pipeline serves them all.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..codecs import PQ_POINTS_PER_CENTROID, ProductQuantizer
from ..spec import parse_spec
from ..validation import check_positive_int

__all__ = [
    "CandidateSpec",
    "generate_candidates",
    "rerank_factors",
    "pca_widths",
    "opq_candidate",
    "leading_variance_share",
    "BINARY_MIN_BITS",
    "PQ_POINTS_PER_CENTROID",
]

#: sign codes below this many bits per vector rank poorly (the diagnosis warns at d < 128)
BINARY_MIN_BITS = 128
#: the rerank factors measured, before capping at ``max_rerank``; a factor of 1 only reorders
#: the top k and cannot change recall@k, so it is not measured
_FACTORS = (0, 2, 4, 10)
#: leading-half variance share above which the data looks Matryoshka-trained (0.5 is what a
#: model without a preferred coordinate order gives)
MATRYOSHKA_SHARE = 0.7
#: quantizers tried after each reduced width (sign codes only where they keep BINARY_MIN_BITS bits)
_AFTER_REDUCTION = ("int8", "int4", "rbq2", "binary")
#: relative cost of fitting and scanning, to order candidates of equal bytes cheapest first
_COST = {"sign": 0, "pq4": 1, "scalar": 2, "pca": 2, "mrl": 2, "rabitq": 3, "itq": 4, "opq": 5}


@dataclass(frozen=True)
class CandidateSpec:
    """One base spec (no ``+rerank``) the planner may measure.

    Attributes
    ----------
    spec : str
        Canonical spec string, e.g. ``"pca128/int8"``.
    family : str
        ``"scalar"``, ``"sign"``, ``"rabitq"``, ``"itq"``, ``"pq4"``, ``"pca"``, ``"mrl"`` or ``"opq"``.
    ram_bytes : int
        Code bytes per vector (``bytes_per_vector(d, spec)``).
    why : str
        What suggested it ("95% of the variance", "2x intrinsic dimension", ...).

    Examples
    --------
    >>> c = CandidateSpec.make("pq96x4", 384, "pq4")
    >>> c.spec, c.ram_bytes
    ('pq96x4', 48)
    """

    spec: str
    family: str
    ram_bytes: int
    why: str = ""

    @classmethod
    def make(cls, spec: str, d: int, family: str, why: str = "") -> CandidateSpec:
        parsed = parse_spec(spec)
        return cls(parsed.to_spec(), family, parsed.bytes_per_vector(d), why)

    @property
    def order_key(self) -> tuple[int, int, str]:
        """Cheapest first: fewer bytes, then cheaper to fit and scan, then by name."""
        return (self.ram_bytes, _COST.get(self.family, 9), self.spec)


def rerank_factors(max_rerank: int) -> tuple[int, ...]:
    """The rerank factors measured for every candidate: 0, 2, 4, 10 up to ``max_rerank``, and ``max_rerank``.

    Examples
    --------
    >>> rerank_factors(10), rerank_factors(4), rerank_factors(5), rerank_factors(0)
    ((0, 2, 4, 10), (0, 2, 4), (0, 2, 4, 5), (0,))
    """
    max_rerank = check_positive_int(max_rerank, "max_rerank", owner="plan", minimum=0)
    factors = {f for f in _FACTORS if f <= max_rerank}
    if max_rerank >= 2:
        factors.add(max_rerank)
    return tuple(sorted(factors))


def _round_up(x: float, step: int) -> int:
    return int(step * math.ceil(x / step))


def pca_widths(
    d: int,
    *,
    intrinsic_dim: float | None = None,
    dims_90: int | None = None,
    dims_95: int | None = None,
    dims_99: int | None = None,
) -> list[tuple[int, str]]:
    """Reduced widths worth trying, with the reason for each, ascending.

    2, 4 and 8 times the intrinsic dimension, and the widths holding 90/95/99% of the
    variance, each rounded up to a multiple of 8 (of 4 below d=64) and kept when
    ``8 <= p <= 7d/8`` (closer to ``d`` saves too little to be worth a transform).
    Widths within one step of a kept one are dropped. Without any estimate,
    ``d/8, d/4, d/2, 3d/4``.

    Examples
    --------
    >>> [p for p, _ in pca_widths(384, intrinsic_dim=15.8, dims_90=201, dims_95=245, dims_99=317)]
    [32, 64, 128, 208, 248, 320]
    """
    step = 8 if d >= 64 else 4
    raw: list[tuple[float, str]] = []
    if intrinsic_dim is not None and math.isfinite(intrinsic_dim) and intrinsic_dim > 0:
        raw += [(m * intrinsic_dim, f"{m}x intrinsic dimension {intrinsic_dim:.0f}") for m in (2, 4, 8)]
    for share, p in ((90, dims_90), (95, dims_95), (99, dims_99)):
        if p:
            raw.append((p, f"{share}% of the variance in {p} dims"))
    if not raw:
        raw = [(d * f, f"{f:g} of d") for f in (1 / 8, 1 / 4, 1 / 2, 3 / 4)]
    out: list[tuple[int, str]] = []
    for x, why in sorted(raw):
        p = max(step, _round_up(x, step))
        if p > 7 * d / 8:
            continue
        if out and p - out[-1][0] < step:
            continue
        out.append((p, why))
    return out


def leading_variance_share(X: np.ndarray) -> float:
    """Share of the total variance held by the first half of the coordinates of ``X`` (n, d).

    About 0.5 for a model without a preferred coordinate order; well above it for a
    model trained with Matryoshka loss, whose prefixes are meant to be used alone.

    Examples
    --------
    >>> X = np.random.default_rng(0).standard_normal((500, 8)) * [4, 4, 4, 4, 1, 1, 1, 1]
    >>> round(leading_variance_share(X), 2)
    0.94
    """
    var = np.asarray(X, dtype=np.float64).var(axis=0)
    total = float(var.sum())
    if total <= 0:
        return 0.5
    return float(var[: X.shape[1] // 2].sum()) / total


def _pq_ms(d: int, nbits: int) -> list[int]:
    lo, hi = (4, 32) if nbits == 8 else (2, 16)  # dimensions per sub-quantizer
    return [m for m in range(1, d + 1) if d % m == 0 and lo <= d // m <= hi and (m * nbits) % 8 == 0]


def generate_candidates(
    d: int,
    *,
    n_train: int,
    intrinsic_dim: float | None = None,
    dims_90: int | None = None,
    dims_95: int | None = None,
    dims_99: int | None = None,
    matryoshka: bool = False,
    max_bytes: int | None = None,
    itq_max_d: int = 768,
) -> list[CandidateSpec]:
    """Base specs to measure on ``d``-dimensional data, cheapest first.

    Parameters
    ----------
    d : int
        Input width.
    n_train : int
        Training rows available; PQ (16 centroids per sub-quantizer) is left out below 16.
    intrinsic_dim, dims_90, dims_95, dims_99 : optional
        From :func:`lowdim.diagnose.diagnose`; they choose the PCA widths (:func:`pca_widths`).
    matryoshka : bool
        Also propose ``mrl<p>`` truncations at those widths.
    max_bytes : int, optional
        Leave out every spec whose codes take more RAM bytes per vector.
    itq_max_d : int
        ITQ's rotation costs O(d^3) per iteration; above this width it is left out.

    Returns
    -------
    list of CandidateSpec, ordered by (bytes, fitting cost, name); no duplicates.

    Examples
    --------
    >>> cands = generate_candidates(64, n_train=5000, max_bytes=8)
    >>> [(c.spec, c.ram_bytes) for c in cands][:6]
    [('pq4x4', 2), ('pq8x4', 4), ('pca8/int4', 4), ('binary', 8), ('hamming', 8), ('pq16x4', 8)]
    """
    d = check_positive_int(d, "d", owner="generate_candidates")
    n_train = check_positive_int(n_train, "n_train", owner="generate_candidates")
    if max_bytes is not None:
        max_bytes = check_positive_int(max_bytes, "max_bytes", owner="plan")
    found: dict[str, CandidateSpec] = {}

    def add(spec: str, family: str, why: str = "") -> None:
        c = CandidateSpec.make(spec, d, family, why)
        if (max_bytes is None or c.ram_bytes <= max_bytes) and c.spec not in found:
            found[c.spec] = c

    for q in ("int4", "int8", "f16", "f32"):
        add(q, "scalar")
    for q in ("binary", "hamming", "rbq2", "rbq3", "rbq4"):
        add(q, "sign")
    for bits in (1, 2, 3, 4):
        add(f"rabitq{bits}", "rabitq")
    if d <= itq_max_d:
        add("itq/binary", "itq")
        add("itq/rbq2", "itq")
    if n_train >= 16:
        for m in _pq_ms(d, 4):
            add(f"pq{m}x4", "pq4")
    widths = pca_widths(d, intrinsic_dim=intrinsic_dim, dims_90=dims_90, dims_95=dims_95, dims_99=dims_99)
    prefixes = ["pca"] + (["mrl"] if matryoshka else [])
    after = [parse_spec(q).quantizer for q in _AFTER_REDUCTION]
    for prefix in prefixes:
        for p, why in widths:
            for stage in after:
                if stage.relies_on_centring and (stage.bits_per_dim or 1) * p < BINARY_MIN_BITS:
                    continue  # too few sign bits per vector to rank well
                add(f"{prefix}{p}/{stage.to_spec()}", prefix, why)
    return sorted(found.values(), key=lambda c: c.order_key)


def opq_candidate(missed: CandidateSpec, d: int, *, n_train: int) -> CandidateSpec | None:
    """``opq<b>/pq<b>x8`` of the same ``b`` bytes as a measured PQ spec that missed the target, or None.

    OPQ learns a rotation that balances the variance over the sub-spaces before an
    8-bit PQ; it helps most where a few directions dominate. Its training alternates
    k-means and a Procrustes step, tens of seconds per fit, so the planner only tries
    it where plain PQ of the same size came close. None for other specs, or with fewer
    than 2,560 training rows (10 per centroid).

    Examples
    --------
    >>> opq_candidate(CandidateSpec.make("pq64x4", 384, "pq4"), 384, n_train=50_000).spec
    'opq32/pq32x8'
    """
    s = parse_spec(missed.spec)
    if s.transforms or s.quantizer.codec is not ProductQuantizer or n_train < 2560:
        return None
    m, nbits = s.quantizer.args
    b = m * nbits // 8
    if d % b or d // b < 2:
        return None
    return CandidateSpec.make(f"opq{b}/pq{b}x8", d, "opq", f"rotation + 8-bit PQ at the bytes of {missed.spec}, which came close")
