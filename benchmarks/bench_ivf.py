"""IVF over lowdim's codes: recall@10 and single-thread latency at nprobe 64/128/256, next to FAISS.

wordnet-minilm, all 116,697 × 384 rows (cosine), ``nlist`` 1024, one thread
(``faiss.omp_set_num_threads(1)`` and one BLAS thread), queries searched one at a time,
rerank read from the float16 corpus memmap. lowdim: ``IVFIndex`` over the codes of
``pq96x4+rerank10``, ``rabitq+rerank10`` and ``int8+rerank4`` (coarse k-means on a 100k-row
sample, the codec fitted on the same sample). FAISS: ``IVF1024,PQ96x4fs`` (its own
residual fast-scan IVF) wrapped in ``IndexRefineFlat`` with ``k_factor`` 10, which keeps
float32 vectors in RAM. Recall@10 is against the exact cosine top-10 shipped with the data
(``gt_top100.npy``).

Writes ``benchmarks/results/ivf.json``. Run::

    .venv/bin/python benchmarks/bench_ivf.py [--queries 500]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data" / "wordnet-minilm"
OUT = ROOT / "benchmarks" / "results"
NLIST = 1024
NPROBES = (64, 128, 256)
SPECS = ("pq96x4+rerank10", "rabitq+rerank10", "int8+rerank4")


def _recall(ids: np.ndarray, gt: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, gt[:, :10], strict=True)]))


def _timed(search, Q: np.ndarray) -> tuple[np.ndarray, float]:
    """Ids of one-at-a-time searches and the median milliseconds per query."""
    ids, times = [], []
    for q in Q:
        t = time.perf_counter()
        ids.append(search(q[None]))
        times.append(time.perf_counter() - t)
    return np.concatenate(ids), 1000 * float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--queries", type=int, default=500)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    import faiss
    from rich.console import Console
    from rich.table import Table

    from lowdim.arrays import sample_indices, single_thread
    from lowdim.search import IVFIndex
    from lowdim.spec import Pipeline, bytes_per_vector

    console = Console(width=160)
    corpus = np.load(DATA / "corpus.f16.npy", mmap_mode="r")
    X = np.asarray(corpus, np.float32)
    Q = np.load(DATA / "queries.npy").astype(np.float32)[: args.queries]
    gt = np.load(DATA / "gt_top100.npy")[: args.queries]
    n, d = X.shape
    sample = sample_indices(n, 100_000, 0)
    train = X[sample]
    rows = []
    with single_thread():
        for spec in SPECS:
            t = time.perf_counter()
            p = Pipeline(spec).fit(train)
            index = IVFIndex(p, nlist=NLIST, vectors=corpus).train(train)
            index.add(p.encode(X), vectors=X)
            build = time.perf_counter() - t
            st = index.stats()
            for nprobe in NPROBES:
                ids, ms = _timed(lambda q, nprobe=nprobe, index=index: index.search(q, 10, nprobe=nprobe).ids, Q)
                rows.append(
                    {
                        "engine": "lowdim",
                        "spec": f"ivf{NLIST}/{spec}",
                        "route": index.route,
                        "nprobe": nprobe,
                        "recall@10": _recall(ids, gt),
                        "median_ms": ms,
                        "ram_bytes_per_vector": st.ram_bytes_per_vector,
                        "spec_bytes_per_vector": bytes_per_vector(d, f"ivf{NLIST}/{spec}"),
                        "imbalance": st.imbalance,
                        "build_s": build,
                    }
                )
                console.print(rows[-1])
        t = time.perf_counter()
        Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
        fx = faiss.index_factory(d, f"IVF{NLIST},PQ96x4fs,RFlat", faiss.METRIC_INNER_PRODUCT)
        fx.train(np.ascontiguousarray(Xn[sample]))
        fx.add(Xn)
        build = time.perf_counter() - t
        ivf = faiss.extract_index_ivf(fx)
        fx.k_factor = 10
        for nprobe in NPROBES:
            ivf.nprobe = nprobe
            ids, ms = _timed(lambda q: fx.search(q, 10)[1], Q)
            rows.append(
                {
                    "engine": "faiss",
                    "spec": f"IVF{NLIST},PQ96x4fs + IndexRefineFlat(k_factor=10)",
                    "route": "IndexIVFPQFastScan (by_residual) + refine in RAM",
                    "nprobe": nprobe,
                    "recall@10": _recall(ids, gt),
                    "median_ms": ms,
                    "ram_bytes_per_vector": 48 + 8 + NLIST * d * 4 / n + 4 * d,
                    "spec_bytes_per_vector": None,
                    "imbalance": None,
                    "build_s": build,
                }
            )
            console.print(rows[-1])
    table = Table(title=f"IVF{NLIST} on wordnet-minilm ({n:,} × {d}, cosine), {len(Q)} queries one at a time, 1 thread")
    for col in ("engine", "spec", "nprobe", "recall@10", "median ms/query", "RAM B/vector", "build s"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["engine"],
            r["spec"],
            str(r["nprobe"]),
            f"{r['recall@10']:.3f}",
            f"{r['median_ms']:.2f}",
            f"{r['ram_bytes_per_vector']:.1f}",
            f"{r['build_s']:.0f}",
        )
    console.print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {
        "n": n,
        "d": d,
        "nlist": NLIST,
        "queries": len(Q),
        "threads": 1,
        "machine": platform.processor() or platform.machine(),
    }
    (args.out / "ivf.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
