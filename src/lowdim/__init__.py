"""lowdim: compact embeddings.

Diagnose an embedding collection, compress it with composable codecs written as
one spec string (``"pca128/int8+rerank4"``), measure what the compression costs
on your own data, and search the compact codes with exact rerank from disk.
"""

from __future__ import annotations

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
    ValidationError,
)
from .validation import check_embeddings

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "check_embeddings",
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
]
