"""Codecs: transforms (PCA, MRL, RP, OPQ, ITQ) and quantizers (f32, f16, int8, int4,
binary, hamming, rbq, RaBitQ, PQ), registered by spec keyword. :class:`lowdim.spec.Pipeline`
composes them from a spec string."""

from ._base import FORMAT_VERSION as CODEC_FORMAT_VERSION
from ._base import Codec, Quantizer, Transform, quiet_native_stderr, read_npz, write_npz
from ._binary import Binary, Hamming, ResidualBinary
from ._float import Float16, Float32
from ._mrl import Matryoshka
from ._pca import PCA
from ._pq import ProductQuantizer
from ._rabitq import RaBitQ, rabitq_code_size
from ._registry import CODECS, build_stage
from ._rotation import ITQ, OPQ
from ._rp import SparseRandomProjection
from ._scalar import Int4, Int8, ScalarQuantizer

__all__ = [
    "Codec",
    "Transform",
    "Quantizer",
    "build_stage",
    "CODECS",
    "CODEC_FORMAT_VERSION",
    "read_npz",
    "write_npz",
    "quiet_native_stderr",
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
    "rabitq_code_size",
]
