"""``lowdim bench``: measure codecs on real data next to FAISS."""

from ._plot import pareto_front, plot_tradeoff
from ._runner import BenchReport, BenchResult, run_bench, single_thread
from ._table import bench_table

__all__ = ["run_bench", "BenchReport", "BenchResult", "plot_tradeoff", "pareto_front", "bench_table", "single_thread"]
