"""Measure what compression costs: metrics, exact ground truth in blocks, dataset readers, node classification.

>>> import numpy as np
>>> from lowdim.eval import exact_knn, recall_at_k
>>> x = np.random.default_rng(0).standard_normal((100, 8)).astype(np.float32)
>>> _, gt = exact_knn(x, x[:5], k=10)
>>> recall_at_k(gt, gt, k=10)
1.0
"""

from __future__ import annotations

from ..search import exact_knn
from ._dataset import CORPUS_FILES, GT_FILES, QRELS_FILES, QUERY_FILES, Dataset, load_dataset
from ._metrics import Qrels, mrr, ndcg_at_k, qrels_recall_at_k, recall_at_k, recall_ci, recall_per_query
from ._nodes import (
    NodeClassificationResult,
    check_node_labels,
    classify_nodes,
    macro_f1,
    micro_f1,
    node_classification,
)
from ._pareto import pareto_front
from ._readers import (
    SUPPORTED_EXTENSIONS,
    MissingDependencyError,
    PathLike,
    iter_jsonl,
    read_ids,
    read_qrels_jsonl,
    read_vectors,
)

__all__ = [
    # metrics
    "Qrels",
    "recall_at_k",
    "recall_per_query",
    "ndcg_at_k",
    "mrr",
    "qrels_recall_at_k",
    "recall_ci",
    "pareto_front",
    # node classification
    "node_classification",
    "NodeClassificationResult",
    "classify_nodes",
    "micro_f1",
    "macro_f1",
    "check_node_labels",
    # ground truth
    "exact_knn",
    # readers
    "PathLike",
    "SUPPORTED_EXTENSIONS",
    "MissingDependencyError",
    "read_vectors",
    "iter_jsonl",
    "read_ids",
    "read_qrels_jsonl",
    # data sets
    "Dataset",
    "load_dataset",
    "CORPUS_FILES",
    "QUERY_FILES",
    "GT_FILES",
    "QRELS_FILES",
]
