"""An IVF collection end to end: build, RAM, recall@10 and per-query latency, adding 1% more.

wordnet-minilm, all 116,697 × 384 rows (cosine), queries 0-999 with the exact top-10
shipped with the data. lowdim: a durable collection ``ivf1024/pq96x4+rerank10`` with
float16 vectors on disk (``Collection.create`` / ``add`` / ``build_index``), searched one
query at a time on one thread at nprobe 64 / 128 / 256, with the vectors in the page cache
(cold-cache latency: ``bench_scale.py``, which reopens the collection after evicting them).
Then 1,167 more vectors (1%) are added and folded into the lists; their time is compared
with the build's. FAISS in the same run, same queries, one thread:
``IVF1024,PQ96x4fs`` + ``IndexRefineFlat`` (k_factor 10, float32 vectors in RAM, as it
ships) and ``IVF1024,RaBitQ`` + ``IndexRefineFlat``; ``HNSW32`` (float32) for reference.

Writes ``benchmarks/results/store_ivf.json`` and prints a table. Run::

    .venv/bin/python benchmarks/bench_store_ivf.py [--queries 1000]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data" / "wordnet-minilm"
OUT = ROOT / "benchmarks" / "results"
NLIST = 1024
SPEC = f"ivf{NLIST}/pq96x4+rerank10"
NPROBES = (64, 128, 256)


def _recall(ids: np.ndarray, gt: np.ndarray) -> float:
    return float(np.mean([len(set(a.tolist()) & set(b.tolist())) / 10 for a, b in zip(ids, gt[:, :10], strict=True)]))


def _timed(search, Q: np.ndarray, before=None) -> tuple[np.ndarray, np.ndarray]:
    """Ids of one-at-a-time searches and each query's milliseconds."""
    ids, times = [], []
    for q in Q:
        if before is not None:
            before()
        t = time.perf_counter()
        ids.append(search(q[None]))
        times.append(time.perf_counter() - t)
    return np.concatenate(ids), 1000 * np.asarray(times)


def _row(engine: str, what: str, nprobe, cache: str, ids, ms, gt, ram: float, build: float) -> dict:
    return {
        "engine": engine,
        "index": what,
        "nprobe": nprobe,
        "cache": cache,
        "recall@10": _recall(ids, gt),
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "qps": float(1000.0 / ms.mean()),
        "ram_bytes_per_vector": ram,
        "build_s": build,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--queries", type=int, default=1000)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    import faiss
    from rich.console import Console
    from rich.progress import track
    from rich.table import Table

    from lowdim.arrays import single_thread
    from lowdim.store import Collection

    console = Console(width=170)
    corpus = np.load(DATA / "corpus.f16.npy", mmap_mode="r")
    X = np.asarray(corpus, np.float32)
    Q = np.load(DATA / "queries.npy").astype(np.float32)[: args.queries]
    gt = np.load(DATA / "gt_top100.npy")[: args.queries]
    n, d = X.shape
    rows: list[dict] = []
    work = Path(tempfile.mkdtemp(prefix="lowdim-bench-ivf-"))
    try:
        with single_thread():
            # -- lowdim: a durable IVF collection
            t = time.perf_counter()
            col = Collection.create(work / "ivf", dim=d, spec=SPEC, vector_dtype="float16", train_size=100_000)
            for start in track(range(0, n, 20_000), description="adding", console=console):
                col.add(X[start : start + 20_000])
            col.build_index()
            build = time.perf_counter() - t
            info = col.info()
            ram = sum(info["ram_bytes"].values()) / info["count"]
            lists_ram = (info["ram_bytes"]["codes"] + info["ram_bytes"]["graph_links"]) / info["count"]
            console.print(
                f"lowdim {SPEC}: built in {build:.1f} s; RAM {ram:.1f} B/vector (codes + lists {lists_ram:.1f}); {info}"
            )
            for nprobe in NPROBES:
                search = lambda q, nprobe=nprobe: np.array(  # noqa: E731
                    [[-1 if v is None else v for v in r] for r in col.search(q, 10, nprobe=nprobe).ids.tolist()]
                )
                ids, ms = _timed(search, Q)
                rows.append(_row("lowdim", SPEC, nprobe, "warm", ids, ms, gt, ram, build))
                console.print(rows[-1])
            extra = X[: n // 100] + np.float32(0.001)
            t = time.perf_counter()
            col.add(extra)
            col.build_index()
            add_s = time.perf_counter() - t
            console.print(f"adding {len(extra):,} vectors (1%): {add_s:.2f} s = {100 * add_s / build:.2f}% of the build")
            col.close()

            # -- FAISS, same queries
            Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
            for factory in (f"IVF{NLIST},PQ96x4fs", f"IVF{NLIST},RaBitQ"):
                t = time.perf_counter()
                base = faiss.index_factory(d, factory, faiss.METRIC_INNER_PRODUCT)
                fx = faiss.IndexRefineFlat(base)
                fx.train(np.ascontiguousarray(Xn[:100_000]))
                fx.add(Xn)
                fbuild = time.perf_counter() - t
                fx.k_factor = 10
                ivf = faiss.extract_index_ivf(base)
                code = {"PQ96x4fs": 48, "RaBitQ": d // 8 + 8}[factory.split(",")[1]]
                fram = code + 8 + NLIST * d * 4 / n + 4 * d
                for nprobe in NPROBES:
                    ivf.nprobe = nprobe
                    ids, ms = _timed(lambda q, fx=fx: fx.search(q, 10)[1], Q)
                    rows.append(_row("faiss", f"{factory} + RFlat x10", nprobe, "warm", ids, ms, gt, fram, fbuild))
                    console.print(rows[-1])
                del fx, base
            t = time.perf_counter()
            hn = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
            hn.hnsw.efConstruction = 40
            hn.add(Xn)
            hbuild = time.perf_counter() - t
            for ef in (64, 128):
                hn.hnsw.efSearch = ef
                ids, ms = _timed(lambda q: hn.search(q, 10)[1], Q)
                rows.append(
                    _row("faiss", f"HNSW32 (float32, ef {ef})", None, "warm", ids, ms, gt, 4 * d + 32 * 2 * 4 * 1.05, hbuild)
                )
                console.print(rows[-1])
    finally:
        shutil.rmtree(work, ignore_errors=True)

    table = Table(title=f"IVF collection on wordnet-minilm ({n:,} × {d}, cosine), {len(Q)} queries one at a time, 1 thread")
    for c in ("engine", "index", "nprobe", "cache", "recall@10", "p50 ms", "p99 ms", "QPS", "RAM B/vector", "build s"):
        table.add_column(c)
    for r in rows:
        table.add_row(
            r["engine"],
            r["index"],
            str(r["nprobe"] or "-"),
            r["cache"],
            f"{r['recall@10']:.3f}",
            f"{r['p50_ms']:.2f}",
            f"{r['p99_ms']:.2f}",
            f"{r['qps']:,.0f}",
            f"{r['ram_bytes_per_vector']:.0f}",
            f"{r['build_s']:.0f}",
        )
    console.print(table)
    console.print(f"adding 1% ({n // 100:,} vectors) after the build: {add_s:.2f} s, {100 * add_s / build:.2f}% of the build")
    args.out.mkdir(parents=True, exist_ok=True)
    doc = {
        "meta": {"n": n, "d": d, "nlist": NLIST, "spec": SPEC, "queries": len(Q), "threads": 1, "machine": platform.machine()},
        "rows": rows,
        "add_1pct": {"vectors": n // 100, "seconds": add_s, "build_seconds": build, "share": add_s / build},
    }
    (args.out / "store_ivf.json").write_text(json.dumps(doc, indent=2) + "\n")
    console.print(f"wrote {args.out / 'store_ivf.json'}")


if __name__ == "__main__":
    main()
