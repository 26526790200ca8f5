"""Codecs: transforms (PCA, MRL, RP, OPQ, ITQ) and quantizers (f32, f16, int8, int4,
binary, hamming, rbq, RaBitQ, PQ), composed by :class:`Pipeline` from a spec string."""

from ._base import Codec, Quantizer, Transform
from ._binary import Binary, Hamming, ResidualBinary
from ._float import Float16, Float32
from ._mrl import Matryoshka
from ._pca import PCA
from ._pipeline import CODECS, METRICS, Pipeline, build_stage, load_codec
from ._pq import ProductQuantizer
from ._rabitq import RaBitQ
from ._rotation import ITQ, OPQ
from ._rp import SparseRandomProjection
from ._scalar import Int4, Int8, ScalarQuantizer

__all__ = [
    "Codec",
    "Transform",
    "Quantizer",
    "Pipeline",
    "load_codec",
    "build_stage",
    "CODECS",
    "METRICS",
    "PCA",
    "Matryoshka",
    "SparseRandomProjection",
    "OPQ",
    "ITQ",
    "Float32",
    "Float16",
    "ScalarQuantizer",
    "Int8",
    "Int4",
    "Binary",
    "Hamming",
    "ResidualBinary",
    "ProductQuantizer",
    "RaBitQ",
]
