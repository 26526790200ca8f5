"""ℓ1 sums by dyadic count-and-sum trees, one per coordinate (Liu, Hu, Reneau, Song and Liu 2024, after
Backurs, Lin, Mahabadi, Silwal and Tarnawski, ICLR 2024).

``‖x − y‖₁ = Σ_i |x_i − y_i|``, so ``Σ_x ‖x − y‖₁`` is a sum over coordinates of one-dimensional
problems. For coordinate ``i``, split the public range ``[−R, R]`` into ``2^h`` leaves and build the
balanced binary tree over them: level ``l`` (1..h) has ``2^l`` nodes of width ``w_l = 2R / 2^l``. Each
node stores the number of rows whose value falls in it and the **centred** sum of those values,
``Σ (x_i − c)`` with ``c`` the node's centre. For a query value ``y``, the leaves left and right of ``y``'s
leaf are covered by exactly one node per level (the sibling of ``y``'s ancestor), so

    Σ_x |x − y| = Σ_left nodes [(y − c) C − S̃] + Σ_right nodes [S̃ + (c − y) C] + C_leaf (u² + (w − u)²) / (2w)

which is exact but for the rows inside ``y``'s own leaf (width ``w = 2R / 2^h``, ``y`` at ``u`` from its left
edge), taken as spread evenly over it: their error is at most ``w`` each (beyond ``±R`` the leaf term is
exact too). No ``(1 + α)`` ring
approximation as in the counting tree of Backurs et al. The leaf term is linear in the noisy count, so
the estimate stays unbiased (an absolute value of a noisy leaf sum, the obvious alternative, adds
``E|noise|`` per coordinate: +0.9% on wordnet-minilm at ε = 1).

**Privacy.** Values are clipped to ``[−R, R]`` (``R`` is a declared public parameter). Adding or
removing one row changes, per coordinate and level, one node: its count by 1 and its centred sum by
at most ``w_l / 2`` (a value lies within half a width of its node's centre). Over ``k`` coordinates,
level ``l``'s counts have ℓ1 sensitivity ``k`` (ℓ2: ``√k``) and its centred sums ``k w_l / 2`` (ℓ2:
``√k w_l / 2``). Each level's blocks get a share of the budget (see ``_mechanisms``); the release is the
noisy tree, and the per-leaf tables that answer queries are computed from it (post-processing: any
number of queries costs nothing more). Centring is what keeps the noise small: a node's count
noise reaches an answer multiplied by ``|y − c| ≤ 1.5 w_l`` and its sum noise by 1, so deep levels,
whose widths halve, need little budget, and the error is dominated by a few top levels instead of
growing with the depth.

Examples
--------
>>> import numpy as np
>>> V = np.array([[-0.5], [0.25], [0.75]])
>>> stats = tree_statistics(V, bound=1.0, depth=3)
>>> tables = tree_tables(stats, bound=1.0, depth=3)
>>> float(tree_query(tables, np.array([[0.0]]), bound=1.0, depth=3)[0])  # |−0.5| + |0.25| + |0.75|
1.5
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..arrays import iter_slices

__all__ = [
    "DEFAULT_DEPTH",
    "tree_statistics",
    "tree_leaves",
    "tree_levels",
    "tree_blocks",
    "tree_tables",
    "tree_query",
    "tree_noise_variance",
    "tree_count",
    "block_names",
]

#: levels of the tree by default: 1,024 leaves per coordinate, leaf width R/512
DEFAULT_DEPTH = 10
# rows per block when binning: the flat bin numbers of a block stay near 32 MiB
_ROWS = 1 << 22


def block_names(depth: int) -> list[str]:
    """Names of the released blocks: ``counts_l1, sums_l1, ..., counts_l<depth>, sums_l<depth>``."""
    return [f"{kind}_l{level}" for level in range(1, depth + 1) for kind in ("counts", "sums")]


def _centres(bound: float, level: int) -> np.ndarray:
    width = 2.0 * bound / (1 << level)
    return -bound + (np.arange(1 << level) + 0.5) * width


def _leaf_of(V: np.ndarray, bound: float, depth: int) -> np.ndarray:
    """Leaf number (0..2^depth − 1) of each value, values beyond ``±bound`` in the end leaves."""
    leaves = 1 << depth
    b = np.floor((V.astype(np.float64) + bound) * (leaves / (2.0 * bound)))
    return np.clip(b, 0, leaves - 1).astype(np.int64)


def tree_leaves(
    V: np.ndarray, *, bound: float, depth: int, groups: np.ndarray | None = None, n_groups: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Per group, coordinate and leaf: the count and the raw sum of ``V`` (n, k), clipped to ``[−bound, bound]``.

    Returns two float64 arrays of shape (n_groups, k, 2^depth). ``groups`` (n,) holds each row's group in
    ``[0, n_groups)`` (default: all in group 0). Additive over rows, so a release can stream its rows in
    blocks and add the blocks' leaves up.
    """
    n, k = V.shape
    leaves = 1 << depth
    size = n_groups * k * leaves
    counts = np.zeros(size)
    sums = np.zeros(size)
    offsets = np.arange(k, dtype=np.int64) * leaves
    step = max(1, _ROWS // max(k, 1))
    for sl in iter_slices(n, step):
        block = np.clip(V[sl].astype(np.float64), -bound, bound)
        flat = _leaf_of(block, bound, depth) + offsets
        if groups is not None:
            flat += (groups[sl].astype(np.int64) * (k * leaves))[:, None]
        counts += np.bincount(flat.ravel(), minlength=size)
        sums += np.bincount(flat.ravel(), weights=block.ravel(), minlength=size)
    return counts.reshape(n_groups, k, leaves), sums.reshape(n_groups, k, leaves)


def tree_levels(counts: np.ndarray, sums: np.ndarray, *, bound: float, depth: int) -> dict[str, np.ndarray]:
    """The exact (noiseless) tree from one group's leaf counts and raw sums (k, 2^depth): per level, counts and centred sums."""
    c, s = counts, sums
    out: dict[str, np.ndarray] = {}
    for level in range(depth, 0, -1):
        out[f"counts_l{level}"] = c
        out[f"sums_l{level}"] = s - _centres(bound, level)[None, :] * c  # centred: bounded by half a width per row
        c, s = c[:, 0::2] + c[:, 1::2], s[:, 0::2] + s[:, 1::2]
    return out


def tree_statistics(V: np.ndarray, *, bound: float, depth: int) -> dict[str, np.ndarray]:
    """The exact (noiseless) tree of ``V`` (n, k): per level, counts and centred sums of shape (k, 2^l), float64.

    ``V`` is clipped to ``[−bound, bound]`` here, so that every row's effect is bounded whatever it holds.
    """
    counts, sums = tree_leaves(V, bound=bound, depth=depth)
    return tree_levels(counts[0], sums[0], bound=bound, depth=depth)


def tree_blocks(k: int, *, bound: float, depth: int) -> dict[str, tuple[float, float, float]]:
    """``{block: (Δ1, Δ2, A)}`` of a tree over ``k`` coordinates: sensitivities and typical query weight.

    A query touches one node per coordinate and level; its count enters with weight ``|y − c|``
    (about one width ``w_l``) and its centred sum with weight 1.
    """
    out = {}
    root_k = math.sqrt(k)
    for level in range(1, depth + 1):
        width = 2.0 * bound / (1 << level)
        out[f"counts_l{level}"] = (float(k), root_k, width * root_k)
        out[f"sums_l{level}"] = (k * width / 2.0, root_k * width / 2.0, root_k)
    return out


def tree_count(released: dict[str, np.ndarray]) -> float:
    """The number of rows, from the shallowest released level's noisy counts (every coordinate counts every row)."""
    level = 1
    while f"counts_l{level + 1}" in released and not np.isfinite(released[f"counts_l{level}"]).all():
        level += 1  # a level not released (lp skips the top ones) holds NaN
    return float(released[f"counts_l{level}"].sum(axis=1).mean())


def tree_tables(released: dict[str, np.ndarray], *, bound: float, depth: int) -> np.ndarray:
    """Per coordinate and leaf, what a query in that leaf needs: (k · 2^depth, 4) float64.

    Columns: ``alpha`` (count of the left nodes minus the right ones), ``beta`` (raw sums of the right
    nodes minus the left ones), and the leaf's own count and centred sum. Computed from the noisy tree
    only (post-processing).
    """
    k = released["counts_l1"].shape[0]
    leaves = 1 << depth
    leaf = np.arange(leaves)
    alpha = np.zeros((k, leaves))
    beta = np.zeros((k, leaves))
    for level in range(1, depth + 1):
        ancestor = leaf >> (depth - level)
        sibling = ancestor ^ 1
        sign = np.where(ancestor & 1, 1.0, -1.0)  # the sibling is on the left (+) or on the right (−)
        c = released[f"counts_l{level}"][:, sibling]
        raw = released[f"sums_l{level}"][:, sibling] + _centres(bound, level)[sibling][None, :] * c
        alpha += sign * c
        beta -= sign * raw
    table = np.empty((k, leaves, 4))
    table[..., 0], table[..., 1] = alpha, beta
    table[..., 2], table[..., 3] = released[f"counts_l{depth}"], released[f"sums_l{depth}"]
    return table.reshape(k * leaves, 4)


def _leaf_weights(y: np.ndarray, leaf: np.ndarray, bound: float, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Weights ``(g, h)`` of the own leaf's count and centred sum in ``Σ_{x in leaf} |x − y|``.

    Inside ``[−R, R]``: the mean ``|x − y|`` of rows spread evenly over the leaf, ``(u² + (w − u)²) / (2w)``
    with ``u`` = ``y`` − the leaf's left edge, and no sum. Beyond ``±R`` every row of the end leaf lies on
    one side of ``y``, and ``C (y − c) − S̃`` (or its mirror) is exact.
    """
    width = 2.0 * bound / (1 << depth)
    u = np.clip(y - (-bound + leaf * width), 0.0, width)
    g = (u * u + (width - u) ** 2) / (2.0 * width)
    h = np.zeros_like(y)
    centre = -bound + (leaf + 0.5) * width
    right, left = y > bound, y < -bound
    g[right], h[right] = (y - centre)[right], -1.0
    g[left], h[left] = (centre - y)[left], 1.0
    return g, h


def tree_query(tables: np.ndarray, Y: np.ndarray, *, bound: float, depth: int, block: int = 2048) -> np.ndarray:
    """Estimates of ``Σ_x ‖x − y‖₁`` for each row of ``Y`` (m, k): float64 of shape (m,)."""
    m, k = Y.shape
    leaves = 1 << depth
    offsets = np.arange(k, dtype=np.int64) * leaves
    out = np.empty(m)
    for sl in iter_slices(m, block):
        y = Y[sl].astype(np.float64)
        b = _leaf_of(y, bound, depth)
        t = tables[b + offsets]  # (rows, k, 4)
        g, h = _leaf_weights(y, b, bound, depth)
        out[sl] = (y * t[..., 0] + t[..., 1] + g * t[..., 2] + h * t[..., 3]).sum(axis=1)
    return out


def tree_noise_variance(variances: dict[str, float], Y: np.ndarray, *, bound: float, depth: int, block: int = 2048) -> np.ndarray:
    """Variance of the privacy noise in :func:`tree_query`'s answer for each row of ``Y`` (m, k): float64 (m,).

    ``variances`` holds each block's per-entry noise variance (``2 b²`` for Laplace, ``σ²`` for Gaussian).
    The answer combines, per coordinate and level, one sibling node's count with weight ``y − c`` and its
    centred sum with weight 1, plus the leaf's own count and sum with the weights of :func:`_leaf_weights`;
    all entries carry independent noise, so their variances add up. Public numbers only.
    """
    m, k = Y.shape
    centres = _sibling_centres(bound, depth)  # (depth, leaves)
    v_counts = np.array([variances[f"counts_l{level}"] for level in range(1, depth + 1)])
    v_sums = sum(variances[f"sums_l{level}"] for level in range(1, depth + 1))
    out = np.empty(m)
    for sl in iter_slices(m, max(1, block // depth)):
        y = Y[sl].astype(np.float64)
        b = _leaf_of(y, bound, depth)
        diff = y[None, :, :] - centres[:, b]  # (depth, rows, k): y against the sibling of its ancestor, per level
        total = np.einsum("l,lrk->r", v_counts, diff * diff) + k * v_sums
        g, h = _leaf_weights(y, b, bound, depth)
        total += (g * g).sum(axis=1) * variances[f"counts_l{depth}"] + (h * h).sum(axis=1) * variances[f"sums_l{depth}"]
        out[sl] = total
    return out


@functools.lru_cache(maxsize=16)
def _sibling_centres(bound: float, depth: int) -> np.ndarray:
    """For each level (rows) and leaf (columns): the centre of the sibling of the leaf's ancestor at that level."""
    leaf = np.arange(1 << depth)
    return np.stack([_centres(bound, level)[(leaf >> (depth - level)) ^ 1] for level in range(1, depth + 1)])
