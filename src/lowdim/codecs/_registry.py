"""The codec registry: every codec class by its spec keyword, built from one list.

Each class declares what it is (see :class:`~lowdim.codecs.Codec`); this module only
lists the classes and answers questions by keyword, so the grammar, the pipeline, the
planner, the benchmarks and the exports never match keywords themselves.
"""

from __future__ import annotations

from ..exceptions import SpecError
from ._base import Args, Codec, Quantizer
from ._binary import Binary, Hamming, ResidualBinary
from ._float import Float16, Float32
from ._mrl import Matryoshka
from ._pca import PCA
from ._pq import ProductQuantizer
from ._rabitq import RaBitQ
from ._rotation import ITQ, OPQ
from ._rp import SparseRandomProjection
from ._scalar import Int4, Int8

__all__ = ["CODECS", "REGISTERED", "codec_class", "build_stage", "relies_on_centring"]

#: every registered codec class: transforms first, then quantizers, in the order the grammar
#: tries them and the list of valid pieces shows them. Adding a codec: one line here.
REGISTERED: tuple[type[Codec], ...] = (
    PCA,
    Matryoshka,
    SparseRandomProjection,
    OPQ,
    ITQ,
    Float32,
    Float16,
    Int8,
    Int4,
    Binary,
    Hamming,
    ResidualBinary,
    RaBitQ,
    ProductQuantizer,
)

#: every registered codec class by spec keyword
CODECS: dict[str, type[Codec]] = {cls.keyword: cls for cls in REGISTERED}


def codec_class(keyword: str) -> type[Codec]:
    """The registered class of ``keyword``; an unknown keyword is a :class:`SpecError` listing the valid ones.

    >>> codec_class("pq").__name__
    'ProductQuantizer'
    """
    try:
        return CODECS[keyword]
    except (KeyError, TypeError):
        raise SpecError(f"unknown codec keyword {keyword!r}; registered: {', '.join(CODECS)}") from None


def build_stage(keyword: str, args: Args, *, metric: str = "ip", random_state: int = 0) -> Codec:
    """An unfitted codec for one parsed stage (its spec keyword and integer arguments).

    ``metric`` is the pipeline's ("cosine", "ip" or "l2"); ``random_state`` seeds the codec.

    >>> build_stage("pq", (48, 8), random_state=1)
    ProductQuantizer(m=48, nbits=8, max_train=65536, random_state=1)
    """
    return codec_class(keyword).from_args(tuple(args), metric=metric, random_state=random_state)


def relies_on_centring(keyword: str) -> bool:
    """True if the quantizer ``keyword`` codes directions from the data centre (binary, hamming, rbq, rabitq).

    Engines that binarise at 0 without centring (FAISS ``IndexBinaryFlat``, Qdrant binary,
    pgvector ``binary_quantize``) recall less on data whose mean is far from 0. False for
    transforms and other quantizers.

    >>> relies_on_centring("rbq"), relies_on_centring("int8")
    (True, False)
    """
    cls = codec_class(keyword)
    return issubclass(cls, Quantizer) and cls.relies_on_centring()
