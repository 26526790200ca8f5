"""How long a plan takes: 100,000 x 384 at rerank <= 4 on this machine, twice with the same seed.

The first 100,000 rows of wordnet-minilm (float16, cosine) and its queries 0-999 (exact
neighbours computed by the plan on those rows), target recall@10 0.95, ``max_rerank=4``,
FAISS's frontier measured in the same plan (as every plan does). Two runs from scratch
(no cache) with the same seed: wall time of each, where the time went (the plan's own
``time:`` note), and whether both recommend the same spec. The budget is 3 minutes on
2 cores.

Writes ``benchmarks/results/plan_time.json``. Run::

    .venv/bin/python benchmarks/bench_plan_time.py
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
N = 100_000
BUDGET_S = 180.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from rich.console import Console
    from rich.table import Table

    from lowdim.plan import plan

    console = Console(width=200)
    corpus = np.load(DATA / "corpus.f16.npy", mmap_mode="r")[:N]
    Q = np.load(DATA / "queries.npy").astype(np.float32)[:1000]
    runs = []
    for i in range(args.runs):
        t = time.perf_counter()
        p = plan(corpus, queries=Q, target_recall=0.95, k=10, max_rerank=4, seed=0)
        seconds = time.perf_counter() - t
        where = next((n for n in p.notes if n.startswith("time:")), "")
        runs.append(
            {
                "run": i + 1,
                "seconds": seconds,
                "recommended": p.recommended.spec if p.recommended else None,
                "faiss_best": p.faiss_best.name if p.faiss_best else None,
                "ratio": p.ratio,
                "where": where,
            }
        )
        console.print(f"run {i + 1}: {seconds:.1f} s -> {p.summary()}", highlight=False)
        console.print(f"  {where}", highlight=False)
    t = Table(title=f"plan time: {N:,} x 384, target 0.95, rerank <= 4, {os.cpu_count()} cores (budget {BUDGET_S:.0f} s)")
    for col in ("run", "seconds", "recommended", "FAISS smallest", "ratio"):
        t.add_column(col, justify="right" if col in ("run", "seconds", "ratio") else "left")
    for r in runs:
        t.add_row(
            str(r["run"]),
            f"{r['seconds']:.1f}",
            str(r["recommended"]),
            str(r["faiss_best"]),
            f"{r['ratio']:.2f}" if r["ratio"] is not None else "-",
        )
    console.print(t)
    same = len({r["recommended"] for r in runs}) == 1
    console.print(
        f"same recommendation in every run: {same}; all under {BUDGET_S:.0f} s: {all(r['seconds'] < BUDGET_S for r in runs)}",
        highlight=False,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    doc = {
        "n": N,
        "d": 384,
        "target": 0.95,
        "max_rerank": 4,
        "budget_seconds": BUDGET_S,
        "same_recommendation": same,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "runs": runs,
    }
    (args.out / "plan_time.json").write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
