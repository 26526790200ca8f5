"""The spec string, lowdim's vocabulary for a compression pipeline, and the :class:`Pipeline` it builds.

Stages are joined by ``/``: transforms first, one quantizer last, then an optional
``+rerank<N>``: ``f32``, ``int8``, ``pca128/int8``, ``mrl256/binary+rerank10``,
``opq48/pq48x8+rerank4``, ``itq/binary``, ``rbq2``, ``rp128/f16``.

>>> from lowdim.spec import parse_spec, bytes_per_vector
>>> parse_spec("pca128/int8+rerank4").to_spec(), bytes_per_vector(384, "pca128/int8")
('pca128/int8+rerank4', 128)
"""

from ._grammar import VALID_PIECES, Spec, SpecLike, StageSpec, bytes_per_vector, parse_spec
from ._pipeline import Pipeline, load_codec

__all__ = ["Spec", "StageSpec", "SpecLike", "parse_spec", "bytes_per_vector", "VALID_PIECES", "Pipeline", "load_codec"]
