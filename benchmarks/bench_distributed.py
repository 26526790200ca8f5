"""Throughput of lowdim's batch pipelines with 1 and 2 Ray workers against the same work without Ray.

Data: wordnet-minilm (../shared/data/wordnet-minilm): its 116,697 float16 gloss vectors for
``encode`` (fit ``pq48x4`` on 20,000 rows, encode everything), ``ground truth`` (exact top-100
of 1,000 queries, in blocks) and ``build`` (a 4-shard collection, ``pq48x4+rerank10``), and
the first ``--texts`` glosses for ``embed`` (all-MiniLM-L6-v2, offline).

Each mode runs in a fresh process, so that Ray starts once per mode and its start-up is
timed apart: ``none`` (everything in this process, as lowdim runs without the ray extra),
``ray1`` and ``ray2`` (a local Ray with 1 or 2 CPUs: ``connect("local", num_cpus=...)``).
FAISS does the same encode (``sa_encode`` of ``PQ48x4``) and ground truth
(``IndexFlatIP``) in the ``none`` process, as the floor a single machine reaches.
Writes ``benchmarks/results/distributed.json`` and prints rows/s per stage and the ratio
to ``none`` (the Ray overhead on one machine; the gain comes from more machines). Run::

    .venv/bin/python benchmarks/bench_distributed.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data" / "wordnet-minilm"
OUT = ROOT / "benchmarks" / "results"
MODES = {"none": None, "ray1": 1, "ray2": 2}


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def run_mode(mode: str, texts: int, work: Path) -> dict:
    """Every stage once in this process under ``mode``; seconds per stage."""
    sys.path.insert(0, str(ROOT / "src"))
    from lowdim.distributed import build_sharded, connect, embed_file, encode_file, ground_truth

    workers = MODES[mode]
    address = None if workers is None else "local"
    out: dict = {"mode": mode, "workers": workers}
    if address is not None:
        out["ray_start_s"] = _timed(lambda: connect(address, num_cpus=workers))
    corpus = DATA / "corpus.f16.npy"
    n = int(np.load(corpus, mmap_mode="r").shape[0])
    Q = np.load(DATA / "queries.npy")[:1000].astype(np.float32)
    lines = []
    with open(DATA / "corpus.jsonl") as fh:
        for line in fh:
            lines.append(json.dumps({"text": json.loads(line)["text"]}))
            if len(lines) == texts:
                break
    src = work / "texts.jsonl"
    src.write_text("\n".join(lines) + "\n")
    extra = {} if address is None else {"ray_address": address, "workers": workers}
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    out["embed_s"] = _timed(lambda: embed_file(src, work / f"emb-{mode}.npy", field="text", progress=False, **extra))
    out["embed_rows"] = texts
    out["encode_s"] = _timed(
        lambda: encode_file(corpus, work / f"codes-{mode}.npy", spec="pq48x4", train_size=20_000, progress=False, **extra)
    )
    out["encode_rows"] = n
    out["truth_s"] = _timed(lambda: ground_truth(corpus, Q, 100, **extra))
    out["truth_rows"] = n
    out["build_s"] = _timed(
        lambda: build_sharded(
            work / f"sharded-{mode}", corpus, shards=4, spec="pq48x4+rerank10", train_size=20_000, ray_address=address
        )
    )
    out["build_rows"] = n
    if address is None:  # FAISS on the same rows, one process: the single-machine floor
        import faiss

        X = np.asarray(np.load(corpus, mmap_mode="r"), np.float32)
        X /= np.linalg.norm(X, axis=1, keepdims=True)
        t = time.perf_counter()
        pq = faiss.index_factory(X.shape[1], "PQ48x4", faiss.METRIC_INNER_PRODUCT)
        pq.train(X[np.random.default_rng(0).choice(n, 20_000, replace=False)])
        pq.sa_encode(X)
        out["faiss_encode_s"] = time.perf_counter() - t
        flat = faiss.IndexFlatIP(X.shape[1])
        flat.add(X)
        out["faiss_truth_s"] = _timed(lambda: flat.search(Q, 100))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--texts", type=int, default=4000, help="glosses embedded by the embed stage")
    ap.add_argument("--modes", default="none,ray1,ray2")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)  # internal: run one mode, print JSON
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    if args.one:
        with tempfile.TemporaryDirectory(prefix="lowdim-dist-") as tmp:
            print(json.dumps(run_mode(args.one, args.texts, Path(tmp))))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(width=150)
    rows = []
    for mode in args.modes.split(","):
        console.print(f"mode {mode} ...")
        done = subprocess.run(
            [sys.executable, __file__, "--one", mode, "--texts", str(args.texts)], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            console.print(done.stderr[-3000:])
            raise SystemExit(f"mode {mode} failed")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        console.print(rows[-1])
    base = rows[0] if rows[0]["mode"] == "none" else None
    table = Table(title="lowdim pipelines on this machine: rows/s per stage (ratio to no Ray)")
    for c in ("mode", "Ray start s", "embed", "encode", "ground truth", "4-shard build"):
        table.add_column(c)
    for r in rows:
        cells = []
        for stage in ("embed", "encode", "truth", "build"):
            rate = r[f"{stage}_rows"] / r[f"{stage}_s"]
            ratio = f" ({r[f'{stage}_s'] and base[f'{stage}_s'] / r[f'{stage}_s']:.2f}x)" if base else ""
            cells.append(f"{rate:,.0f}{ratio}")
        table.add_row(r["mode"], f"{r.get('ray_start_s', 0):.1f}", *cells)
    if base and "faiss_encode_s" in base:
        table.add_row(
            "FAISS, one process", "", "", f"{base['encode_rows'] / base['faiss_encode_s']:,.0f}",
            f"{base['truth_rows'] / base['faiss_truth_s']:,.0f}", "",
        )  # fmt: skip
    console.print(table)
    doc = {"meta": {"machine": platform.machine(), "cpus": os.cpu_count(), "data": "wordnet-minilm"}, "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "distributed.json"
    path.write_text(json.dumps(doc, indent=2) + "\n")
    console.print(f"wrote {path}")


if __name__ == "__main__":
    main()
