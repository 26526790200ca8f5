"""``lowdim demo``: the whole path from documents to a compact searchable collection, offline.

Embeds the bundled real corpus (10,000 WordNet glosses) with the bundled all-MiniLM-L6-v2,
diagnoses the vectors, plans the smallest spec that keeps recall@10 ≥ the target on half of
the queries, creates a text collection *from the plan* (it adopts the very codec the plan
measured: no second fit), answers example queries, and reports on the other half of the
queries what the compression saved and what it cost (recall against exact float32 search
and nDCG@10 against the WordNet relevance judgements), with the time of every step and the
Pareto plot.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

__all__ = ["DemoReport", "run_demo", "register"]

EXAMPLE_QUERIES = (
    "a large wild cat",
    "feeling of great happiness",
    "to move quickly on foot",
    "musical instrument with strings",
    "very old",
)


@dataclass
class DemoReport:
    """What the demo measured (also written as ``report.json``); ``seconds`` holds each step's time."""

    n_docs: int
    dim: int
    spec: str
    planned: bool
    recall_at_10: float
    predicted_recall_at_10: float
    ndcg_at_10: float
    ndcg_at_10_float32: float
    ram_bytes_per_vector: float
    float32_bytes_per_vector: int
    seconds: dict[str, float] = field(default_factory=dict)
    collection: str = ""
    plot: str | None = None

    @property
    def saved_fraction(self) -> float:
        return 1.0 - self.ram_bytes_per_vector / self.float32_bytes_per_vector


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    from .eval import iter_jsonl

    return [record for _, record in iter_jsonl(path) if record is not None]  # null lines are refused anyway


def run_demo(out: str | Path | None = None, *, target_recall: float = 0.95, console: Console | None = None) -> DemoReport:
    """Run the demo; the collection, ``report.json``, ``plan.json`` and ``pareto.png`` go to ``out`` (default: a temp folder)."""
    from .diagnose import diagnose
    from .encoders import TextEncoder, bundled_texts
    from .eval import exact_knn, ndcg_at_k, recall_at_k
    from .plan import plan, plot_plan
    from .store import Collection

    console = console or Console()
    out = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="lowdim-demo-"))
    out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    t_all = time.perf_counter()

    folder = bundled_texts()
    docs = _read_jsonl(folder / "corpus.jsonl")
    queries = _read_jsonl(folder / "queries.jsonl")
    console.rule("[bold]lowdim demo")
    console.print(
        f"corpus: {len(docs):,} WordNet 3.0 glosses bundled with lowdim ({folder}); "
        f"{len(queries)} lemma queries with relevance judgements"
    )

    # 1. embed
    t = time.perf_counter()
    encoder = TextEncoder()
    X = encoder.encode([d["text"] for d in docs], progress=True)
    Q = encoder.encode([q["text"] for q in queries])
    seconds["embed"] = time.perf_counter() - t
    console.print(
        f"embedded with {encoder.name} ({X.shape[1]}-d) in {seconds['embed']:.1f} s: {len(X) / seconds['embed']:.0f} texts/s"
    )

    # 2. diagnose
    t = time.perf_counter()
    diag = diagnose(X, sample=5000)
    seconds["diagnose"] = time.perf_counter() - t
    console.print(
        f"diagnosis: intrinsic dimension ≈ {diag.id_twonn:.0f} (TwoNN) / {diag.id_mle:.0f} (MLE); "
        f"95% of variance in {diag.dims_95} dims; unit-norm: {'yes' if diag.normalized else 'no'}"
    )

    # 3. plan on half the queries; the other half measures the result independently
    t = time.perf_counter()
    plan_q, eval_q = Q[::2], Q[1::2]
    p = plan(X, queries=plan_q, target_recall=target_recall, k=10, max_rerank=4, progress=console.is_terminal)
    plot = plot_plan(
        p, out / "pareto.png", title=f"bundled WordNet sample: recall@10 vs. RAM bytes per vector (target {target_recall})"
    )
    p.write_json(out / "plan.json")
    rec = p.require_feasible()
    seconds["plan"] = time.perf_counter() - t
    console.print(
        f"plan: smallest spec with recall@10 ≥ {target_recall}: [bold]{rec.spec}[/] — recall {rec.recall:.4f} "
        f"(95% CI {rec.recall_ci[0]:.3f}–{rec.recall_ci[1]:.3f}), {rec.ram_bytes_per_vector:.0f} B/vector"
    )

    # 4. a text collection created from the plan: it adopts the codec the plan measured
    t = time.perf_counter()
    path = out / "collection"
    if path.exists():
        shutil.rmtree(path)
    coll = Collection.create(path, plan=p, encoder=encoder.name)
    coll.add(
        X, ids=[d["id"] for d in docs], metadata=[{"pos": d["pos"], "lexname": d["lexname"]} for d in docs], model=encoder.name
    )
    seconds["build"] = time.perf_counter() - t

    # 5. example queries, as text
    text_of = {d["id"]: d["text"] for d in docs}
    res = coll.search_text(list(EXAMPLE_QUERIES), 3)
    table = Table(title=f"example queries ({rec.spec})", show_lines=False)
    table.add_column("query")
    table.add_column("score", justify="right")
    table.add_column("gloss")
    for qi, qtext in enumerate(EXAMPLE_QUERIES):
        for rank in range(3):
            doc = res.ids[qi, rank]
            table.add_row(qtext if rank == 0 else "", f"{res.scores[qi, rank]:.3f}", text_of.get(doc, ""))
    console.print(table)

    # 6. measure on the held-out half: recall vs exact float32, nDCG@10 vs judgements
    t = time.perf_counter()
    row_of_id = {int(d["id"]): i for i, d in enumerate(docs)}
    held = [queries[i] for i in range(1, len(queries), 2)]
    qrels = [np.array([row_of_id[r] for r in q["relevant_doc_ids"] if r in row_of_id]) for q in held]
    _, exact_rows = exact_knn(X, eval_q, 10, metric="cosine")
    got = coll.search(eval_q, 10)
    got_rows = np.vectorize(lambda v: row_of_id.get(v, -1) if v is not None else -1, otypes=[np.int64])(got.ids)
    recall = recall_at_k(got_rows, exact_rows, 10)
    ndcg = ndcg_at_k(got_rows, qrels, 10)
    ndcg32 = ndcg_at_k(exact_rows, qrels, 10)
    seconds["measure"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - t_all
    info = coll.info()
    coll.close()

    report = DemoReport(
        n_docs=len(X),
        dim=X.shape[1],
        spec=rec.spec,
        planned=True,
        recall_at_10=float(recall),
        predicted_recall_at_10=float(rec.recall),
        ndcg_at_10=float(ndcg),
        ndcg_at_10_float32=float(ndcg32),
        ram_bytes_per_vector=float(info["code_size"] or 4 * X.shape[1]),
        float32_bytes_per_vector=4 * X.shape[1],
        seconds={k: round(v, 2) for k, v in seconds.items()},
        collection=str(path),
        plot=str(plot),
    )
    doc = {**asdict(report), "collection_info": info}
    (out / "report.json").write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
    summary = Table(title="report", show_header=False)
    summary.add_row("spec", f"{rec.spec} (planned; the collection searches with the codec the plan measured)")
    ram = report.ram_bytes_per_vector
    summary.add_row(
        "RAM per vector", f"{ram:.0f} B instead of {4 * X.shape[1]} B float32: {100 * report.saved_fraction:.1f}% saved"
    )
    summary.add_row("recall@10 vs exact float32", f"{recall:.4f} on the held-out queries (the plan predicted {rec.recall:.4f})")
    summary.add_row("nDCG@10 (WordNet judgements)", f"{ndcg:.4f} compressed vs {ndcg32:.4f} float32 exact")
    summary.add_row("time", ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()))
    summary.add_row("collection", str(path))
    summary.add_row("Pareto plot", str(plot))
    summary.add_row("report", str(out / "report.json"))
    console.print(summary)
    return report


def register(app: typer.Typer) -> None:
    """Add the ``demo`` command to ``app``."""

    @app.command()
    def demo(
        out: Path = typer.Option(
            Path("lowdim-demo"), "--out", "-o", help="Folder for the collection, report.json, plan.json and pareto.png."
        ),
        target_recall: float = typer.Option(0.95, "--target-recall", help="recall@10 the planned spec must keep."),
        bench: bool = typer.Option(False, "--bench", help="Instead: bench the bundled 5,000-vector sample next to FAISS."),
    ) -> None:
        """Embed the bundled WordNet glosses offline, diagnose, plan, build a collection, search, report."""
        from .exceptions import ParameterError

        if bench:
            from .bench import DEFAULT_SPECS, bench_table, bundled_sample, plot_tradeoff, run_bench
            from .eval import load_dataset

            out.mkdir(parents=True, exist_ok=True)
            ds = load_dataset(bundled_sample())
            ds.name = "wordnet5k (bundled)"
            console = Console() if Console().is_terminal else Console(width=170)
            report = run_bench(ds, list(DEFAULT_SPECS), k=10, progress=console.is_terminal)
            console.print(bench_table(report))
            report.write_json(out / "bench.json")
            plot_tradeoff(report.results, out / "bench.png", k=10, title=f"{ds.name}: recall@10 vs. RAM bytes per vector")
            console.print(f"wrote {out / 'bench.json'} and {out / 'bench.png'}")
            return
        if not 0 < target_recall <= 1:
            raise ParameterError(f"--target-recall must be in (0, 1]. Got {target_recall}.")
        run_demo(out, target_recall=target_recall)
