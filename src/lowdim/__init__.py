"""lowdim: compact embeddings.

Diagnose an embedding collection, compress it with composable codecs written as
one spec string (``"pca128/int8+rerank4"``), measure what the compression costs
on your own data, and search the compact codes with exact rerank from disk.
"""

from __future__ import annotations

import os as _os

# OpenMP threads that spin while waiting make FAISS 5-30x slower whenever another
# process shares the cores (a laptop, a CI box). Sleeping waits cost little when idle.
# This must happen before FAISS loads libgomp; an explicit setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# The parts named like their main function are bound as packages, never shadowed by it:
# lowdim.diagnose.diagnose(X), lowdim.plan.plan(X), lowdim.search.search(codes, Q, k, codec=...),
# so that ``import lowdim.diagnose as d; d.twonn`` works.
from . import diagnose, plan, search
from ._version import __version__
from .diagnose import Diagnosis
from .exceptions import (
    ConflictError,
    DimensionError,
    DTypeError,
    FileFormatError,
    LowdimError,
    NotFittedError,
    NotFoundError,
    ParameterError,
    SpecError,
    UntrainedWarning,
    ValidationError,
)
from .plan import Plan
from .search import CodeIndex, SearchResult
from .server import Client
from .spec import Pipeline, Spec, bytes_per_vector, load_codec, parse_spec
from .store import Collection
from .validation import check_embeddings

__all__ = [
    "__version__",
    "check_embeddings",
    "diagnose",
    "Diagnosis",
    "plan",
    "Plan",
    "Spec",
    "parse_spec",
    "bytes_per_vector",
    "Pipeline",
    "load_codec",
    "CodeIndex",
    "SearchResult",
    "search",
    "Collection",
    "Client",
    "LowdimError",
    "ValidationError",
    "DimensionError",
    "DTypeError",
    "SpecError",
    "ParameterError",
    "NotFittedError",
    "FileFormatError",
    "NotFoundError",
    "ConflictError",
    "UntrainedWarning",
]
