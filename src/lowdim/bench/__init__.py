"""``lowdim bench``: measure codecs on real data next to FAISS."""

from ._plot import plot_tradeoff
from ._runner import DEFAULT_SPECS, BenchReport, BenchResult, bundled_sample, run_bench
from ._table import bench_table

__all__ = ["run_bench", "BenchReport", "BenchResult", "plot_tradeoff", "bench_table", "bundled_sample", "DEFAULT_SPECS"]
