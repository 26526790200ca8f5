"""Every codec class by its spec keyword, and how one stage of a spec builds its codec."""

from __future__ import annotations

from ._base import Codec
from ._binary import Binary, Hamming, ResidualBinary
from ._float import Float16, Float32
from ._mrl import Matryoshka
from ._pca import PCA
from ._pq import ProductQuantizer
from ._rabitq import RaBitQ
from ._rotation import ITQ, OPQ
from ._rp import SparseRandomProjection
from ._scalar import Int4, Int8

__all__ = ["CODECS", "build_stage"]

#: every registered codec class by spec keyword
CODECS: dict[str, type[Codec]] = {
    "pca": PCA,
    "mrl": Matryoshka,
    "rp": SparseRandomProjection,
    "opq": OPQ,
    "itq": ITQ,
    "f32": Float32,
    "f16": Float16,
    "int8": Int8,
    "int4": Int4,
    "binary": Binary,
    "hamming": Hamming,
    "rbq": ResidualBinary,
    "rabitq": RaBitQ,
    "pq": ProductQuantizer,
}


def build_stage(keyword: str, args: tuple[int, ...], *, metric: str = "ip", random_state: int = 0) -> Codec:
    """An unfitted codec for one parsed stage (its spec keyword and integer arguments)."""
    k, a = keyword, args
    if k == "pca":
        return PCA(a[0], random_state=random_state)
    if k == "mrl":
        return Matryoshka(a[0], normalize=metric != "l2")
    if k == "rp":
        return SparseRandomProjection(a[0], random_state=random_state)
    if k == "opq":
        return OPQ(a[0], random_state=random_state)
    if k == "itq":
        return ITQ(random_state=random_state)
    if k == "rbq":
        return ResidualBinary(a[0], random_state=random_state)
    if k == "pq":
        return ProductQuantizer(a[0], a[1], random_state=random_state)
    if k == "rabitq":
        return RaBitQ(a[0], metric="l2" if metric == "l2" else "ip")
    if k in ("f32", "f16"):
        return CODECS[k]()
    return CODECS[k](random_state=random_state)  # type: ignore[call-arg]
