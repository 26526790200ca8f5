"""Search: scan kernels over compact codes, exact scans of full vectors, top-k, exact rerank."""

from ._exact import exact_knn
from ._index import CodeIndex, SearchResult, rerank_exact, search
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
