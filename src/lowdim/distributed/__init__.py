"""Past one machine: batch pipelines on Ray Data, sharded collections and fan-out search on Ray actors.

Everything here runs without Ray too (``address=None``: in this process, as the rest of
lowdim does); Ray is the optional ``lowdim[ray]`` extra, imported only when an address is
given (``"local"``, ``"auto"`` or ``"ray://host:port"``).
"""

from ._ray import LOCAL, connect, require_ray, uses_ray
from ._shard_build import build_sharded
from ._shard_manifest import SHARDS_NAME, shard_of
from ._sharded import ShardedCollection, merge_candidates

__all__ = [
    "LOCAL",
    "connect",
    "require_ray",
    "uses_ray",
    "build_sharded",
    "ShardedCollection",
    "merge_candidates",
    "shard_of",
    "SHARDS_NAME",
]
from ._encode import encode_file  # noqa: E402
from ._pool import run_pool  # noqa: E402
from ._truth import ground_truth  # noqa: E402

__all__ += ["encode_file", "ground_truth", "run_pool"]
from ._embed_ray import embed_file  # noqa: E402

__all__ += ["embed_file"]
from ._plan import plan  # noqa: E402

__all__ += ["plan"]
