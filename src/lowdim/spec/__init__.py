"""The spec string, lowdim's vocabulary for a compression pipeline, and the :class:`Pipeline` it builds.

Stages are joined by ``/``: transforms first, one quantizer last, then an optional
``+rerank<N>``: ``f32``, ``int8``, ``pca128/int8``, ``mrl256/binary+rerank10``,
``opq48/pq48x8+rerank4``, ``itq/binary``, ``rbq2``, ``rp128/f16``. An index prefix may come first:
``ivf1024/pq96x4+rerank10`` (see :func:`parse_index_spec`).

>>> from lowdim.spec import parse_spec, bytes_per_vector
>>> parse_spec("pca128/int8+rerank4").to_spec(), bytes_per_vector(384, "pca128/int8")
('pca128/int8+rerank4', 128)
"""

from ._grammar import ID_BYTES, VALID_PIECES, IndexSpec, Spec, SpecLike, StageSpec, bytes_per_vector, parse_index_spec, parse_spec
from ._pipeline import Pipeline, load_codec

__all__ = [
    "Spec",
    "StageSpec",
    "SpecLike",
    "IndexSpec",
    "parse_spec",
    "parse_index_spec",
    "bytes_per_vector",
    "ID_BYTES",
    "VALID_PIECES",
    "Pipeline",
    "load_codec",
]
