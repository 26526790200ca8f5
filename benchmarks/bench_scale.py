"""A durable IVF collection at scale: build time and peak memory, RAM per vector, recall and latency warm and cold.

Data: the synthetic set of ``benchmarks/synthetic.py`` (10,000,000 × 384, the geometry of
wordnet-minilm, real queries; generate it first), its first ``--n`` rows. Exact top-10 comes
with the set for all of it, and is computed here in blocks for a prefix.

lowdim: ``Collection.create(spec="ivf<nlist>/<codec>", vector_dtype="float16")`` filled in
batches of 100,000 (``add``), then ``build_index()``, on every core; the build's wall time and the process's
peak resident memory; RAM per vector as the collection's own accounting (codes, ids, lists,
centroids) and as the process's anonymous memory after reopening (``RssAnon``: what is not
file-backed page cache). Then per nprobe, one thread, one query at a time: recall@10, p50 and
p99 latency with the float16 vectors in the page cache (warm), and after evicting the
collection's vectors from the page cache before every query (cold: the collection is closed,
its vector files get ``posix_fadvise(DONTNEED)`` (no root needed) and it is reopened; the
reopening is not timed, so the query pays for its reranking reads from disk). Then ``n / 100`` more vectors are added and folded into the lists, timed
against the build. With ``--faiss`` (at 1M; at 10M its float32 refine store alone is 15 GB),
FAISS's IVF-PQ fast-scan and IVF-RaBitQ with ``IndexRefineFlat`` (k_factor 10, as it ships:
float32 vectors in RAM) on the same rows and queries.

Writes ``benchmarks/results/scale_<n>.json``. Run::

    .venv/bin/python benchmarks/synthetic.py --n 10000000 --out /tmp/lowdim-10m
    .venv/bin/python benchmarks/bench_scale.py --data /tmp/lowdim-10m --n 1000000 --faiss
    .venv/bin/python benchmarks/bench_scale.py --data /tmp/lowdim-10m --n 10000000 --codec pq64x4+rerank10 \
        --nprobe 256,1024 --rerank 10,20,50 --cold 100 --cold-at 256:10,1024:20
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results"


def _recall(ids: np.ndarray, gt: np.ndarray) -> float:
    return float(np.mean([len(set(a.tolist()) & set(b.tolist())) / 10 for a, b in zip(ids, gt[:, :10], strict=True)]))


def _evict(folder: Path) -> None:
    for p in folder.rglob("*.npy"):
        fd = os.open(p, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def _one_at_a_time(search, Q: np.ndarray, before=None) -> tuple[np.ndarray, np.ndarray]:
    ids, ms = [], []
    for q in Q:
        if before is not None:
            before()
        t = time.perf_counter()
        ids.append(search(q[None]))
        ms.append(1000 * (time.perf_counter() - t))
    return np.concatenate(ids), np.asarray(ms)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="folder written by benchmarks/synthetic.py")
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--codec", default="pq48x4+rerank10")
    ap.add_argument("--nlist", type=int, default=None, help="default: lowdim's auto_nlist(n)")
    ap.add_argument("--nprobe", default="16,32,64,128")
    ap.add_argument("--rerank", default=None, help="rerank factors to search with (default: the codec's own)")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--cold", type=int, default=200, help="queries measured with a cold page cache")
    ap.add_argument("--cold-at", default=None, help="nprobe:rerank pairs measured cold too (default all), e.g. 256:10,1024:20")
    ap.add_argument("--keep", action="store_true", help="keep the built collection under --work")
    ap.add_argument("--faiss", action="store_true")
    ap.add_argument("--work", type=Path, default=None, help="where the collection is built (default a temp folder)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from rich.console import Console
    from rich.progress import track
    from rich.table import Table

    from lowdim.arrays import single_thread
    from lowdim.eval import exact_knn
    from lowdim.search import auto_nlist
    from lowdim.store import Collection

    console = Console(width=170)
    corpus = np.load(args.data / "corpus.f16.npy", mmap_mode="r")
    n = min(args.n, len(corpus))
    d = corpus.shape[1]
    Q = np.load(args.data / "queries.npy").astype(np.float32)[: args.queries]
    if n == len(corpus):
        gt = np.load(args.data / "gt_top100.npy")[: args.queries, :10]
    else:
        console.print(f"exact top-10 of {len(Q):,} queries over the first {n:,} rows (blocks)")
        _, gt = exact_knn(corpus[:n], Q, 10, metric="cosine", progress=True)
    nlist = args.nlist or auto_nlist(n)
    spec = f"ivf{nlist}/{args.codec}"
    probes = [p for p in (int(v) for v in args.nprobe.split(",")) if p <= nlist]
    reranks = [None] if args.rerank is None else [int(v) for v in args.rerank.split(",")]
    cold_at = None if args.cold_at is None else {tuple(int(x) for x in v.split(":")) for v in args.cold_at.split(",")}
    work = Path(tempfile.mkdtemp(prefix="lowdim-scale-", dir=args.work))
    rows: list[dict] = []
    doc: dict = {"meta": {"n": n, "d": d, "spec": spec, "queries": len(Q), "machine": platform.machine(), "cpus": os.cpu_count()}}
    try:
        # the build uses every core (2 here); the searches below run on one thread
        t = time.perf_counter()
        col = Collection.create(work / "c", dim=d, spec=spec, vector_dtype="float16", train_size=100_000)
        for start in track(range(0, n, 100_000), description=f"adding {n:,} rows", console=console):
            col.add(np.asarray(corpus[start : min(start + 100_000, n)], np.float32))
        col.build_index()
        build = time.perf_counter() - t
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        col.close()
        # anonymous memory of a fresh process that opens the collection and searches (this one's heap is the build's)
        probe = (
            "import sys, numpy as np; sys.path.insert(0, sys.argv[1]); from lowdim.store import Collection; "
            "base = [l for l in open('/proc/self/status') if l.startswith('RssAnon')][0]; "
            "c = Collection.open(sys.argv[2]); c.search(np.load(sys.argv[3])[:8].astype(np.float32), 10); "
            "now = [l for l in open('/proc/self/status') if l.startswith('RssAnon')][0]; "
            "print(int(now.split()[1]) - int(base.split()[1]))"
        )
        out = subprocess.run(
            [sys.executable, "-c", probe, str(ROOT / "src"), str(work / "c"), str(args.data / "queries.npy")],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        anon = int(out.stdout.strip().splitlines()[-1]) / 1024
        with single_thread():
            col = Collection.open(work / "c")
            col.search(Q[:8], 10)
            info = col.info()
            ram = sum(info["ram_bytes"].values()) / info["count"]
            console.print(
                f"{spec}: built in {build:.0f} s (peak RSS {peak:,.0f} MiB); RAM {ram:.1f} B/vector by the collection's "
                f"account, {anon * 2**20 / n:.1f} B/vector of anonymous memory in a fresh process that opens it and searches; lists {info['nlist']}, "
                f"imbalance {info['list_imbalance']:.2f}"
            )
            doc["build"] = {
                "seconds": build,
                "peak_rss_mib": peak,
                "ram_bytes_per_vector": ram,
                "anon_bytes_per_vector": anon * 2**20 / n,
                "info": info,
            }
            held = [col]

            def cold() -> None:
                """Close the collection (its maps go), evict its vectors from the page cache, reopen it."""
                held[0].close()
                _evict(work / "c" / "segments")
                held[0] = Collection.open(work / "c")

            # every warm run first: a cold run evicts the vectors, and the runs after it would start cold
            for cache in ("warm", "cold"):
                for p in probes:
                    for r in reranks:
                        if cache == "cold" and cold_at is not None and (p, r) not in cold_at:
                            continue

                        def search(q, p=p, r=r):
                            res = held[0].search(q, 10, nprobe=p, rerank=r)
                            return np.array([[-1 if v is None else v for v in row] for row in res.ids.tolist()])

                        qs, before_q = (Q, None) if cache == "warm" else (Q[: args.cold], cold)
                        ids, ms = _one_at_a_time(search, qs, before_q)
                        rows.append(
                            {
                                "engine": "lowdim",
                                "index": spec if r is None else f"{spec.rsplit('+rerank', 1)[0]}+rerank{r}",
                                "nprobe": p,
                                "cache": cache,
                                "recall@10": _recall(ids, gt[: len(qs)]),
                                "p50_ms": float(np.percentile(ms, 50)),
                                "p99_ms": float(np.percentile(ms, 99)),
                                "ram_bytes_per_vector": ram,
                            }
                        )
                        console.print(rows[-1])
            col = held[0]
            extra = np.asarray(corpus[: n // 100], np.float32) + np.float32(0.001)
            t = time.perf_counter()
            col.add(extra)
            col.build_index()
            add_s = time.perf_counter() - t
            doc["add_1pct"] = {"vectors": len(extra), "seconds": add_s, "share_of_build": add_s / build}
            console.print(
                f"adding {len(extra):,} vectors (1%) and folding them in: {add_s:.1f} s = {100 * add_s / build:.2f}% of the build"
            )
            col.close()
        if args.faiss:
            import faiss

            X = np.asarray(corpus[:n], np.float32)
            X /= np.linalg.norm(X, axis=1, keepdims=True)
            m = int(args.codec.split("x")[0].removeprefix("pq")) if args.codec.startswith("pq") else 48
            for factory, code in ((f"IVF{nlist},PQ{m}x4fs", m // 2), (f"IVF{nlist},RaBitQ", d // 8 + 8)):
                with single_thread():
                    t = time.perf_counter()
                    base = faiss.index_factory(d, factory, faiss.METRIC_INNER_PRODUCT)
                    fx = faiss.IndexRefineFlat(base)
                    fx.train(X[: min(n, 256 * nlist, 1_000_000)])
                    fx.add(X)
                    fbuild = time.perf_counter() - t
                    fx.k_factor = 10
                    ivf = faiss.extract_index_ivf(base)
                    fram = code + 8 + nlist * d * 4 / n + 4 * d
                    for p in probes:
                        ivf.nprobe = p
                        ids, ms = _one_at_a_time(lambda q, fx=fx: fx.search(q, 10)[1], Q)
                        rows.append(
                            {
                                "engine": "faiss",
                                "index": f"{factory} + RFlat x10 (built {fbuild:.0f} s)",
                                "nprobe": p,
                                "cache": "RAM",
                                "recall@10": _recall(ids, gt),
                                "p50_ms": float(np.percentile(ms, 50)),
                                "p99_ms": float(np.percentile(ms, 99)),
                                "ram_bytes_per_vector": fram,
                            }
                        )
                        console.print(rows[-1])
                del fx, base
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    table = Table(title=f"IVF collection at {n:,} × {d} (synthetic, wordnet-minilm geometry), one thread, one query at a time")
    for c in ("engine", "index", "nprobe", "cache", "recall@10", "p50 ms", "p99 ms", "RAM B/vector"):
        table.add_column(c)
    for r in rows:
        table.add_row(
            r["engine"], r["index"], str(r["nprobe"]), r["cache"], f"{r['recall@10']:.3f}", f"{r['p50_ms']:.2f}",
            f"{r['p99_ms']:.2f}", f"{r['ram_bytes_per_vector']:.0f}",
        )  # fmt: skip
    console.print(table)
    doc["rows"] = rows
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"scale_{n}.json"
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
