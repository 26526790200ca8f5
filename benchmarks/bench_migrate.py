"""A live model migration on wordnet-compat: quality along the way, search latency meanwhile, re-embedding throughput.

The old collection holds the 30,000 glosses of the old model (paraphrase-MiniLM-L3-v2, ``int8+rerank4``);
``Collection.migrate("all-MiniLM-L6-v2", vectors=...)`` re-embeds them (the new model's vectors come from
../shared/data/wordnet-minilm, so the quality numbers do not wait for the encoder) in steps of a quarter.
At each step the 2,000 new-model queries search with ``model=`` the new model (old index through the map,
merged with the re-embedded part): relevant-in-top-10, and p50/p99 latency one query at a time. Two maps:

- ``docs``: what migrate fits by default (2,000 sampled items embedded by both models);
- ``lemmas``: Procrustes fitted on 10,000 WordNet lemma lists embedded by both models (query-like texts,
  see compat_texts.py; needs Debian's wordnet-base, ``make bench-compat`` installs it), passed as ``query_map=``.

Side by side in the same run: the mapped-only level (no migration), the re-indexed level (exact search
of the new-model corpus), FAISS IndexFlatIP over the new-model corpus (latency reference) and the old
collection's own search. Then the text path: a text collection of 3,000 glosses built with the ONNX old
model migrated with its stored texts; its items/s against the encoder's own throughput on the same texts.
Writes results/migrate.json and prints a table.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import compat_texts as ct  # noqa: E402

from lowdim.compat import QueryMap, fit_map  # noqa: E402
from lowdim.store import Collection  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "migrate.json"
NEW = "sentence-transformers/all-MiniLM-L6-v2"


def rel10(ids: np.ndarray, relevant: np.ndarray) -> float:
    return float(np.mean([r in row for r, row in zip(relevant.tolist(), ids.tolist())]))


def latency(fn, Q: np.ndarray, n: int = 200) -> tuple[float, float]:
    times = []
    for q in Q[:n]:
        t0 = time.perf_counter()
        fn(q[None, :])
        times.append(time.perf_counter() - t0)
    return float(np.percentile(times, 50) * 1e3), float(np.percentile(times, 99) * 1e3)


def run_map(name: str, qmap, old, new, Q, relevant, tmp: Path) -> dict:
    col = Collection.create(tmp / name, dim=old.shape[1], model="paraphrase-MiniLM-L3-v2", spec="int8+rerank4")
    col.add(old, batch_size=10_000)
    source = lambda ids: new[np.asarray(ids)]  # noqa: E731
    n = len(old)
    rows = []
    col.add_map(qmap, model=NEW)
    mapped = rel10(col.search(Q, 10, model=NEW).ids, relevant)  # no migration yet: the old index through the map
    m50, m99 = latency(lambda q: col.search(q, 10, model=NEW), Q)
    t0 = time.perf_counter()
    for fraction in (0.0, 0.25, 0.5, 0.75, 1.0):
        if fraction == 0.0:  # the sample is re-embedded first: the first merged step
            col.migrate(NEW, vectors=source, fit_size=2000, limit=2000)
        elif fraction == 1.0:
            col.migrate(NEW, vectors=source, limit=n - 1 - (col.migration or {})["done"])
        elif fraction > 0:
            col.migrate(NEW, vectors=source, limit=int(fraction * n) - (col.migration or {})["done"])
        done = (col.migration or {})["done"]
        res = col.search(Q, 10, model=NEW)
        p50, p99 = latency(lambda q: col.search(q, 10, model=NEW), Q)
        rows.append({"map": name, "re_embedded": done / n, "rel@10": rel10(res.ids, relevant), "p50_ms": p50, "p99_ms": p99})
        print(json.dumps(rows[-1]), flush=True)
    status = col.migrate(NEW, vectors=source)
    seconds = time.perf_counter() - t0
    final = rel10(col.search(Q, 10).ids, relevant)
    p50, p99 = latency(lambda q: col.search(q, 10), Q)
    rows.append({"map": name, "re_embedded": 1.0, "rel@10": final, "p50_ms": p50, "p99_ms": p99, "switched": True})
    out = {
        "map": name,
        "rows": rows,
        "calibration": status["calibration"],
        "checkpoints": status["checkpoints"],
        "seconds": seconds,
    }
    out |= {"mapped_only_rel@10": mapped, "mapped_only_p50_ms": m50, "mapped_only_p99_ms": m99}
    col.close()
    return out


def text_path(tmp: Path) -> dict:
    from lowdim.encoders import TextEncoder

    rows = [json.loads(line) for line, _ in zip(open(ct.MINILM / "corpus.jsonl", encoding="utf-8"), range(3000))]
    texts = [r["text"] for r in rows]
    col = Collection.create(tmp / "text", encoder="paraphrase-MiniLM-L3-v2", spec="int8+rerank4")
    col.add_texts(texts)
    t0 = time.perf_counter()
    TextEncoder("all-MiniLM-L6-v2").encode(texts)
    encode_rate = len(texts) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    col.migrate("all-MiniLM-L6-v2", fit_size=1000)
    migrate_rate = len(texts) / (time.perf_counter() - t0)
    ok = col.model == NEW
    col.close()
    return {"items": len(texts), "encoder_items_per_s": encode_rate, "migrate_items_per_s": migrate_rate, "switched": ok}


def main() -> None:
    import faiss

    D = ct.COMPAT
    doc_ids = np.load(D / "doc_ids.npy")
    old = np.load(D / "old_corpus.f16.npy").astype(np.float32)
    new = np.load(ct.MINILM / "corpus.f16.npy", mmap_mode="r")[doc_ids].astype(np.float32)
    Q, relevant = np.load(ct.MINILM / "queries.npy"), np.load(D / "relevant.npy")
    Xn = new / np.linalg.norm(new, axis=1, keepdims=True)
    flat = faiss.IndexFlatIP(Xn.shape[1])
    flat.add(Xn)
    reindexed = rel10(flat.search(Q, 10)[1], relevant)
    faiss_p50, faiss_p99 = latency(lambda q: flat.search(q, 10), Q)
    maps: dict[str, QueryMap] = {}
    sample = np.sort(np.random.default_rng(0).choice(len(old), 2000, replace=False))
    maps["docs"] = fit_map(new[sample], old[sample], models=(NEW, "paraphrase-MiniLM-L3-v2"))
    try:
        lem = ct.embed_pair("lemmas10000", ct.lemma_texts(10000))
        maps["lemmas"] = fit_map(*lem, kind="procrustes")
    except Exception as exc:  # wordnet-base missing: the docs map only
        print(f"lemma map skipped: {exc}", flush=True)
    result: dict = {
        "data": "wordnet-compat: 30,000 glosses, old model paraphrase-MiniLM-L3-v2 (int8+rerank4), 2,000 new-model queries",
        "reindexed_rel@10": reindexed,
        "faiss_flat_new_p50_ms": faiss_p50,
        "faiss_flat_new_p99_ms": faiss_p99,
        "runs": [],
    }
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        for name, qmap in maps.items():
            result["runs"].append(run_map(name, qmap, old, new, Q, relevant, tmp))
        result["text_path"] = text_path(tmp)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nre-indexed rel@10 {reindexed:.4f}; FAISS flat (new corpus) p50 {faiss_p50:.2f} ms")
    print(f"{'map':8s} {'re-embedded':>11s} {'rel@10':>7s} {'p50 ms':>7s} {'p99 ms':>7s}")
    for run in result["runs"]:
        print(
            f"{run['map']:8s} {'mapped':>11s} {run['mapped_only_rel@10']:7.4f} {run['mapped_only_p50_ms']:7.2f} {run['mapped_only_p99_ms']:7.2f}"
        )
        for row in run["rows"]:
            tag = "switched" if row.get("switched") else f"{100 * row['re_embedded']:.0f}%"
            print(f"{run['map']:8s} {tag:>11s} {row['rel@10']:7.4f} {row['p50_ms']:7.2f} {row['p99_ms']:7.2f}")
    tp = result["text_path"]
    print(
        f"text path: {tp['items']} glosses migrated at {tp['migrate_items_per_s']:.0f} items/s (encoder alone {tp['encoder_items_per_s']:.0f}/s)"
    )


if __name__ == "__main__":
    main()
