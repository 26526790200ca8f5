"""Codecs: transforms (PCA, MRL, RP, OPQ, ITQ) and quantizers (f32, f16, int8, int4,
binary, hamming, rbq, RaBitQ, PQ), each declaring what it is (spec piece, size formula,
width checks, traits, FAISS counterpart) and registered once by spec keyword in
:data:`CODECS`. :class:`lowdim.spec.Pipeline` composes them from a spec string.

>>> from lowdim.codecs import CODECS
>>> CODECS["pq"].code_size_for((48, 8), 384), CODECS["pca"].output_dim_for((128,), 384)
(48, 128)
"""

from ._base import FORMAT_VERSION as CODEC_FORMAT_VERSION
from ._base import (
    MIN_TRAIN_ROWS,
    PQ_POINTS_PER_CENTROID,
    Args,
    Codec,
    FaissEquivalent,
    Quantizer,
    Transform,
    blas_kmeans,
    quiet_native_stderr,
    read_npz,
    write_npz,
)
from ._binary import Binary, Hamming, ResidualBinary
from ._float import Float16, Float32
from ._mrl import Matryoshka
from ._pca import PCA
from ._pq import ProductQuantizer
from ._rabitq import RaBitQ, rabitq_code_size
from ._registry import CODECS, REGISTERED, build_stage, codec_class, relies_on_centring
from ._rotation import ITQ, OPQ
from ._rp import SparseRandomProjection
from ._scalar import Int4, Int8, ScalarQuantizer

__all__ = [
    "Codec",
    "Transform",
    "Quantizer",
    "Args",
    "FaissEquivalent",
    "CODECS",
    "REGISTERED",
    "codec_class",
    "build_stage",
    "relies_on_centring",
    "CODEC_FORMAT_VERSION",
    "MIN_TRAIN_ROWS",
    "PQ_POINTS_PER_CENTROID",
    "read_npz",
    "blas_kmeans",
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
