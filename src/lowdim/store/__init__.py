"""Durable collections on disk: compact codes in RAM, full vectors memory-mapped, metadata in SQLite.

>>> import numpy as np, tempfile
>>> from lowdim.store import Collection
>>> X = np.random.default_rng(0).normal(size=(200, 8)).astype(np.float32)
>>> col = Collection.create(tempfile.mkdtemp() + "/c", dim=8, spec="int8+rerank4", train_size=100)
>>> col.add(X)[:3]
[0, 1, 2]
>>> res = col.search(X[:1], k=2, filter=None)
>>> res.ids.shape, res.ids[0, 0]
((1, 2), 0)
>>> col.close()
"""

from ._check import check_collection
from ._collection import Collection, IdLike
from ._filters import FILTER_OPERATORS, compile_filter
from ._manifest import FORMAT_VERSION, Settings
from ._results import CheckReport, CollectionResult, Records

__all__ = [
    "Collection",
    "CollectionResult",
    "Records",
    "CheckReport",
    "Settings",
    "IdLike",
    "check_collection",
    "compile_filter",
    "FILTER_OPERATORS",
    "FORMAT_VERSION",
]
