"""bench's FAISS side: which FAISS index each lowdim spec is measured against (asked of the codec registry)."""

from __future__ import annotations

import numpy as np
import pytest

from lowdim.bench._faiss import faiss_equivalent
from lowdim.spec import parse_spec


@pytest.mark.parametrize(
    "spec, name",
    [
        ("f32", "Flat"),
        ("f16", "SQfp16"),
        ("int8+rerank2", "SQ8,RFlat×2"),
        ("int4", "SQ4"),
        ("pq8", "PQ8"),
        ("pq16x4", "PQ16x4"),  # the plain 4-bit PQ index; exports deploy the fast-scan PQ16x4fs
        ("rabitq", "RaBitQ"),
        ("rabitq3", "RaBitQ3"),
        ("rbq2", "RaBitQ2"),
        ("pca16/int8", "PCA16,SQ8"),
        ("opq8/pq8", "OPQ8,PQ8"),
        ("pca16/rbq2", "PCA16,RaBitQ2"),
        ("binary", "BinaryFlat(sign)"),
        ("hamming+rerank4", "BinaryFlat(sign)+refine4"),
        ("pca16/binary", None),  # FAISS users' sign codes have no pre-transform
        ("itq/binary", None),
        ("mrl16/int8", None),
        ("rp16/int8", None),
        ("itq/rbq2", None),
    ],
)
def test_faiss_equivalent_names(spec, name):
    X = np.random.default_rng(0).standard_normal((300, 32)).astype(np.float32)
    cand = faiss_equivalent(parse_spec(spec), 32, "cosine", X)
    assert (cand.name if cand is not None else None) == name


def test_faiss_equivalent_runs_and_counts_ram():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 32)).astype(np.float32)
    # 4-bit PQ: FAISS's "PQ8" (8-bit) index trains polysemous codes by default, 12 s even on these 400 rows
    for spec, ram in (("pq8x4+rerank2", 4 + 4 * 32), ("binary", 4), ("rabitq2", 8 + 4 + 4 + 12)):
        cand = faiss_equivalent(parse_spec(spec), 32, "ip", X)
        assert cand is not None
        cand.train(X)
        cand.add(X)
        _, ids = cand.search(X[:3], 5)
        assert ids.shape == (3, 5) and cand.ram_bytes_per_vector() == ram, spec
