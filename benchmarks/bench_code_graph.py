"""HNSW over compact codes (``CodeGraph``) against lowdim's current graph (FAISS IndexHNSWSQ fp16).

All of wordnet-minilm (116,697 x 384, cosine) unless ``--n``; queries 0-999; exact top-10
from FAISS ``IndexFlatIP`` on normalised float32. One thread, queries one at a time. For
each graph: RAM bytes/vector (codes + links), build seconds, and recall@10 with median and
p99 ms per query at ef 32/64/128. Graphs (M=32, efConstruction=40 as the store's default):

* ``hnsw-sq-fp16``: FAISS ``IndexHNSWSQ`` (QT_fp16), what ``lowdim.store`` builds today;
* ``int8+rerank4`` and ``pq96x8+rerank4``: ``CodeGraph`` over those codes, the top 40 of the
  graph reranked exactly from the float16 vectors (memory-mapped, as on disk); the same
  graphs without rerank are timed too (recall of the codes alone, cost of the walk alone);

each with insertion order random, LID-descending ("lid") and LID-ascending. Two more rows
build the pq96x8 and int8 links over the *decoded codes* instead of the float vectors
(random order) to show which input the links should be built from.

Writes ``benchmarks/results/code_graph.json``. Run::

    .venv/bin/python benchmarks/bench_code_graph.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data" / "wordnet-minilm"
OUT = ROOT / "benchmarks" / "results"
EFS = (32, 64, 128)
M, EF_CONSTRUCTION, K = 32, 40, 10


def _recall(ids: np.ndarray, gt: np.ndarray) -> float:
    return float(np.mean([len(set(a[:K].tolist()) & set(b[:K].tolist())) / K for a, b in zip(ids, gt, strict=True)]))


def _timed(search, Q: np.ndarray) -> tuple[np.ndarray, float, float]:
    """ids (nq, K) and median / p99 ms of one query at a time."""
    ids, ms = [], []
    for i in range(len(Q)):
        t = time.perf_counter()
        ids.append(search(Q[i : i + 1]))
        ms.append((time.perf_counter() - t) * 1e3)
    return np.vstack(ids), float(np.median(ms)), float(np.percentile(ms, 99))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--n", type=int, default=0, help="use the first N rows (0: all)")
    ap.add_argument("--queries", type=int, default=1000)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    import faiss
    from rich.console import Console
    from rich.table import Table

    from lowdim.arrays import normalize_rows, single_thread
    from lowdim.search import CodeGraph, insertion_order
    from lowdim.spec import Pipeline

    console = Console(width=200)
    corpus = np.load(DATA / "corpus.f16.npy", mmap_mode="r")
    if args.n:
        corpus = corpus[: args.n]
    n, d = corpus.shape
    X = normalize_rows(np.asarray(corpus, dtype=np.float32))
    Q = normalize_rows(np.load(DATA / "queries.npy").astype(np.float32)[: args.queries])
    rows: list[dict] = []
    with single_thread():
        gt = faiss.knn(Q, X, K, faiss.METRIC_INNER_PRODUCT)[1]
        t = time.perf_counter()
        orders = {
            "random": insertion_order(X, "random", random_state=0),
            "lid": insertion_order(X, "lid", random_state=0),
        }
        orders["lid-ascending"] = orders["lid"][::-1].copy()
        lid_s = time.perf_counter() - t
        console.print(f"{n:,} x {d}; LID order (k=20, 10,000-row sample) in {lid_s:.1f} s", highlight=False)

        def record(config: str, order: str, links: str, bpv: float, build_s: float, search, bare=None) -> None:
            for ef in EFS:
                ids, med, p99 = _timed(lambda q, ef=ef: search(q, ef), Q)
                # the graph walk alone (no rerank): where the time goes, and what the codes alone recall
                bare_ids, bare_med, _ = _timed(lambda q, ef=ef: bare(q, ef), Q) if bare else (None, None, None)
                rows.append(
                    {
                        "config": config,
                        "order": order,
                        "links": links,
                        "bytes_per_vector": bpv,
                        "build_s": build_s,
                        "ef": ef,
                        "recall@10": _recall(ids, gt),
                        "median_ms": med,
                        "p99_ms": p99,
                        "no_rerank_recall@10": None if bare_ids is None else _recall(bare_ids, gt),
                        "no_rerank_median_ms": bare_med,
                    }
                )
                r = rows[-1]
                console.print(
                    f"{config:16} {order:14} {links:8} ef {ef:3}: recall {r['recall@10']:.4f}  "
                    f"{med:.3f}/{p99:.3f} ms  {bpv:.0f} B/vec  build {build_s:.1f} s",
                    highlight=False,
                )

        # (a) lowdim's current graph: FAISS IndexHNSWSQ fp16, rows inserted in chunks of 1,024 in each order
        for order, perm in orders.items():
            t = time.perf_counter()
            index = faiss.IndexHNSWSQ(d, faiss.ScalarQuantizer.QT_fp16, M, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = EF_CONSTRUCTION
            index.train(X[:1])
            for s in range(0, n, 1024):
                index.add(X[perm[s : s + 1024]])
            build_s = time.perf_counter() - t
            h = index.hnsw
            bpv = (2 * d * n + h.neighbors.size() * 4 + h.offsets.size() * 8 + h.levels.size() * 4) / n

            def faiss_search(q, ef, index=index, perm=perm):
                _, I = index.search(q, K, params=faiss.SearchParametersHNSW(efSearch=ef))
                return np.where(I >= 0, perm[np.maximum(I, 0)], -1)

            record("hnsw-sq-fp16", order, "float", bpv, build_s, faiss_search)
            del index

        # (b), (c): CodeGraph over int8 / pq96x8 codes, rerank 4 from the float16 memmap
        for spec, max_train in (("int8+rerank4", 50_000), ("pq96x8+rerank4", 16_384)):
            t = time.perf_counter()
            p = Pipeline(spec, max_train=max_train).fit(corpus)
            codes = p.encode(corpus)
            console.print(f"{spec}: fit + encode {time.perf_counter() - t:.1f} s", highlight=False)
            builds = [(o, perm, "float") for o, perm in orders.items()] + [("random", orders["random"], "decoded")]
            for order, perm, links in builds:
                t = time.perf_counter()
                g = CodeGraph(p, vectors=corpus, m=M, ef_construction=EF_CONSTRUCTION)
                g.add(codes, corpus if links == "float" else None, order=perm)
                build_s = time.perf_counter() - t
                record(
                    spec,
                    order,
                    links,
                    g.bytes_per_vector,
                    build_s,
                    lambda q, ef, g=g: g.search(q, K, ef=ef).ids,
                    lambda q, ef, g=g: g.search(q, K, ef=ef, rerank=0).ids,
                )
                del g

    t = Table(title=f"HNSW over codes: wordnet-minilm {n:,} x {d}, {len(Q)} queries, 1 thread, M={M}, efC={EF_CONSTRUCTION}")
    for col in (
        "graph",
        "order",
        "links",
        "B/vec",
        "build s",
        "ef",
        "recall@10",
        "median ms",
        "p99 ms",
        "no-rerank recall",
        "no-rerank ms",
    ):
        t.add_column(col, justify="left" if col in ("graph", "order", "links") else "right")
    for r in rows:
        t.add_row(
            r["config"],
            r["order"],
            r["links"],
            f"{r['bytes_per_vector']:.0f}",
            f"{r['build_s']:.1f}",
            str(r["ef"]),
            f"{r['recall@10']:.4f}",
            f"{r['median_ms']:.3f}",
            f"{r['p99_ms']:.3f}",
            "-" if r["no_rerank_recall@10"] is None else f"{r['no_rerank_recall@10']:.4f}",
            "-" if r["no_rerank_median_ms"] is None else f"{r['no_rerank_median_ms']:.3f}",
        )
    console.print(t)
    args.out.mkdir(parents=True, exist_ok=True)
    doc = {
        "n": n,
        "d": d,
        "queries": len(Q),
        "k": K,
        "m": M,
        "ef_construction": EF_CONSTRUCTION,
        "lid_seconds": lid_s,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "rows": rows,
    }
    (args.out / "code_graph.json").write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
