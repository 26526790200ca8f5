"""Past one machine: batch pipelines on Ray Data, sharded collections and fan-out search on Ray actors.

Everything here runs without Ray too (``address=None``: in this process, as the rest of
lowdim does); Ray is the optional ``lowdim[ray]`` extra, imported only when an address is
given (``"local"``, ``"auto"`` or ``"ray://host:port"``).
"""

from ._ray import LOCAL, connect, require_ray, uses_ray

__all__ = ["LOCAL", "connect", "require_ray", "uses_ray"]
