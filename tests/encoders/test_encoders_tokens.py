"""``TextEncoder(output="tokens")``: one vector per token, as CSR rows + offsets."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from lowdim.cli import app, main
from lowdim.encoders import TextEncoder, TokenVectors
from lowdim.exceptions import DTypeError, ParameterError, ValidationError

TEXTS = ["a domestic dog", "", "the large feline that lives in the savanna and hunts at night", "cat"]


@pytest.fixture(scope="module")
def tokens_encoder():
    enc = TextEncoder("all-MiniLM-L6-v2", output="tokens", batch_size=2)
    _ = enc.dim  # load once for the module
    return enc


@pytest.fixture(scope="module")
def onnx_tokens_encoder():
    enc = TextEncoder("paraphrase-MiniLM-L3-v2", output="tokens", batch_size=2)
    _ = enc.dim
    return enc


def _with(enc: TextEncoder, texts: list[str], **settings: object) -> Any:
    """``enc.encode(texts)`` under other settings that keep the loaded model (output, normalize, batch_size)."""
    saved = {key: getattr(enc, key) for key in settings}
    for key, value in settings.items():
        setattr(enc, key, value)
    try:
        return enc.encode(texts)
    finally:
        for key, value in saved.items():
            setattr(enc, key, value)


def _cli(*args: str) -> list[str]:
    several = len(app.registered_commands) + len(app.registered_groups) > 1 or app.registered_callback is not None
    return ["embed", *args] if several else list(args)


@pytest.mark.parametrize("which", ["tokens_encoder", "onnx_tokens_encoder"])
def test_tokens_mean_pool_to_the_sentence_vector_and_keep_cls_sep(which, request):
    """Oracle: the models mean-pool their token outputs, so the masked mean of our raw tokens is the sentence vector."""
    enc = request.getfixturevalue(which)
    tv = _with(enc, TEXTS, normalize=False)
    assert isinstance(tv, TokenVectors) and tv.rows.dtype == np.float32 and tv.offsets.dtype == np.int64
    # [CLS] + WordPiece tokens + [SEP]: the empty text still has two, nothing is padded
    assert tv.lengths.tolist()[:2] == [5, 2] and tv.lengths[2] > tv.lengths[3] == 3
    assert tv.rows.shape == (tv.offsets[-1], 384) and enc.dim == 384
    sentence = _with(enc, TEXTS, normalize=False, output="sentence")
    pooled = np.stack([tv.rows[a:b].mean(axis=0) for a, b in zip(tv.offsets[:-1], tv.offsets[1:])])
    np.testing.assert_allclose(pooled, sentence, atol=2e-5)
    unit = enc.encode(TEXTS)  # normalize=True: every token row on the unit sphere, same directions
    np.testing.assert_allclose(np.linalg.norm(unit.rows, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(unit.rows * np.linalg.norm(tv.rows, axis=1, keepdims=True), tv.rows, atol=1e-4)


def test_tokens_match_sentence_transformers_token_embeddings(tokens_encoder):
    """The reference: sentence-transformers' own ``output_value="token_embeddings"`` on the same files."""
    from sentence_transformers import SentenceTransformer

    from lowdim.encoders import resolve_model

    st = SentenceTransformer(str(resolve_model("all-MiniLM-L6-v2")[0]), device="cpu", local_files_only=True)
    reference = st.encode(TEXTS, output_value="token_embeddings", convert_to_numpy=False)
    tv = _with(tokens_encoder, TEXTS, normalize=False)
    assert tv.lengths.tolist() == [len(r) for r in reference]
    np.testing.assert_allclose(tv.rows, np.concatenate([r.numpy() for r in reference]), atol=2e-5)


def test_batching_order_progress_and_truncation(tokens_encoder):
    one = _with(tokens_encoder, TEXTS[::-1], batch_size=1)
    many = tokens_encoder.encode(TEXTS, progress=True)
    assert one.lengths.tolist() == many.lengths.tolist()[::-1]  # text order kept whatever the batches
    for i in range(len(TEXTS)):
        j = len(TEXTS) - 1 - i
        np.testing.assert_allclose(
            one.rows[one.offsets[i] : one.offsets[i + 1]], many.rows[many.offsets[j] : many.offsets[j + 1]], atol=1e-5
        )
    short = TextEncoder(output="tokens", max_seq_length=6).encode(TEXTS)
    assert short.lengths.tolist() == [5, 2, 6, 3]  # truncated like the sentence output, [SEP] included
    early = TextEncoder(output="tokens", layers=2).encode(TEXTS[:1])
    assert early.rows.shape == (5, 384) and not np.allclose(early.rows, many.rows[:5], atol=1e-2)


def test_bad_input_and_settings_are_one_line_errors(tokens_encoder):
    empty = tokens_encoder.encode([])
    assert empty.rows.shape == (0, 384) and empty.offsets.tolist() == [0]
    with pytest.raises(ValidationError, match="texts is empty; expected at least one text"):
        tokens_encoder.encode([], allow_empty=False)
    with pytest.raises(DTypeError, match=r"texts must all be str; 1 item\(s\) are not, at index 1 \(int\)"):
        tokens_encoder.encode(["a", 3])
    with pytest.raises(DTypeError, match="Wrap one text in a list"):
        tokens_encoder.encode("a dog")
    with pytest.raises(
        ParameterError, match="The 'output' parameter of TextEncoder must be 'sentence' or 'tokens'. Got 'token'."
    ):
        TextEncoder(output="token").encode(["x"])
    assert repr(tokens_encoder) == "TextEncoder('all-MiniLM-L6-v2', output='tokens', batch_size=2)"


def test_token_sets_accept_the_output_and_save_round_trips(tokens_encoder, tmp_path):
    from lowdim.multivector import chamfer_scores, check_token_sets

    tv = tokens_encoder.encode(TEXTS)
    sets = check_token_sets(tv)  # a (rows, offsets) pair: no conversion needed
    assert sets.lengths.tolist() == tv.lengths.tolist() and sets.rows is tv.rows
    scores = chamfer_scores(tv.rows[: tv.offsets[1]], sets)
    assert int(np.argmax(scores)) == 0 and scores[0] == pytest.approx(5.0, abs=1e-4)  # each token finds itself
    offsets_file = tv.save(tmp_path / "t.npy")
    assert offsets_file == tmp_path / "t.offsets.npy"
    np.testing.assert_array_equal(np.load(tmp_path / "t.npy"), tv.rows)
    np.testing.assert_array_equal(np.load(offsets_file), tv.offsets)


def test_embed_command_with_tokens(tmp_path, tokens_encoder, capsys):
    source = tmp_path / "g.jsonl"
    source.write_text("".join(json.dumps({"gloss": t}) + "\n" for t in TEXTS), encoding="utf-8")
    out = tmp_path / "g.npy"
    result = CliRunner().invoke(app, _cli(str(source), "-o", str(out), "--field", "gloss", "--tokens", "--batch-size", "3"))
    assert result.exit_code == 0, result.output
    expected = tokens_encoder.encode(TEXTS)
    assert f"wrote {expected.offsets[-1]} × 384 float32 token vectors of 4 texts to" in result.output
    np.testing.assert_allclose(np.load(out), expected.rows, atol=1e-5)
    np.testing.assert_array_equal(np.load(tmp_path / "g.offsets.npy"), expected.offsets)
    for args, message in (
        (("-o", str(tmp_path / "g.bin"), "--tokens"), "error: --output must be a .npy path. Got"),
        (("-o", str(out), "--tokens", "--address", "local"), "error: --tokens runs in this process; drop --address"),
    ):
        with pytest.raises(SystemExit) as info:
            main(_cli(str(source), "--field", "gloss", *args))
        assert info.value.code == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(message) and "\n" not in err


def test_tokens_reproduce_the_wordnet_tokens_set(tokens_encoder, wordnet):
    """The stored token vectors (float16) were made the same way: same tokens, same offsets, same vectors."""
    tokens = wordnet / "tokens"
    want = set(np.load(tokens / "docs_ids.npy")[:40].tolist())
    with open(wordnet / "corpus.jsonl", encoding="utf-8") as fh:
        by_id = {d["id"]: d["text"] for d in map(json.loads, fh) if d["id"] in want}
    docs = [by_id[i] for i in np.load(tokens / "docs_ids.npy")[:40].tolist()]
    with open(wordnet / "queries.jsonl", encoding="utf-8") as fh:
        queries = [json.loads(line)["text"] for _, line in zip(range(40), fh)]
    for texts, prefix in ((docs, "docs"), (queries, "q")):
        offsets = np.load(tokens / f"{prefix}_offsets.npy")[: len(texts) + 1]
        stored = np.load(tokens / f"{prefix}_tokens.f16.npy", mmap_mode="r")[: offsets[-1]].astype(np.float32)
        tv = tokens_encoder.encode(texts)
        np.testing.assert_array_equal(tv.offsets, offsets)
        assert np.abs(tv.rows - stored).max() < 5e-4  # float16 rounding: measured 2.4e-4 on 200 docs


def test_embed_file_refuses_a_token_encoder(tmp_path):
    from lowdim.encoders import TextEncoder, embed_file
    from lowdim.exceptions import ParameterError

    (tmp_path / "t.txt").write_text("a dog\n")
    with pytest.raises(ParameterError, match="embed_file writes sentence vectors"):
        embed_file(tmp_path / "t.txt", tmp_path / "t.npy", model=TextEncoder("all-MiniLM-L6-v2", output="tokens"))
    assert not (tmp_path / "t.npy").exists()
