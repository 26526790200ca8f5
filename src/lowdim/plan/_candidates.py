"""Which specs the planner measures: ladders of :class:`CandidateSpec` from :func:`generate_candidates`.

Every family is a **ladder**: its specs ordered by RAM bytes, one spec per size, so that
the planner can sweep it coarsely and then bisect between its largest failing and its
smallest passing step (:class:`~lowdim.plan.LadderSearch`):

- **scalar**: ``int4``, ``int8``, ``f16``, ``f32`` (``f32`` is "do not compress").
- **sign**: ``binary``, ``rbq2``, ``rbq3``, ``rbq4`` (centred sign codes of 1 to 4 bits per
  dimension, scored asymmetrically).
- **rabitq**: ``rabitq1`` to ``rabitq8`` (FAISS's RaBitQ: centred codes with per-vector
  correction factors, 8 or 20 bytes more than the bits).
- **itq**: ``itq/binary``, ``itq/rbq2`` (a learned rotation before the sign codes), measured
  only where the plain sign code came close to the target.
- **pq4** and **pq8**: ``pq<m>x4`` and ``pq<m>x8`` for every ``m`` dividing the width the
  quantizer sees, from 4 bytes per vector up. 4-bit PQ is scanned with FAISS's SIMD
  fast-scan kernel; 8-bit PQ is FAISS's ``PQm``, more accurate per byte at small sizes.
- **pca** and **mrl**: ``<prefix><p>/<q>`` for widths ``p`` in steps of 8 (of 4 below
  d=64) up to 7d/8, one ladder per quantizer ``q`` of ``int8``, ``int4``, ``rbq2``,
  ``binary`` (sign codes only with at least 128 bits). Matryoshka truncation (mrl)
  only when the leading coordinates hold most of the variance.
- **opq** (``opq<m>/pq<m>x8``, at the sizes of the pq8 ladder) is slow to train: the
  planner tries it only at the step of the pq8 ladder just below its passing step, and
  one step further down when that passes (see :func:`opq_candidate`).

Every spec is measured at each rerank factor of :func:`rerank_factors`: one fitted and
encoded pipeline serves them all.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..codecs import PQ_POINTS_PER_CENTROID, ProductQuantizer
from ..spec import parse_spec
from ..validation import check_positive_int

__all__ = [
    "CandidateSpec",
    "generate_candidates",
    "group_ladders",
    "coarse_steps",
    "rerank_factors",
    "pca_widths",
    "ladder_widths",
    "opq_candidate",
    "leading_variance_share",
    "family_rank",
    "BINARY_MIN_BITS",
    "PQ_POINTS_PER_CENTROID",
    "SKIPPED_FACTOR",
]

#: sign codes below this many bits per vector rank poorly (the diagnosis warns at d < 128)
BINARY_MIN_BITS = 128
#: the one rerank factor never measured, and why
SKIPPED_FACTOR = (1, "a factor of 1 reranks only the top k, which reorders them but cannot change recall@k")
#: leading-half variance share above which the data looks Matryoshka-trained (0.5 is what a
#: model without a preferred coordinate order gives)
MATRYOSHKA_SHARE = 0.7
#: quantizers tried after each reduced width (sign codes only where they keep BINARY_MIN_BITS bits)
_AFTER_REDUCTION = ("int8", "int4", "rbq2", "binary")
#: the smallest PQ code the ladders go down to
PQ_MIN_BYTES = 4
#: families in a fixed order: cheaper to fit and scan first. It orders candidates of equal
#: bytes in the sweep and breaks the last tie of the recommendation (after rerank and recall)
FAMILIES = ("sign", "pq4", "scalar", "pca", "mrl", "pq8", "rabitq", "itq", "opq")


def family_rank(family: str) -> int:
    """Position of ``family`` in the fixed family order (unknown families last).

    >>> family_rank("sign") < family_rank("pq8") < family_rank("opq") < family_rank("?")
    True
    """
    return FAMILIES.index(family) if family in FAMILIES else len(FAMILIES)


@dataclass(frozen=True)
class CandidateSpec:
    """One base spec (no ``+rerank``) the planner may measure: a step of one ladder.

    Attributes
    ----------
    spec : str
        Canonical spec string, e.g. ``"pca128/int8"``.
    family : str
        ``"scalar"``, ``"sign"``, ``"rabitq"``, ``"itq"``, ``"pq4"``, ``"pq8"``, ``"pca"``,
        ``"mrl"`` or ``"opq"``.
    ram_bytes : int
        Code bytes per vector (``bytes_per_vector(d, spec)``).
    why : str
        What suggested it ("95% of the variance in 245 dims", "ladder step", ...).
    ladder : str
        The ladder it is a step of: the family, or ``"<family>/<quantizer>"`` for the
        reduced widths (``"pca/int8"``).

    Examples
    --------
    >>> c = CandidateSpec.make("pq96x4", 384, "pq4")
    >>> c.spec, c.ram_bytes, c.ladder
    ('pq96x4', 48, 'pq4')
    >>> CandidateSpec.make("pca64/int4", 384, "pca").ladder
    'pca/int4'
    """

    spec: str
    family: str
    ram_bytes: int
    why: str = ""
    ladder: str = ""

    @classmethod
    def make(cls, spec: str, d: int, family: str, why: str = "") -> CandidateSpec:
        parsed = parse_spec(spec)
        ladder = f"{family}/{parsed.quantizer.to_spec()}" if family in ("pca", "mrl") else family
        return cls(parsed.to_spec(), family, parsed.bytes_per_vector(d), why, ladder)

    @property
    def order_key(self) -> tuple[int, int, str]:
        """Cheapest first: fewer bytes, then cheaper to fit and scan, then by name."""
        return (self.ram_bytes, family_rank(self.family), self.spec)


def rerank_factors(max_rerank: int) -> tuple[int, ...]:
    """The rerank factors measured for every candidate: every integer from 0 to ``max_rerank`` but 1.

    A factor of 1 rescores only the top k: it reorders them but cannot change recall@k.

    Examples
    --------
    >>> rerank_factors(4), rerank_factors(1), rerank_factors(0)
    ((0, 2, 3, 4), (0,), (0,))
    """
    max_rerank = check_positive_int(max_rerank, "max_rerank", owner="plan", minimum=0)
    return tuple(f for f in range(max_rerank + 1) if f != SKIPPED_FACTOR[0])


def _round_up(x: float, step: int) -> int:
    return int(step * math.ceil(x / step))


def ladder_widths(d: int) -> list[int]:
    """Reduced widths of the pca/mrl ladders: steps of 8 (of 4 below d=64) up to 7d/8.

    Closer to ``d`` a transform saves too little to be worth it.

    >>> ladder_widths(64), ladder_widths(32)[:3], len(ladder_widths(384))
    ([8, 16, 24, 32, 40, 48, 56], [4, 8, 12], 42)
    """
    step = 8 if d >= 64 else 4
    return list(range(step, int(7 * d / 8) + 1, step))


def pca_widths(
    d: int,
    *,
    intrinsic_dim: float | None = None,
    dims_90: int | None = None,
    dims_95: int | None = None,
    dims_99: int | None = None,
) -> list[tuple[int, str]]:
    """The widths the diagnosis points at, with the reason for each, ascending.

    2, 4 and 8 times the intrinsic dimension, and the widths holding 90/95/99% of the
    variance, each rounded up to a step of :func:`ladder_widths` and kept when
    ``8 <= p <= 7d/8``. Widths within one step of a kept one are dropped. Without any
    estimate, ``d/8, d/4, d/2, 3d/4``. The planner's ladders hold every width; these
    name the reason of the steps that match them.

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
    """Every ``m`` dividing ``d`` whose ``pq<m>x<nbits>`` codes take whole bytes, from PQ_MIN_BYTES up."""
    return [m for m in range(1, d + 1) if d % m == 0 and (m * nbits) % 8 == 0 and m * nbits // 8 >= PQ_MIN_BYTES]


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
    """Every step of every ladder on ``d``-dimensional data, cheapest first.

    Parameters
    ----------
    d : int
        Input width.
    n_train : int
        Training rows available; a PQ spec is left out when it cannot be fitted on them
        (one row per centroid: the codec registry's ``min_fit_rows``).
    intrinsic_dim, dims_90, dims_95, dims_99 : optional
        From :func:`lowdim.diagnose.diagnose`; they name the reason of the pca/mrl steps
        they point at (:func:`pca_widths`).
    matryoshka : bool
        Also propose ``mrl<p>`` truncations at those widths.
    max_bytes : int, optional
        Leave out every spec whose codes take more RAM bytes per vector.
    itq_max_d : int
        ITQ's rotation costs O(d^3) per iteration; above this width it is left out.

    Returns
    -------
    list of CandidateSpec, ordered by (bytes, family, name); no duplicates.
    :func:`group_ladders` sorts them into ladders.

    Examples
    --------
    >>> cands = generate_candidates(64, n_train=5000, max_bytes=8)
    >>> [(c.spec, c.ram_bytes) for c in cands][:6]
    [('pq8x4', 4), ('pca8/int4', 4), ('pq4x8', 4), ('binary', 8), ('pq16x4', 8), ('pca16/int4', 8)]
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
    for q in ("binary", "rbq2", "rbq3", "rbq4"):
        add(q, "sign")
    for bits in range(1, 9):
        add(f"rabitq{bits}", "rabitq")
    if d <= itq_max_d:
        add("itq/binary", "itq")
        add("itq/rbq2", "itq")
    for nbits in (4, 8):
        for m in _pq_ms(d, nbits):
            if parse_spec(f"pq{m}x{nbits}").min_fit_rows(d) <= n_train:
                add(f"pq{m}x{nbits}", f"pq{nbits}")
    reasons = dict(pca_widths(d, intrinsic_dim=intrinsic_dim, dims_90=dims_90, dims_95=dims_95, dims_99=dims_99))
    prefixes = ["pca"] + (["mrl"] if matryoshka else [])
    after = [parse_spec(q).quantizer for q in _AFTER_REDUCTION]
    for prefix in prefixes:
        for p in ladder_widths(d):
            for stage in after:
                if stage.relies_on_centring and (stage.bits_per_dim or 1) * p < BINARY_MIN_BITS:
                    continue  # too few sign bits per vector to rank well
                add(f"{prefix}{p}/{stage.to_spec()}", prefix, reasons.get(p, ""))
    return sorted(found.values(), key=lambda c: c.order_key)


def group_ladders(cands: Iterable[CandidateSpec]) -> dict[str, list[CandidateSpec]]:
    """The candidates sorted into ladders (by :attr:`CandidateSpec.ladder`), each by bytes, one spec per size.

    Examples
    --------
    >>> lad = group_ladders(generate_candidates(64, n_train=5000, max_bytes=16))
    >>> [c.spec for c in lad["pq8"]], [c.spec for c in lad["sign"]]
    (['pq4x8', 'pq8x8', 'pq16x8'], ['binary', 'rbq2'])
    """
    out: dict[str, list[CandidateSpec]] = {}
    for c in sorted(cands, key=lambda c: c.order_key):
        steps = out.setdefault(c.ladder, [])
        if not steps or steps[-1].ram_bytes < c.ram_bytes:
            steps.append(c)
    return out


def coarse_steps(ladder: Sequence[CandidateSpec], ratio: float = 2.0) -> list[CandidateSpec]:
    """A geometric subset of ``ladder`` for the first sweep: its first step, each step at least
    ``ratio`` times the bytes of the previous one taken, and its last step.

    Examples
    --------
    >>> lad = group_ladders(generate_candidates(384, n_train=50_000))["pca/int8"]
    >>> [c.ram_bytes for c in coarse_steps(lad)]
    [8, 16, 32, 64, 128, 256, 336]
    """
    out: list[CandidateSpec] = []
    for c in ladder:
        if not out or c.ram_bytes >= ratio * out[-1].ram_bytes:
            out.append(c)
    if ladder and out[-1] is not ladder[-1]:
        out.append(ladder[-1])
    return out


def opq_candidate(missed: CandidateSpec, d: int, *, n_train: int) -> CandidateSpec | None:
    """``opq<b>/pq<b>x8`` of the same ``b`` bytes as a plain PQ spec, or None.

    OPQ learns a rotation that balances the variance over the sub-spaces before an
    8-bit PQ; it helps most where a few directions dominate. Its training alternates
    k-means and a Procrustes step, tens of seconds per fit, so the planner only tries
    it next to the boundary of the plain pq8 ladder. None for other specs, or with fewer
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
    return CandidateSpec.make(f"opq{b}/pq{b}x8", d, "opq", f"rotation + 8-bit PQ at the bytes of {missed.spec}")
