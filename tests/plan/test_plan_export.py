"""Export to FAISS, Qdrant and pgvector: the essential settings are there, and FAISS's string parses."""

from __future__ import annotations

import json

import faiss
import pytest

from lowdim import ParameterError
from lowdim.plan import ENGINES, export_settings, faiss_factory


@pytest.mark.parametrize(
    "spec, factory",
    [
        ("f32", "Flat"),
        ("f16", "SQfp16"),
        ("int8+rerank2", "SQ8,RFlat"),
        ("int4", "SQ4"),
        ("pca128/int8+rerank4", "PCA128,SQ8,RFlat"),
        ("opq48/pq48x8+rerank4", "OPQ48,PQ48np,RFlat"),
        ("pq96x4", "PQ96x4fs"),
        ("binary+rerank10", "RaBitQ,RFlat"),
        ("rbq2+rerank4", "RaBitQ2,RFlat"),
        ("itq/binary", "ITQ,RaBitQ"),
        ("rp128/int8", "RR128,SQ8"),
        ("pca248/rbq2", "PCA248,RaBitQ2"),
        ("rabitq+rerank4", "RaBitQ,RFlat"),
        ("pca256/rabitq3", "PCA256,RaBitQ3"),
    ],
)
def test_faiss_factory_strings_parse(spec, factory):
    got, _ = faiss_factory(spec, 384)
    assert got == factory
    faiss.index_factory(384, got, faiss.METRIC_INNER_PRODUCT)  # FAISS accepts it


def test_faiss_snippet_has_refine_factor_and_ram_note():
    text = export_settings("pq96x4+rerank4", "faiss", d=384)
    assert '"PQ96x4fs,RFlat"' in text and "k_factor = 4" in text and "METRIC_INNER_PRODUCT" in text
    assert "normalize_L2" in text and "48 B/vector of codes" in text and "1536 B/vector of float32" in text
    l2 = export_settings("int8", "faiss", d=384, metric="l2")
    assert "METRIC_L2" in l2 and "k_factor" not in l2 and "normalize_L2" not in l2
    mrl = export_settings("mrl128/int8", "faiss", d=384)
    assert "index_factory(128" in mrl and "first 128 dims" in mrl


def test_qdrant_config_for_each_quantizer():
    def cfg(spec, **kw):
        return json.loads(export_settings(spec, "qdrant", d=384, **kw))

    b = cfg("binary+rerank4")
    assert b["create_collection"]["quantization_config"]["binary"]["encoding"] == "one_bit"
    assert b["create_collection"]["quantization_config"]["binary"]["query_encoding"] == "scalar8bits"
    assert b["search"]["params"]["quantization"] == {"ignore": False, "rescore": True, "oversampling": 4.0}
    assert b["create_collection"]["vectors"] == {"size": 384, "distance": "Cosine", "on_disk": True}
    assert cfg("rbq2")["create_collection"]["quantization_config"]["binary"]["encoding"] == "two_bits"
    assert cfg("rbq2")["search"]["params"]["quantization"]["rescore"] is False
    s = cfg("int8+rerank2", metric="ip")
    assert s["create_collection"]["quantization_config"]["scalar"]["type"] == "int8"
    assert s["create_collection"]["vectors"]["distance"] == "Dot"
    assert cfg("pq48x8+rerank4")["create_collection"]["quantization_config"]["product"]["compression"] == "x32"
    assert "8-bit only" in " ".join(cfg("int4")["notes"])
    f16 = cfg("f16", metric="l2")
    assert f16["create_collection"]["vectors"]["datatype"] == "float16" and "quantization_config" not in f16["create_collection"]
    pca = cfg("pca128/int8+rerank4")
    assert pca["create_collection"]["vectors"]["size"] == 128 and "projection" in pca["notes"][0]


def test_pgvector_sql():
    sql = export_settings("binary+rerank4", "pgvector", d=384)
    assert "binary_quantize(embedding)::bit(384)" in sql and "bit_hamming_ops" in sql and "<~>" in sql
    assert "LIMIT 40" in sql and "ORDER BY embedding <=> $1::vector(384)" in sql and "LIMIT 10;" in sql
    assert "hnsw.ef_search = 40" in sql
    half = export_settings("int8+rerank2", "pgvector", d=384, metric="ip", k=5)
    assert "halfvec(384)" in half and "halfvec_ip_ops" in half and "<#>" in half and "LIMIT 10\n" in half
    plain = export_settings("f16", "pgvector", d=384)
    assert "LIMIT 10;" in plain and "candidates" not in plain
    mrl = export_settings("mrl128/binary+rerank4", "pgvector", d=384)
    assert "l2_normalize(subvector(embedding, 1, 128))" in mrl and "bit(128)" in mrl
    pca = export_settings("pca64/int8+rerank2", "pgvector", d=384, metric="l2")
    assert "embedding_reduced vector(64)" in pca and "halfvec_l2_ops" in pca and "<->" in pca


def test_every_engine_for_every_kind_of_spec():
    for spec in (
        "f32",
        "f16",
        "int8",
        "int4",
        "binary",
        "hamming+rerank10",
        "rbq3",
        "pq64x4",
        "opq32/pq32x8",
        "itq/rbq2",
        "pca128/int4",
        "mrl64/int8",
        "rp96/f16+rerank2",
        "rabitq1",
        "rabitq4+rerank4",
    ):
        for engine in ENGINES:
            text = export_settings(spec, engine, d=384)
            assert spec.split("+")[0] in text


def test_export_errors():
    with pytest.raises(ParameterError, match="'engine' parameter of export must be one of 'faiss', 'qdrant', 'pgvector'"):
        export_settings("int8", "milvus", d=384)
    with pytest.raises(ParameterError, match="cannot export 'pq50x8' for d=384"):
        export_settings("pq50", "faiss", d=384)
