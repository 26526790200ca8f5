"""Every codec on real data, next to FAISS in the same run (issue: the core).

Runs ``lowdim.bench.run_bench`` on ../shared/data/wordnet-minilm (116,697 × 384
all-MiniLM-L6-v2 embeddings, 2,000 queries, exact float32 top-10) for the spec list
below, writes ``results/codecs.json`` and ``results/codecs.png`` and prints the table.

    python benchmarks/bench_codecs.py [--data DIR] [--specs a,b,c] [--out results/codecs]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.console import Console

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parent / ".." / "shared" / "data" / "wordnet-minilm"
SPECS = [
    "f32",
    "f16",
    "int8",
    "int4",
    "binary",
    "binary+rerank10",
    "hamming+rerank10",
    "itq/binary+rerank10",
    "rbq2",
    "rbq2+rerank4",
    "rbq3+rerank4",
    "rabitq+rerank4",
    "rabitq2+rerank4",
    "rabitq4",
    "pq48x8",
    "pq48x8+rerank4",
    "pq96x4+rerank4",
    "opq48/pq48x8",
    "pca128/int8",
    "pca256/int8+rerank4",
    "mrl256/int8+rerank4",
    "rp192/f16+rerank10",
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--specs", default=",".join(SPECS))
    ap.add_argument("--out", type=Path, default=HERE / "results" / "codecs")
    ap.add_argument("--single-queries", type=int, default=200)
    args = ap.parse_args(argv)

    from lowdim.bench import bench_table, plot_tradeoff, run_bench
    from lowdim.eval import load_dataset

    console = Console(width=170)
    ds = load_dataset(args.data.resolve())
    console.print(f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}; timings single-threaded; FAISS in the same process")
    report = run_bench(
        ds, [s for s in args.specs.split(",") if s], k=10, metric="cosine", n_single=args.single_queries, progress=True
    )
    console.print(bench_table(report))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report.write_json(args.out.with_suffix(".json"))
    plot_tradeoff(report.results, args.out.with_suffix(".png"), title="wordnet-minilm: recall@10 vs. RAM bytes per vector")
    console.print(f"wrote {args.out.with_suffix('.json')} and {args.out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
