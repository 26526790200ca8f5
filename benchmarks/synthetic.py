"""A 10M × 384 vector set with the geometry of wordnet-minilm, and its exact ground truth.

Method: a smoothed bootstrap of the real corpus with cluster-shaped kernels (a kernel density
estimate whose kernel is each region's own low-rank covariance):

1. ``faiss.Kmeans`` (K = 2,048 centroids, seeded) on the 116,697 real unit-norm rows.
2. Per cluster k, the residuals ``x - c_k`` of its rows give a covariance ``S_k``: its top
   ``r`` = 32 principal directions with their variances, plus an isotropic remainder for the
   other 384 - r dimensions. Small clusters cannot estimate 384 dimensions, so ``S_k`` is shrunk
   towards the pooled within-cluster covariance ``S_w`` (top 64 directions plus an isotropic
   remainder): ``(1 - a_k) S_k + a_k S_w`` with ``a_k = m / (n_k + m)``, m = 20.
3. A row is ``normalise(x_i + tau * e)``: ``x_i`` a real row drawn uniformly (with
   replacement), ``e ~ N(0, S_k)`` for x_i's cluster k. ``tau`` = 0.7 is the bandwidth: the
   noise moves a row by about 0.51 in L2 (squared: 0.7² × 0.54 = 0.26 on average), while
   real rows are 0.73 from their nearest neighbour (median), so the copies of one real row overlap
   their neighbours' copies instead of forming tight blobs.

``--mixture`` draws around the centroids instead (``normalise(c_k + tau * e)``, k by cluster
size: the Gaussian mixture). That is much too easy for IVF: a query's neighbours all come from
one component (recall@10 0.987 at nprobe 64 with IVF1024 against 0.900 on the real rows),
whereas the smoothed bootstrap matches the real curve within 0.01 at every nprobe (``--check``,
``benchmarks/results/synthetic_check.json``). The IVF curve hardly moves with tau (0.3 to 1.3);
larger tau lowers the top-1 similarities and flattens the PCA spectrum at 117k, smaller tau
makes tighter blobs of near-copies at 10M. ``--mix 0.5`` (slide each anchor up to halfway
towards one of its 10 real neighbours, SMOTE-like) spreads the copies along the corpus's own
directions but pulls rows into dense regions: IVF gets easier (0.936 at nprobe 64), so it is off.

Known limit: 117k real rows cannot supply new local structure for 10M. At 1M rows a real
query's exact top-10 holds copies of 3.8 distinct real rows on average (47% of the top-10
share the top-1's real row), and the share grows with n; at 1M, IVF1024 still gives recall@10
0.917 at nprobe 64 and IVF4096 0.882, close to the real 117k curve.

Generation streams blocks of 500,000 rows: block ``b`` uses ``default_rng([seed, b])``, so
the output depends only on ``--seed`` and ``--n``. Each block is cast to float16, written to
``corpus.f16.npy`` (``open_memmap``, never the whole set in RAM), and the same float16 values
are searched exactly (``faiss.IndexFlatIP``) by the queries; a ``faiss.ResultHeap`` merges the
per-block top-100s, so the ground truth costs no second pass over the 7.7 GB file.

Queries: the first 1,000 real queries of wordnet-minilm (lemma lists, embedded by the same
model), ``queries.npy``, with ``gt_top100.npy`` (1,000 × 100 int64) and
``gt_top100_scores.npy``. Real queries are the sensible choice: like real user queries they lie
off the corpus distribution (top-1 similarity 0.67 on the real corpus), while draws from the
model sit next to their anchor's other copies and make IVF far easier (``--check`` column
"synthetic queries"). ``--synthetic-queries`` still writes 1,000 such draws
(``queries_synth.npy``, ``gt_top100_synth.npy``).

Outputs in ``--out``: ``corpus.f16.npy``, ``queries.npy``, ``gt_top100.npy``,
``gt_top100_scores.npy``, ``meta.json`` (model, seed, K, r, tau, timings). Run::

    .venv/bin/python benchmarks/synthetic.py --n 10000000 --out /tmp/lowdim-10m
    .venv/bin/python benchmarks/synthetic.py --check     # 117k synthetic vs real, writes results/synthetic_check.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data" / "wordnet-minilm"
RESULTS = ROOT / "benchmarks" / "results"
BLOCK = 500_000
N_QUERIES = 1000
TOPK = 100
GLOBAL_RANK = 64
NPROBES = (8, 16, 32, 64, 128, 256)


@dataclass
class Model:
    """Fitted mixture: K components of dimension d.

    centroids (K, d) float32, weights (K,) float64, bases (K, r, d) float32 (principal
    directions scaled by their standard deviations, already multiplied by sqrt(1 - a_k)),
    iso (K,) float32 (isotropic standard deviation per dimension), alpha (K,) float32
    (shrinkage weight of the pooled part), gbasis (R, d) float32 (pooled within-cluster
    directions scaled by their standard deviations), tau: noise scale. Smoothed bootstrap
    (default): anchors (n, d) float32 real rows, anchor_cluster (n,) int64 their clusters,
    neighbours (n, knn) int64 their approximate real neighbours (only when mix > 0).
    """

    centroids: np.ndarray
    weights: np.ndarray
    bases: np.ndarray
    iso: np.ndarray
    alpha: np.ndarray
    gbasis: np.ndarray
    tau: float
    anchors: np.ndarray | None = None
    anchor_cluster: np.ndarray | None = None
    neighbours: np.ndarray | None = None
    mix: float = 0.0

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``n`` unit-norm rows, float32 (n, d), in random order."""
        from threadpoolctl import threadpool_limits

        K, d = self.centroids.shape
        r = self.bases.shape[1]
        if self.anchors is not None and self.anchor_cluster is not None:
            # smoothed bootstrap: a real row, moved by its cluster's Gaussian
            picks = np.sort(rng.integers(0, len(self.anchors), size=n))
            picks = picks[np.argsort(self.anchor_cluster[picks], kind="stable")]
            labels = self.anchor_cluster[picks]
            centres = self.anchors[picks]
            if self.neighbours is not None and self.mix > 0:
                # slide the anchor towards one of its real neighbours (SMOTE-like): new rows
                # spread along the corpus's own local directions, not only around the real rows
                nb = self.neighbours[picks, rng.integers(0, self.neighbours.shape[1], size=n)]
                lam = rng.uniform(0, self.mix, size=n).astype(np.float32)
                centres += lam[:, None] * (self.anchors[nb] - centres)
        else:
            labels = np.sort(rng.choice(K, size=n, p=self.weights))
            centres = self.centroids[labels]
        counts = np.bincount(labels, minlength=K)
        # rows are made in cluster order (contiguous slices) and shuffled at the end
        out = rng.standard_normal((n, d), dtype=np.float32)
        out *= self.iso[labels][:, None]
        zg = rng.standard_normal((n, self.gbasis.shape[0]), dtype=np.float32)
        zg *= np.sqrt(self.alpha[labels])[:, None]
        out += zg @ self.gbasis
        del zg
        z = rng.standard_normal((n, r), dtype=np.float32)
        start = 0
        # thousands of small products: threaded BLAS only adds synchronisation (50x slower on 2 busy cores)
        with threadpool_limits(1):
            for k in np.flatnonzero(counts):
                stop = start + counts[k]
                out[start:stop] += z[start:stop] @ self.bases[k]
                start = stop
        out *= np.float32(self.tau)
        out += centres
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out[rng.permutation(n)]


def fit_model(
    X: np.ndarray, *, K: int, r: int, tau: float, shrink: float, seed: int, anchors: bool = False, mix: float = 0.0, knn: int = 10
) -> Model:
    """Fit the mixture to unit-norm rows X, float32 (n, d)."""
    import faiss
    from threadpoolctl import threadpool_limits

    n, d = X.shape
    km = faiss.Kmeans(d, K, niter=20, seed=seed, max_points_per_centroid=10_000)
    km.train(X)
    _, lab = km.index.search(X, 1)
    lab = lab[:, 0]
    C = km.centroids.astype(np.float32)
    R = X - C[lab]
    # pooled within-cluster covariance: top GLOBAL_RANK directions + isotropic remainder
    cov = (R.T.astype(np.float64) @ R) / n
    ev, evec = np.linalg.eigh(cov)
    ev, evec = ev[::-1], evec[:, ::-1]
    g_iso2 = float(ev[GLOBAL_RANK:].mean())
    gbasis = (evec[:, :GLOBAL_RANK] * np.sqrt(np.maximum(ev[:GLOBAL_RANK] - g_iso2, 0))).T.astype(np.float32)
    counts = np.bincount(lab, minlength=K)
    bases = np.zeros((K, r, d), np.float32)
    iso = np.zeros(K, np.float32)
    alpha = np.zeros(K, np.float32)
    order = np.argsort(lab, kind="stable")
    start = 0
    with threadpool_limits(1):  # thousands of small SVDs, as in Model.sample
        for k in range(K):
            Rk = R[order[start : start + counts[k]]]
            start += counts[k]
            nk = len(Rk)
            a = shrink / (nk + shrink)
            alpha[k] = a
            if nk < 2:
                iso[k] = np.sqrt(g_iso2)
                alpha[k] = 1.0
                continue
            _, s, vt = np.linalg.svd(Rk, full_matrices=False)
            var = s**2 / nk
            rk = min(r, len(var))
            rest = float(var[rk:].sum()) / (d - rk)
            bases[k, :rk] = vt[:rk] * np.sqrt(np.maximum(var[:rk] - rest, 0) * (1 - a))[:, None]
            iso[k] = np.sqrt((1 - a) * rest + a * g_iso2)
    weights = counts / counts.sum()
    if anchors:
        nbrs = None
        if mix > 0:
            # approximate kNN of the real rows (IVF, nprobe 16): exact would cost minutes on 2 cores
            index = faiss.index_factory(d, "IVF1024,Flat", faiss.METRIC_INNER_PRODUCT)
            index.cp.seed = seed
            index.train(X)
            index.add(X)
            index.nprobe = 16
            nbrs = index.search(X, knn + 1)[1][:, 1:]
            nbrs = np.where(nbrs < 0, np.arange(n)[:, None], nbrs)
        return Model(C, weights, bases, iso, alpha, gbasis, tau, X, lab.astype(np.int64), nbrs, mix)
    return Model(C, weights, bases, iso, alpha, gbasis, tau)


def load_real() -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(np.load(DATA / "corpus.f16.npy", mmap_mode="r"), np.float32)
    Q = np.load(DATA / "queries.npy").astype(np.float32)[:N_QUERIES]
    return X, Q


def exact_topk(X: np.ndarray, Q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    import faiss

    index = faiss.IndexFlatIP(X.shape[1])
    index.add(X)
    return index.search(Q, k)


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn()
    )


def generate(model: Model, n: int, out: Path, *, seed: int, queries: dict[str, np.ndarray]) -> dict[str, float]:
    """Stream ``n`` rows to ``out/corpus.f16.npy`` and the exact top-100 of each query set."""
    import faiss

    d = model.centroids.shape[1]
    out.mkdir(parents=True, exist_ok=True)
    mm = np.lib.format.open_memmap(out / "corpus.f16.npy", mode="w+", dtype=np.float16, shape=(n, d))
    heaps = {name: faiss.ResultHeap(len(Q), TOPK, keep_max=True) for name, Q in queries.items()}
    t_gen = t_gt = t_io = 0.0
    nblocks = (n + BLOCK - 1) // BLOCK
    with _progress() as bar:
        task = bar.add_task(f"generating {n:,} rows", total=n)
        for b in range(nblocks):
            lo, hi = b * BLOCK, min(n, (b + 1) * BLOCK)
            t = time.perf_counter()
            rows = model.sample(hi - lo, np.random.default_rng([seed, b])).astype(np.float16)
            t_gen += time.perf_counter() - t
            t = time.perf_counter()
            mm[lo:hi] = rows
            t_io += time.perf_counter() - t
            t = time.perf_counter()
            index = faiss.IndexFlatIP(d)
            index.add(rows.astype(np.float32))
            del rows
            for name, Q in queries.items():
                D, I = index.search(Q, TOPK)
                heaps[name].add_result(D, I + lo)
            t_gt += time.perf_counter() - t
            bar.update(task, advance=hi - lo)
    t = time.perf_counter()
    mm.flush()
    del mm
    t_io += time.perf_counter() - t
    for name, Q in queries.items():
        heaps[name].finalize()
        suffix = "" if name == "real" else f"_{name}"
        np.save(out / f"queries{suffix}.npy", Q)
        np.save(out / f"gt_top100{suffix}.npy", heaps[name].I.astype(np.int64))
        np.save(out / f"gt_top100_scores{suffix}.npy", heaps[name].D.astype(np.float32))
    return {"sample_s": round(t_gen, 1), "write_s": round(t_io, 1), "ground_truth_s": round(t_gt, 1)}


# ---------------------------------------------------------------- the check


def ivf_curve(X: np.ndarray, Q: np.ndarray, gt: np.ndarray, seed: int) -> list[float]:
    """IVF1024,Flat (inner product) recall@10 at each of NPROBES."""
    import faiss

    index = faiss.index_factory(X.shape[1], "IVF1024,Flat", faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = seed
    index.train(X)
    index.add(X)
    curve = []
    for p in NPROBES:
        index.nprobe = p
        _, I = index.search(Q, 10)
        curve.append(float(np.mean([len(set(a) & set(g)) / 10 for a, g in zip(I, gt[:, :10])])))
    return curve


def describe(X: np.ndarray, Q: np.ndarray, seed: int, *, hub_queries: int, corpus: dict | None = None) -> dict:
    """IVF curve, PCA spectrum, top-1/top-10 similarities and hubness of corpus X for queries Q.

    ``corpus``: the PCA and hubness entries of an earlier call on the same X, reused.
    """
    from scipy.stats import skew

    D, I = exact_topk(X, Q, 10)
    q1, q10 = D[:, 0], D[:, 9]
    res = {
        "ivf1024_recall10": dict(zip(map(str, NPROBES), ivf_curve(X, Q, I, seed))),
        "top1_sim": {"mean": float(q1.mean()), "p10": float(np.percentile(q1, 10)), "p90": float(np.percentile(q1, 90))},
        "top10_sim": {"mean": float(q10.mean()), "p10": float(np.percentile(q10, 10)), "p90": float(np.percentile(q10, 90))},
    }
    if corpus is not None:
        return {**res, "pca_explained": corpus["pca_explained"], "hubness_skew_n10": corpus["hubness_skew_n10"]}
    Xc = X - X.mean(0)
    ev = np.linalg.eigvalsh((Xc.T.astype(np.float64) @ Xc) / len(X))[::-1]
    ratio = np.cumsum(ev) / ev.sum()
    # hubness: N_10 occurrence over the kNN lists of a fixed sample of corpus rows (self excluded)
    rows = np.random.default_rng(seed).choice(len(X), hub_queries, replace=False)
    _, H = exact_topk(X, X[rows], 11)
    occ = np.bincount(H[:, 1:].ravel(), minlength=len(X))
    return {**res, "pca_explained": {str(c): float(ratio[c - 1]) for c in (8, 32, 128)}, "hubness_skew_n10": float(skew(occ))}


def check(model: Model, seed: int, hub_queries: int) -> dict:
    from rich.console import Console
    from rich.table import Table

    X, Q = load_real()
    n = len(X)
    S = model.sample(n, np.random.default_rng([seed, 10**6]))
    Qs = model.sample(N_QUERIES, np.random.default_rng([seed, 10**6 + 1]))
    cache = Path(f"/tmp/lowdim-synthetic-real-{seed}-{hub_queries}.json")  # the real column does not change
    if cache.exists():
        real = json.loads(cache.read_text())
    else:
        real = describe(X, Q, seed, hub_queries=hub_queries)
        cache.write_text(json.dumps(real))
    synth = describe(S, Q, seed, hub_queries=hub_queries)
    cols = {
        "real": real,
        "synthetic": synth,
        "synthetic, synthetic queries": describe(S, Qs, seed, hub_queries=hub_queries, corpus=synth),
    }
    table = Table(title=f"wordnet-minilm ({n:,} rows) vs {n:,} synthetic rows; 1,000 queries")
    table.add_column("measure")
    for name in cols:
        table.add_column(name, justify="right")

    def row(label: str, get) -> None:
        table.add_row(label, *[f"{get(c):.3f}" for c in cols.values()])

    for p in NPROBES:
        row(f"IVF1024 recall@10, nprobe {p}", lambda c, p=p: c["ivf1024_recall10"][str(p)])
    for c in (8, 32, 128):
        row(f"PCA explained variance, top {c}", lambda v, c=c: v["pca_explained"][str(c)])
    for key in ("top1_sim", "top10_sim"):
        for stat in ("p10", "mean", "p90"):
            row(f"{key} {stat}", lambda v, key=key, stat=stat: v[key][stat])
    row("hubness: skew of N_10", lambda v: v["hubness_skew_n10"])
    Console(width=140).print(table)
    return cols


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--out", type=Path, default=Path("/tmp/lowdim-10m"))
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--K", type=int, default=2048, help="mixture components (k-means centroids)")
    ap.add_argument("--r", type=int, default=32, help="principal directions per component")
    ap.add_argument("--tau", type=float, default=0.7, help="noise scale (bandwidth)")
    ap.add_argument("--mix", type=float, default=0.0, help="slide anchors up to this fraction towards a real neighbour")
    ap.add_argument("--mixture", action="store_true", help="draw around the K centroids instead of real rows (too easy for IVF)")
    ap.add_argument("--shrink", type=float, default=20.0, help="pseudo-count m of the pooled covariance")
    ap.add_argument("--synthetic-queries", action="store_true", help="also 1,000 queries drawn from the model")
    ap.add_argument("--check", action="store_true", help="compare 116,697 synthetic rows with the real corpus")
    ap.add_argument("--hub-queries", type=int, default=20_000)
    ap.add_argument("--json", type=Path, default=RESULTS / "synthetic_check.json")
    args = ap.parse_args()
    import faiss

    settings = {
        "K": args.K,
        "r": args.r,
        "tau": args.tau,
        "shrink": args.shrink,
        "seed": args.seed,
        "mixture": args.mixture,
        "mix": args.mix,
    }
    t0 = time.perf_counter()
    X, Q = load_real()
    model = fit_model(
        X, K=args.K, r=args.r, tau=args.tau, shrink=args.shrink, seed=args.seed, anchors=not args.mixture, mix=args.mix
    )
    fit_s = time.perf_counter() - t0
    meta = {
        "model": "mixture of low-rank Gaussians fitted to wordnet-minilm (see benchmarks/synthetic.py)"
        if args.mixture
        else "smoothed bootstrap of wordnet-minilm with cluster-shaped low-rank Gaussian kernels (see benchmarks/synthetic.py)",
        **settings,
        "global_rank": GLOBAL_RANK,
        "fit_s": round(fit_s, 1),
        "machine": f"{platform.machine()}, {faiss.omp_get_max_threads()} threads",
    }
    if args.check:
        meta["check"] = check(model, args.seed, args.hub_queries)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(meta, indent=2) + "\n")
        return
    queries = {"real": Q}
    if args.synthetic_queries:
        queries["synth"] = model.sample(N_QUERIES, np.random.default_rng([args.seed, 10**6 + 1]))
    t = time.perf_counter()
    meta.update(
        n=args.n, block=BLOCK, queries=list(queries), **generate(model, args.n, args.out, seed=args.seed, queries=queries)
    )
    meta["generate_s"] = round(time.perf_counter() - t, 1)
    (args.out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()
