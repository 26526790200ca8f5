"""float16 → float32: which conversion ``lowdim.arrays.to_float32`` should use.

lowdim reads float16 vectors from disk in two shapes of work: whole blocks (ground truth,
diagnosis, encoding a memmapped corpus: 65,536 rows at a time; 4,096-row blocks elsewhere)
and small gathers of scattered rows (a rerank reads ``rerank * k`` rows per query: 400 for
k = 10 at rerank 4, 10 queries at a time). Four candidates convert the
same rows, in alternating rounds so machine drift hits them alike; the minimum over rounds
is reported, with each candidate's time relative to the fastest:

- ``astype``: ``X.astype(np.float32)``;
- ``copyto``: ``np.copyto(np.empty(..., float32), X, casting="unsafe")`` (what ``to_float32`` does);
- ``table``: a 65,536-entry lookup table indexed by the raw bits (``table[X.view(uint16)]``);
- ``take``: the same table with ``np.take(..., out=, mode="wrap")`` into a preallocated buffer
  (``"wrap"`` skips the bounds check a 16-bit index cannot fail);
- ``chunked``: ``take`` over 262,144 values at a time, so that the table and each piece stay
  in cache (what ``to_float32`` does).

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
    np.take(TABLE, np.ascontiguousarray(x).view(np.uint16), out=out, mode="wrap")
    return out


def take_chunked(x: np.ndarray, chunk: int = 1 << 18) -> np.ndarray:
    out = np.empty(x.shape, np.float32)
    bits, flat = np.ascontiguousarray(x).view(np.uint16).reshape(-1), out.reshape(-1)
    for s in range(0, bits.size, chunk):
        np.take(TABLE, bits[s : s + chunk], out=flat[s : s + chunk], mode="wrap")
    return out


CANDIDATES = {"astype": astype, "copyto": copyto, "table": table, "take": take, "chunked": take_chunked}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    corpus = np.load(args.data / "corpus.f16.npy", mmap_mode="r")
    rng = np.random.default_rng(0)
    shapes = {
        "gather 400 rows": [
            np.ascontiguousarray(corpus[np.sort(rng.choice(len(corpus), 400, replace=False))]) for _ in range(64)
        ],
        "block 4,096 rows": [np.ascontiguousarray(corpus[i * 4096 : (i + 1) * 4096]) for i in range(8)],
        "block 65,536 rows": [np.ascontiguousarray(corpus[:65_536])],
    }  # in RAM: the conversion alone is timed
    ref = astype(shapes["block 65,536 rows"][0])
    for name, fn in CANDIDATES.items():
        assert np.array_equal(fn(shapes["block 65,536 rows"][0]), ref), name
    times: dict[str, dict[str, list[float]]] = {name: {shape: [] for shape in shapes} for name in CANDIDATES}
    for _ in range(args.rounds):
        for name, fn in CANDIDATES.items():
            for shape, arrays in shapes.items():
                t = time.perf_counter()
                for a in arrays:
                    fn(a)
                times[name][shape].append((time.perf_counter() - t) / len(arrays))
    best = {shape: min(min(times[n][shape]) for n in CANDIDATES) for shape in shapes}
    results = {
        name: {shape: {"us": 1e6 * min(t[shape]), "vs_fastest": min(t[shape]) / best[shape]} for shape in shapes}
        for name, t in times.items()
    }
    doc = {
        "what": "float16 -> float32 conversion of wordnet-minilm rows (384 dims)",
        "rounds": args.rounds,
        "numpy": np.__version__,
        "machine": platform.machine(),
        "results": results,
        "chosen": "chunked (lowdim.arrays.to_float32)",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"{'candidate':<9}" + "".join(f"{shape:>26}" for shape in shapes))
    for name, r in results.items():
        print(f"{name:<9}" + "".join(f"{r[s]['us']:>13,.0f} us ({r[s]['vs_fastest']:.2f}x)" for s in shapes))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
