"""lowdim's error classes.

Every error a user can trigger with bad input is one of these, so the CLI and the
HTTP service can turn it into a one-line message (CLI exit code 2, HTTP 4xx)
instead of a traceback. They subclass the builtin ``ValueError``/``TypeError`` so
ordinary ``except ValueError`` code keeps working.
"""

from __future__ import annotations

__all__ = [
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
    "MissingDependencyError",
    "UntrainedWarning",
]


class LowdimError(Exception):
    """Base class of every error lowdim raises on purpose."""


class ValidationError(LowdimError, ValueError):
    """An input array or value is malformed (NaN/inf, empty, wrong shape)."""


class DimensionError(ValidationError):
    """An array has the wrong number of dimensions or features."""


class DTypeError(LowdimError, TypeError):
    """An array has a dtype lowdim cannot use."""


class SpecError(LowdimError, ValueError):
    """A spec string (``"pca128/int8+rerank4"``) does not parse or is inconsistent."""


class ParameterError(LowdimError, ValueError):
    """A parameter has an invalid value, e.g. ``pq50`` for 384 dimensions."""


class NotFittedError(LowdimError, ValueError):
    """A codec was used before ``fit``."""


class FileFormatError(LowdimError, ValueError):
    """A file is missing, truncated, corrupt or of an unsupported format."""


class NotFoundError(LowdimError, KeyError):
    """A named thing (collection, id, model) does not exist."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""


class ConflictError(LowdimError, RuntimeError):
    """Another process holds a lock, or the operation conflicts with stored state."""


class MissingDependencyError(LowdimError, ImportError):
    """An optional package (an extra such as ``lowdim[io]`` or ``lowdim[ray]``) is not installed."""


class UntrainedWarning(UserWarning):
    """A collection searched before its codec was trained: the search scanned the full vectors exactly."""
