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
from ._collection import Collection
from ._filters import FILTER_OPERATORS, check_filter, compile_filter, filter_from_json
from ._folder import PlanLike
from ._manifest import FORMAT_VERSION, MANIFEST_NAME, Settings, read_manifest
from ._records import IdLike, RecordFiles, normalize_ids, parse_id, read_ids, read_records
from ._results import CheckReport, CollectionResult, Records

__all__ = [
    "Collection",
    "CollectionResult",
    "Records",
    "CheckReport",
    "Settings",
    "IdLike",
    "PlanLike",
    "check_collection",
    "compile_filter",
    "check_filter",
    "filter_from_json",
    "FILTER_OPERATORS",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "read_manifest",
    "read_records",
    "RecordFiles",
    "read_ids",
    "parse_id",
    "normalize_ids",
]
