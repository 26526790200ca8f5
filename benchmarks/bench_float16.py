"""float16 → float32: which conversion ``lowdim.arrays.to_float32`` should use.

lowdim reads float16 vectors from disk in two shapes of work: whole blocks (ground truth,
diagnosis, encoding a memmapped corpus: 65,536 rows at a time) and small gathers of
scattered rows (a rerank reads ``rerank * k`` rows per query). Four candidates convert the
same rows, in alternating rounds so machine drift hits them alike; the minimum over rounds
is reported, with each candidate's time relative to the fastest:

- ``astype``: ``X.astype(np.float32)``;
- ``copyto``: ``np.copyto(np.empty(..., float32), X, casting="unsafe")`` (what ``to_float32`` does);
- ``table``: a 65,536-entry lookup table indexed by the raw bits (``table[X.view(uint16)]``);
- ``take``: the same table with ``np.take(..., out=)`` into a preallocated buffer.

All four give bit-identical results (checked). Writes ``benchmarks/results/float16.json`` and
prints a table. Run::

    .venv/bin/python benchmarks/bench_float16.py [--data ../shared/data/wordnet-minilm] [--rounds 15]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "wordnet-minilm"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "float16.json"

TABLE = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16).astype(np.float32)


def astype(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32)


def copyto(x: np.ndarray) -> np.ndarray:
    out = np.empty(x.shape, np.float32)
    np.copyto(out, x, casting="unsafe")
    return out


def table(x: np.ndarray) -> np.ndarray:
    return TABLE[np.ascontiguousarray(x).view(np.uint16)]


def take(x: np.ndarray) -> np.ndarray:
    out = np.empty(x.shape, np.float32)
    np.take(TABLE, np.ascontiguousarray(x).view(np.uint16), out=out)
    return out


CANDIDATES = {"astype": astype, "copyto": copyto, "table": table, "take": take}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    corpus = np.load(args.data / "corpus.f16.npy", mmap_mode="r")
    block = np.ascontiguousarray(corpus[:65_536])  # in RAM: the conversion alone is timed
    rng = np.random.default_rng(0)
    gathers = [np.sort(rng.choice(len(corpus), 400, replace=False)) for _ in range(64)]  # rerank 40 x k 10
    rows = [np.ascontiguousarray(corpus[g]) for g in gathers]
    ref = astype(block)
    for name, fn in CANDIDATES.items():
        assert np.array_equal(fn(block), ref), name
    times: dict[str, dict[str, list[float]]] = {name: {"block": [], "gather": []} for name in CANDIDATES}
    for _ in range(args.rounds):
        for name, fn in CANDIDATES.items():
            t = time.perf_counter()
            fn(block)
            times[name]["block"].append(time.perf_counter() - t)
            t = time.perf_counter()
            for r in rows:
                fn(r)
            times[name]["gather"].append((time.perf_counter() - t) / len(rows))
    best = {shape: min(min(times[n][shape]) for n in CANDIDATES) for shape in ("block", "gather")}
    results = {
        name: {
            "block_ms": 1e3 * min(t["block"]),
            "block_vs_fastest": min(t["block"]) / best["block"],
            "gather_us": 1e6 * min(t["gather"]),
            "gather_vs_fastest": min(t["gather"]) / best["gather"],
        }
        for name, t in times.items()
    }
    doc = {
        "what": "float16 -> float32 conversion of wordnet-minilm rows",
        "block_rows": len(block),
        "gather_rows": len(rows[0]),
        "rounds": args.rounds,
        "numpy": np.__version__,
        "machine": platform.machine(),
        "results": results,
        "chosen": "copyto",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"{'candidate':<8} {'block (65,536 x 384)':>22} {'x fastest':>10} {'gather (400 rows)':>19} {'x fastest':>10}")
    for name, r in results.items():
        print(
            f"{name:<8} {r['block_ms']:>19.2f} ms {r['block_vs_fastest']:>10.2f} "
            f"{r['gather_us']:>16.1f} us {r['gather_vs_fastest']:>10.2f}"
        )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
