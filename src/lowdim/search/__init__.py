"""Search over compact codes: scan kernels, top-k, exact rerank."""

from ._index import CodeIndex, SearchResult, rerank_exact, search
from ._scanners import (
    DecodeScanner,
    FaissCodesScanner,
    HammingScanner,
    PQScanner,
    Scanner,
    SignFastScanScanner,
)
from ._topk import merge_topk, topk

__all__ = [
    "CodeIndex",
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
]
