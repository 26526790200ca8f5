"""Search: scan kernels over compact codes, exact scans of full vectors, top-k, exact rerank, IVF over codes."""

from ._exact import exact_knn
from ._hnsw_codes import CodeGraph
from ._index import CodeIndex, SearchResult, rerank_exact, search
from ._ivf import MAX_ROWS_PER_LIST, MIN_ROWS_PER_LIST, IdFilter, IVFIndex, IVFStats, auto_nlist, training_rows
from ._order import ORDERS, insertion_order, local_intrinsic_dimension
from ._scanners import (
    DecodeScanner,
    FaissCodesScanner,
    HammingScanner,
    PQScanner,
    Scanner,
    SignFastScanScanner,
    faiss_metric,
)
from ._topk import merge_topk, pad_value, topk

__all__ = [
    "CodeIndex",
    "CodeGraph",
    "ORDERS",
    "insertion_order",
    "local_intrinsic_dimension",
    "IVFIndex",
    "auto_nlist",
    "training_rows",
    "MIN_ROWS_PER_LIST",
    "MAX_ROWS_PER_LIST",
    "IVFStats",
    "IdFilter",
    "exact_knn",
    "SearchResult",
    "search",
    "rerank_exact",
    "Scanner",
    "FaissCodesScanner",
    "PQScanner",
    "SignFastScanScanner",
    "HammingScanner",
    "DecodeScanner",
    "topk",
    "merge_topk",
    "pad_value",
    "faiss_metric",
]
