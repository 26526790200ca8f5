"""The bench table printed by ``lowdim bench``."""

from __future__ import annotations

from rich.table import Table

__all__ = ["bench_table"]


def _fmt(x, spec: str = ".3f") -> str:
    return "—" if x is None else format(x, spec)


def _knob(r) -> str:
    if getattr(r, "nprobe", None) is not None:
        return f"nprobe {r.nprobe}"
    if getattr(r, "ef", None) is not None:
        return f"ef {r.ef}"
    return ""


def bench_table(report) -> Table:
    """A rich table: one row per lowdim spec (and per nprobe / ef of an index spec) and per FAISS equivalent.

    The search-knob and build-seconds columns appear when some spec is an index (``ivf``/``hnsw``).
    """
    has_ndcg = any(r.ndcg_at_10 is not None for r in report.results)
    has_index = any(getattr(r, "index", "flat") != "flat" for r in report.results)
    t = Table(title=f"{report.dataset or 'data'}: n={report.n:,} d={report.d} queries={report.n_queries} metric={report.metric}")
    t.add_column("engine")
    t.add_column("spec / equivalent")
    if has_index:
        t.add_column("search", justify="right")
    t.add_column(f"recall@{report.k}", justify="right")
    if has_ndcg:
        t.add_column("nDCG@10", justify="right")
    t.add_column("RAM B/vec", justify="right")
    t.add_column("disk B/vec", justify="right")
    t.add_column("encode/s", justify="right")
    t.add_column("QPS batch", justify="right")
    t.add_column("QPS single", justify="right")
    t.add_column("×FAISS QPS", justify="right")
    if has_index:
        t.add_column("build s", justify="right")
    for r in report.results:
        row = [r.engine, r.spec if r.engine == "lowdim" else (r.equivalent or "")]
        if has_index:
            row.append(_knob(r))
        row.append(_fmt(r.recall, ".4f"))
        if has_ndcg:
            row.append(_fmt(r.ndcg_at_10, ".4f"))
        row += [
            _fmt(r.ram_bytes_per_vector, ".0f"),
            _fmt(r.disk_bytes_per_vector, ".0f"),
            _fmt(r.encode_per_second, ",.0f"),
            _fmt(r.qps_batch, ",.0f"),
            _fmt(r.qps_single, ",.0f"),
            _fmt(r.qps_batch_ratio, ".2f"),
        ]
        if has_index:
            row.append(_fmt(getattr(r, "build_seconds", None), ".1f"))
        t.add_row(*row, style=None if r.engine == "lowdim" else "dim")
    return t
