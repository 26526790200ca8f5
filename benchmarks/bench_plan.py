"""The planner on real data, against FAISS's sweep at the same rerank budget.

On wordnet-minilm (116,697 x 384 float16 WordNet gloss embeddings, 2,000 real queries):

1. **Timing.** ``lowdim.plan.plan`` with target recall@10 0.95 and ``max_rerank=4`` on
   queries 0-999 (given exact neighbours), and the CLI's default path (no queries: 1,000
   corpus rows held out, exact neighbours computed, ``max_rerank=10``), wall time on this
   machine's cores.
2. **Sweep.** Plans for targets 0.90, 0.95, 0.99 and rerank budgets 0, 4 and 10, on
   queries 0-999 (one :class:`~lowdim.plan.PlanCache`, so each spec is fitted once).
3. **Independent re-measure.** Each recommended spec is fitted the ordinary way
   (``Pipeline(spec).fit`` on a seeded 50,000-row sample), the corpus encoded, and searched
   with queries 1000-1999 (disjoint from the plan's): recall@10 with a bootstrap CI, and
   the gap to the plan's predicted recall.
4. **FAISS, same run, same data.** SQ8, SQ4, PQ{16..96}, OPQ{m},PQ{m}, PCA{d},SQ8,
   RaBitQ / RaBitQ2 / RaBitQ4 (factory defaults) and binary sign codes (IndexBinaryFlat
   over sign(x), reranked exactly), each without refine and with IndexRefineFlat
   k_factor 1, 2, 4 and 10. FAISS trains on the same 50,000-row sample (PQ and OPQ on
   the same 20,000 rows the planner's PQ uses). RAM bytes are FAISS's code size
   (``sa_code_size``); IndexRefineFlat additionally keeps 1,536 B/vector of float32 in RAM
   for refinement, which lowdim reads from disk, reported apart.
   For each target and budget, two comparisons with FAISS configurations whose recall on
   queries 1000-1999 reaches the target within the same rerank budget:

   * **RAM** (design.md's accounting: codes plus whatever else the index keeps in memory;
     vectors on disk are disk bytes): FAISS's smallest total RAM (codes + 1,536 B/vector
     of refine store when it refines) against lowdim's codes, whose rerank vectors stay on
     disk. ``ram_ratio_lowdim_over_faiss``.
   * **Codes only** (as if FAISS's refine store were on disk too): FAISS's smallest code
     size against lowdim's. ``code_ratio_lowdim_over_faiss``.

QPS everywhere: one thread, a batch of 256 queries, rerank/refine included.

Writes ``benchmarks/results/plan.json``, ``plan.png`` (the 0.95 / rerank <= 4 plan with
FAISS's points) and ``plan_rerank10.png``. Run::

    .venv/bin/python benchmarks/bench_plan.py [--data ../shared/data/wordnet-minilm]
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
DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "wordnet-minilm"
OUT = ROOT / "benchmarks" / "results"

TARGETS = (0.90, 0.95, 0.99)
BUDGETS = (0, 4, 10)
REFINES = (0, 1, 2, 4, 10)  # 0: no IndexRefineFlat
K = 10
N_TIMED = 256
TRAIN = 50_000
PQ_TRAIN = 20_000


def _normalize(X: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(X, axis=1, keepdims=True)
    return (X / np.where(n > 0, n, 1.0)).astype(np.float32)


def _recall(ids, gt):
    from lowdim.eval import recall_ci, recall_per_query

    per = recall_per_query(np.asarray(ids, np.int64), gt, K)
    lo, hi = recall_ci(per)
    return float(per.mean()), [lo, hi]


def remeasure(spec: str, corpus, train, Q, gt) -> dict:
    """Fit ``spec`` the ordinary way and measure it on the disjoint queries."""
    from lowdim.bench import single_thread
    from lowdim.search import CodeIndex
    from lowdim.spec import Pipeline

    t = time.perf_counter()
    pipe = Pipeline(spec, metric="cosine", random_state=0).fit(train)
    fit_s = time.perf_counter() - t
    index = CodeIndex(pipe, pipe.encode(corpus), vectors=corpus)
    res = index.search(Q, K)
    recall, ci = _recall(res.ids, gt)
    index.search(Q[:2], K)
    with single_thread():
        t = time.perf_counter()
        index.search(Q[:N_TIMED], K)
        qps = N_TIMED / (time.perf_counter() - t)
    return {
        "spec": spec,
        "recall": recall,
        "recall_ci": ci,
        "ram_bytes_per_vector": pipe.code_size,
        "qps_batch": qps,
        "fit_seconds": fit_s,
    }


def faiss_sweep(X32: np.ndarray, train: np.ndarray, pq_train: np.ndarray, QA, gtA, QB, gtB, log) -> list[dict]:
    """Every FAISS configuration at every refine factor, recall on both query halves."""
    import faiss

    from lowdim.bench import single_thread
    from lowdim.codecs import quiet_native_stderr
    from lowdim.search import rerank_exact

    d = X32.shape[1]
    factories = (
        ["SQ8", "SQ4"]
        + [f"PQ{m}" for m in (16, 24, 32, 48, 64, 96)]
        + [f"OPQ{m},PQ{m}" for m in (24, 32, 48, 64)]
        + [f"PCA{p},SQ8" for p in (128, 192, 256)]
        + ["RaBitQ", "RaBitQ2", "RaBitQ4", "binary"]
    )
    rows = []
    for name in factories:
        t = time.perf_counter()
        if name == "binary":
            codes = np.packbits(X32 > 0, axis=1, bitorder="little")
            base = faiss.IndexBinaryFlat(d)
            base.add(codes)
            code_size = base.code_size

            def run(Q, r, base=base):
                _, I = base.search(np.packbits(Q > 0, axis=1, bitorder="little"), K * max(r, 1))
                if r:
                    return rerank_exact(Q, I.astype(np.int64), X32, K, metric="ip")[1]
                return I

            label = "BinaryFlat(sign)"
        else:
            base = faiss.index_factory(d, name, faiss.METRIC_INNER_PRODUCT)
            with quiet_native_stderr():
                base.train(pq_train if "PQ" in name else train)
            base.add(X32)
            code_size = base.sa_code_size()
            refine = faiss.IndexRefineFlat(base, faiss.swig_ptr(X32))

            def run(Q, r, base=base, refine=refine):
                if not r:
                    return base.search(Q, K)[1]
                refine.k_factor = float(r)
                return refine.search(Q, K)[1]

            label = name
        build_s = time.perf_counter() - t
        for r in REFINES:
            recA, ciA = _recall(run(QA, r), gtA)
            recB, ciB = _recall(run(QB, r), gtB)
            run(QB[:2], r)
            with single_thread():
                t = time.perf_counter()
                run(QB[:N_TIMED], r)
                qps = N_TIMED / (time.perf_counter() - t)
            rows.append(
                {
                    "faiss": label + (f",RFlat x{r}" if r and name != "binary" else (f"+rerank x{r}" if r else "")),
                    "factory": label,
                    "refine": r,
                    "ram_bytes_per_vector": int(code_size),
                    "refine_store_ram_bytes_per_vector": 4 * d if r else 0,
                    "recall_A": recA,
                    "recall_A_ci": ciA,
                    "recall_B": recB,
                    "recall_B_ci": ciB,
                    "qps_batch": qps,
                    "build_seconds": build_s,
                }
            )
        log(
            f"faiss {label:16s} {code_size:4d} B  "
            + "  ".join(f"x{x['refine']}={x['recall_B']:.4f}" for x in rows[-len(REFINES) :])
            + f"  ({build_s:.0f} s)"
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--skip-default-run", action="store_true", help="Skip timing the CLI's held-out default run.")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from rich.console import Console
    from rich.table import Table

    from lowdim.arrays import sample_indices, to_float32
    from lowdim.eval import load_dataset
    from lowdim.plan import PlanCache, plan, plot_plan

    console = Console(width=220)
    log = lambda msg: console.print(msg, highlight=False)  # noqa: E731
    ds = load_dataset(args.data)
    corpus = ds.corpus
    QA, QB = np.asarray(ds.queries[:1000], np.float32), np.asarray(ds.queries[1000:2000], np.float32)
    gtA, gtB = ds.gt[:1000, :K].astype(np.int64), ds.gt[1000:2000, :K].astype(np.int64)
    cores = os.cpu_count()
    log(f"wordnet-minilm: {ds.n:,} x {ds.d} {corpus.dtype}; plan queries 0-999, check queries 1000-1999; {cores} cores")

    # 1. timing of the headline plan and of the CLI's default path
    t = time.perf_counter()
    headline = plan(corpus, queries=QA, gt=gtA, target_recall=0.95, k=K, max_rerank=4, progress=False)
    headline_s = time.perf_counter() - t
    log(f"plan(target 0.95, max_rerank 4): {headline_s:.1f} s -> {headline.summary()}")
    default_s = None
    default_summary = None
    default = None
    if not args.skip_default_run:
        t = time.perf_counter()
        default = plan(corpus, target_recall=0.95, k=K, max_rerank=10)
        default_s = time.perf_counter() - t
        default_summary = default.summary()
        log(f"plan(no queries: 1,000 held out, target 0.95, max_rerank 10): {default_s:.1f} s -> {default_summary}")

    # 2. the sweep, sharing measurements
    cache = PlanCache()
    plans = {}
    for budget in sorted(BUDGETS, reverse=True):  # rerank 10 first: its points serve 4 and 0
        for target in TARGETS:
            plans[(target, budget)] = plan(corpus, queries=QA, gt=gtA, target_recall=target, k=K, max_rerank=budget, cache=cache)
            p = plans[(target, budget)]
            log(f"plan target {target} rerank<={budget}: {p.summary()}  [{p.seconds:.0f} s]")

    # 3. re-measure every recommendation on the disjoint queries
    rows = sample_indices(ds.n, TRAIN, 0)
    train = to_float32(np.asarray(corpus[rows]))
    checks: dict[str, dict] = {}
    for p in [headline, *plans.values(), *([default] if default_s is not None else [])]:
        if p.recommended is not None and p.recommended.spec not in checks:
            checks[p.recommended.spec] = remeasure(p.recommended.spec, corpus, train, QB, gtB)
            c = checks[p.recommended.spec]
            log(
                f"re-measured {c['spec']}: recall on queries 1000-1999 {c['recall']:.4f} [{c['recall_ci'][0]:.4f}, {c['recall_ci'][1]:.4f}]"
            )

    # 4. FAISS on the same data, same training sample
    X32 = _normalize(to_float32(np.asarray(corpus)))
    trainN = _normalize(train)
    pq_rows = np.sort(np.random.default_rng(0).permutation(len(trainN))[:PQ_TRAIN])
    fr = faiss_sweep(X32, trainN, trainN[pq_rows], QA, gtA, QB, gtB, log)

    comparisons = []
    for (target, budget), p in sorted(plans.items()):
        allowed = [r for r in fr if r["refine"] <= budget]
        reach = [r for r in allowed if r["recall_B"] >= target]
        fbest = min(reach, key=lambda r: (r["ram_bytes_per_vector"], -r["qps_batch"])) if reach else None
        total = lambda r: r["ram_bytes_per_vector"] + r["refine_store_ram_bytes_per_vector"]  # noqa: E731
        fram = min(reach, key=lambda r: (total(r), -r["qps_batch"])) if reach else None
        reachA = [r for r in allowed if r["recall_A"] >= target]
        fbestA = min(reachA, key=lambda r: (r["ram_bytes_per_vector"], -r["qps_batch"])) if reachA else None
        rec = p.recommended
        chk = checks.get(rec.spec) if rec else None
        entry = {
            "target_recall": target,
            "max_rerank": budget,
            "recommended": rec.to_dict() if rec else None,
            "best_achievable": p.best.to_dict() if p.best else None,
            "remeasured_on_queries_1000_1999": chk,
            "predicted_minus_remeasured": (rec.recall - chk["recall"]) if chk else None,
            "remeasured_meets_target": (chk["recall"] >= target) if chk else None,
            "faiss_smallest_reaching_target": fbest,
            "faiss_smallest_reaching_target_on_plan_queries": fbestA,
            "faiss_smallest_ram_reaching_target": fram,
            "faiss_smallest_ram_bytes_per_vector": total(fram) if fram else None,
            "ram_ratio_lowdim_over_faiss": (rec.ram_bytes_per_vector / total(fram)) if (rec and fram) else None,
            "code_ratio_lowdim_over_faiss": (rec.ram_bytes_per_vector / fbest["ram_bytes_per_vector"])
            if (rec and fbest)
            else None,
            "pareto": [c.to_dict() for c in p.pareto],
            "n_measured": len({c.base for c in p.candidates}),
            "n_skipped": len(p.skipped),
        }
        comparisons.append(entry)

    t = Table(title="plan vs FAISS on wordnet-minilm (recall@10; plan on queries 0-999, checked on 1000-1999)")
    left = ("lowdim recommended", "FAISS least RAM reaching target", "FAISS fewest code bytes reaching target")
    cols = (
        "target",
        "rerank <=",
        left[0],
        "B/vec",
        "pred.",
        "checked [95% CI]",
        "|diff|",
        "QPS",
        left[1],
        "RAM B/vec",
        "RAM ratio",
        left[2],
        "code B/vec",
        "recall",
        "QPS ",
        "code ratio",
    )
    for col in cols:
        t.add_column(col, justify="left" if col in left else "right")
    for e in comparisons:
        rec, chk, fb = e["recommended"], e["remeasured_on_queries_1000_1999"], e["faiss_smallest_reaching_target"]
        fr_ = e["faiss_smallest_ram_reaching_target"]
        t.add_row(
            f"{e['target_recall']:.2f}",
            str(e["max_rerank"]),
            rec["spec"] if rec else f"none (best {e['best_achievable']['spec']} {e['best_achievable']['recall']:.4f})",
            str(rec["ram_bytes_per_vector"]) if rec else "-",
            f"{rec['recall']:.4f}" if rec else "-",
            f"{chk['recall']:.4f} [{chk['recall_ci'][0]:.4f}, {chk['recall_ci'][1]:.4f}]" if chk else "-",
            f"{abs(e['predicted_minus_remeasured']):.4f}" if chk else "-",
            f"{chk['qps_batch']:,.0f}" if chk else "-",
            fr_["faiss"] if fr_ else "none",
            str(e["faiss_smallest_ram_bytes_per_vector"]) if fr_ else "-",
            f"{e['ram_ratio_lowdim_over_faiss']:.3f}" if e["ram_ratio_lowdim_over_faiss"] else "-",
            fb["faiss"] if fb else "none",
            str(fb["ram_bytes_per_vector"]) if fb else "-",
            f"{fb['recall_B']:.4f}" if fb else "-",
            f"{fb['qps_batch']:,.0f}" if fb else "-",
            f"{e['code_ratio_lowdim_over_faiss']:.2f}" if e["code_ratio_lowdim_over_faiss"] else "-",
        )
    console.print(t)

    args.out.mkdir(parents=True, exist_ok=True)
    result = {
        "dataset": "wordnet-minilm",
        "n": ds.n,
        "d": ds.d,
        "k": K,
        "machine": {"cpu_count": cores, "platform": platform.platform(), "python": platform.python_version()},
        "protocol": {
            "plan_queries": "0-999 (given exact neighbours gt_top100)",
            "check_queries": "1000-1999, disjoint",
            "qps": f"one thread, batch of {N_TIMED} queries, rerank/refine included",
            "faiss_ram": "sa_code_size; IndexRefineFlat also keeps 4*d = 1536 B/vector of float32 in RAM (refine_store_ram_bytes_per_vector)",
            "lowdim_ram": "code bytes; full vectors for rerank stay on disk (disk_bytes_per_vector)",
            "training": f"seeded {TRAIN}-row sample for both; PQ/OPQ on {PQ_TRAIN} of them",
            "faiss_reaching_target": "recall on the check queries >= target (point estimate), refine factor <= the budget",
            "ram_ratio": "lowdim code bytes / FAISS's least RAM (codes + refine store) reaching the target (design.md's RAM accounting)",
            "code_ratio": "lowdim code bytes / FAISS's fewest code bytes reaching the target (refine store not counted)",
        },
        "timing": {
            "plan_target_0.95_max_rerank_4_seconds": headline_s,
            "plan_default_held_out_max_rerank_10_seconds": default_s,
            "plan_default_summary": default_summary,
            "plan_default_recommended_on_real_queries_1000_1999": (
                checks.get(default.recommended.spec) if default_s is not None and default.recommended else None
            ),
            "note": "the default run plans on held-out corpus rows, which are easier than the real (lemma-list) queries",
        },
        "headline": headline.to_dict(),
        "sweep": comparisons,
        "faiss": fr,
    }
    (args.out / "plan.json").write_text(json.dumps(result, indent=2) + "\n")
    others4 = [(r["faiss"], r["ram_bytes_per_vector"], r["recall_A"]) for r in fr if r["refine"] == 4]
    plot_plan(
        headline,
        args.out / "plan.png",
        others=others4,
        title="wordnet-minilm: plan for recall@10 >= 0.95, rerank <= 4 (FAISS: refine x4)",
    )
    others10 = [(r["faiss"], r["ram_bytes_per_vector"], r["recall_A"]) for r in fr if r["refine"] == 10]
    plot_plan(
        plans[(0.95, 10)],
        args.out / "plan_rerank10.png",
        others=others10,
        title="wordnet-minilm: plan for recall@10 >= 0.95, rerank <= 10 (FAISS: refine x10)",
    )
    log(f"wrote {args.out / 'plan.json'}, plan.png, plan_rerank10.png")


if __name__ == "__main__":
    main()
