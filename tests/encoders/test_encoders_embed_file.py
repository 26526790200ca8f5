"""embed_file: every input format, resume after an interruption, refusals."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from lowdim.encoders import TextEncoder, embed_file, partial_dir, read_texts
from lowdim.exceptions import ConflictError, DTypeError, FileFormatError, ParameterError


def _write_txt(path: Path, texts: list[str]) -> Path:
    path.write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    return path


def _write_jsonl(path: Path, texts: list[str]) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for i, t in enumerate(texts):
            fh.write(json.dumps({"id": i, "gloss": t, "pos": "n"}) + "\n")
    return path


def _write_csv(path: Path, texts: list[str]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "gloss"])
        writer.writerows([i, t] for i, t in enumerate(texts))
    return path


def _write_parquet(path: Path, texts: list[str]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"id": list(range(len(texts))), "gloss": texts}), path)
    return path


class _Counting:
    """Wraps an encoder's _encode to record how many texts were actually computed."""

    def __init__(self, encoder: TextEncoder, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[list[str]] = []
        original = encoder._encode

        def spy(texts, on_batch=None):
            self.calls.append(list(texts))
            return original(texts, on_batch=on_batch)

        monkeypatch.setattr(encoder, "_encode", spy)

    @property
    def n_texts(self) -> int:
        return sum(len(c) for c in self.calls)


@pytest.mark.parametrize(
    ("writer", "suffix", "field"),
    [
        (_write_txt, ".txt", None),
        (_write_jsonl, ".jsonl", "gloss"),
        (_write_csv, ".csv", "gloss"),
        (_write_parquet, ".parquet", "gloss"),
    ],
)
def test_every_format_gives_the_vectors_of_encode(tmp_path, encoder, glosses, gloss_vectors, writer, suffix, field):
    source = writer(tmp_path / f"glosses{suffix}", glosses)
    assert read_texts(source, field=field) == glosses
    out = embed_file(source, tmp_path / "glosses.npy", field=field, model=encoder, progress=False)
    assert out == tmp_path / "glosses.npy"
    vectors = np.load(out)
    assert vectors.shape == (23, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors, gloss_vectors, atol=1e-5)
    assert not partial_dir(out).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([source.name, "glosses.npy"])


def test_model_given_by_name(tmp_path, glosses, gloss_vectors):
    source = _write_txt(tmp_path / "g.txt", glosses[:3])
    out = embed_file(source, tmp_path / "g.npy", model="all-MiniLM-L6-v2", batch_size=2, progress=True)
    np.testing.assert_allclose(np.load(out), gloss_vectors[:3], atol=1e-5)


def test_blank_lines_are_rows(tmp_path, encoder):
    source = tmp_path / "t.txt"
    source.write_text("a dog\n\na cat", encoding="utf-8")
    assert read_texts(source) == ["a dog", "", "a cat"]
    assert np.load(embed_file(source, tmp_path / "t.npy", model=encoder, progress=False)).shape == (3, 384)
    # Only "\n" ends a line: CRLF is stripped, a BOM dropped, U+2028 and form feeds stay inside the text.
    other = tmp_path / "crlf.txt"
    other.write_bytes("\ufeffone\r\ntwo\u2028halves\x0cpage\n".encode("utf-8"))
    assert read_texts(other) == ["one", "two\u2028halves\x0cpage"]


def test_empty_input_gives_an_empty_array(tmp_path, encoder):
    source = tmp_path / "empty.txt"
    source.write_text("", encoding="utf-8")
    vectors = np.load(embed_file(source, tmp_path / "empty.npy", model=encoder, progress=False))
    assert vectors.shape == (0, 384) and vectors.dtype == np.float32


def test_interrupted_run_resumes_without_recomputing(tmp_path, encoder, glosses, monkeypatch):
    source = _write_jsonl(tmp_path / "g.jsonl", glosses)
    expected = embed_file(source, tmp_path / "uninterrupted.npy", field="gloss", model=encoder, chunk_size=5, progress=False)

    def stop_after_two_chunks(done: int, total: int) -> None:
        assert total == 23
        if done >= 10:
            raise KeyboardInterrupt

    out = tmp_path / "g.npy"
    with pytest.raises(KeyboardInterrupt):
        embed_file(source, out, field="gloss", model=encoder, chunk_size=5, progress=False, on_chunk=stop_after_two_chunks)
    partial = partial_dir(out)
    assert not out.exists()
    assert sorted(p.name for p in partial.iterdir()) == ["chunk-00000.npy", "chunk-00001.npy", "state.json"]
    state = json.loads((partial / "state.json").read_text())
    assert state["model"] == "sentence-transformers/all-MiniLM-L6-v2" and state["chunk_size"] == 5

    counting = _Counting(encoder, monkeypatch)
    seen: list[tuple[int, int]] = []
    embed_file(source, out, field="gloss", model=encoder, chunk_size=5, progress=True, on_chunk=lambda d, t: seen.append((d, t)))
    assert counting.n_texts == 13  # chunks 0 and 1 (10 texts) were reused
    assert counting.calls[0] == glosses[10:15]
    assert seen == [(15, 23), (20, 23), (23, 23)]
    np.testing.assert_array_equal(np.load(out), np.load(expected))
    assert not partial.exists()


@pytest.mark.slow
def test_killed_process_resumes(tmp_path, encoder, glosses, gloss_vectors, monkeypatch):
    """A SIGKILL (no cleanup at all) after the first chunk, then a resume in this process."""
    source = _write_txt(tmp_path / "g.txt", glosses)
    out = tmp_path / "g.npy"
    script = textwrap.dedent(
        f"""
        import os, signal
        from lowdim.encoders import embed_file

        def die(done, total):
            os.kill(os.getpid(), signal.SIGKILL)

        embed_file({str(source)!r}, {str(out)!r}, chunk_size=8, progress=False, on_chunk=die)
        """
    )
    # No offline flags and an unreachable hub: the bundled model must load without asking it.
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env["HF_ENDPOINT"] = "http://127.0.0.1:9"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == -9, proc.stderr
    assert not out.exists()
    assert sorted(p.name for p in partial_dir(out).iterdir()) == ["chunk-00000.npy", "state.json"]

    counting = _Counting(encoder, monkeypatch)
    embed_file(source, out, model=encoder, chunk_size=8, progress=False)
    assert counting.n_texts == 23 - 8
    np.testing.assert_allclose(np.load(out), gloss_vectors, atol=1e-5)


def _interrupt_after_first_chunk(source: Path, out: Path, encoder: TextEncoder, **kwargs) -> None:
    def stop(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        embed_file(source, out, model=encoder, chunk_size=5, progress=False, on_chunk=stop, **kwargs)


def test_resume_refuses_another_model(tmp_path, encoder, glosses):
    source = _write_txt(tmp_path / "g.txt", glosses)
    out = tmp_path / "g.npy"
    _interrupt_after_first_chunk(source, out, encoder)
    with pytest.raises(
        ConflictError,
        match=r"cannot resume: .*g\.npy\.partial holds chunks of a different run: "
        r"model='sentence-transformers/all-MiniLM-L6-v2' \(now 'sentence-transformers/all-MiniLM-L6-v2@layers=2'\), "
        r"layers=None \(now 2\); pass resume=False \(CLI: --no-resume\) to discard them and start over",
    ):
        embed_file(source, out, layers=2, chunk_size=5, progress=False)
    assert (partial_dir(out) / "chunk-00000.npy").exists()  # the refusal keeps the saved work


def test_resume_refuses_a_changed_input(tmp_path, encoder, glosses, gloss_vectors):
    source = _write_txt(tmp_path / "g.txt", glosses)
    out = tmp_path / "g.npy"
    _interrupt_after_first_chunk(source, out, encoder)
    _write_txt(source, glosses[::-1] + ["one more gloss"])
    with pytest.raises(ConflictError, match=r"input_size=\d+ \(now \d+\), input_mtime_ns=.*n_texts=23 \(now 24\)"):
        embed_file(source, out, model=encoder, chunk_size=5, progress=False)
    # --no-resume discards the old chunks and starts over.
    vectors = np.load(embed_file(source, out, model=encoder, chunk_size=5, progress=False, resume=False))
    assert vectors.shape == (24, 384)
    np.testing.assert_allclose(vectors[:23], gloss_vectors[::-1], atol=1e-5)


def test_resume_refuses_another_chunk_size(tmp_path, encoder, glosses):
    source = _write_txt(tmp_path / "g.txt", glosses)
    out = tmp_path / "g.npy"
    _interrupt_after_first_chunk(source, out, encoder)
    with pytest.raises(ConflictError, match=r"chunk_size=5 \(now 4096\)"):
        embed_file(source, out, model=encoder, progress=False)


def test_a_broken_chunk_is_recomputed(tmp_path, encoder, glosses, gloss_vectors, monkeypatch):
    source = _write_txt(tmp_path / "g.txt", glosses)
    out = tmp_path / "g.npy"
    _interrupt_after_first_chunk(source, out, encoder)
    partial = partial_dir(out)
    (partial / "chunk-00000.npy").write_bytes(b"garbage")
    (partial / "chunk-00001.npy.tmp").write_bytes(b"half a write")
    counting = _Counting(encoder, monkeypatch)
    embed_file(source, out, model=encoder, chunk_size=5, progress=False)
    assert counting.n_texts == 23
    np.testing.assert_allclose(np.load(out), gloss_vectors, atol=1e-5)


def test_a_foreign_partial_folder_is_not_touched(tmp_path, encoder, glosses):
    source = _write_txt(tmp_path / "g.txt", glosses[:3])
    out = tmp_path / "g.npy"
    partial_dir(out).mkdir()
    with pytest.raises(ConflictError, match=r"g\.npy\.partial exists but has no readable state\.json"):
        embed_file(source, out, model=encoder, progress=False)


def test_missing_or_wrong_field_lists_the_fields(tmp_path, encoder, glosses):
    for source in (_write_jsonl(tmp_path / "g.jsonl", glosses), _write_csv(tmp_path / "g.csv", glosses)):
        with pytest.raises(ParameterError, match=rf"{source.name} has no field 'text'; available fields: 'id', 'gloss'"):
            embed_file(source, tmp_path / "g.npy", field="text", model=encoder, progress=False)
        with pytest.raises(ParameterError, match=rf"{source.name} is a {source.suffix} file, so pass the field .*--field"):
            embed_file(source, tmp_path / "g.npy", model=encoder, progress=False)
    parquet = _write_parquet(tmp_path / "g.parquet", glosses)
    with pytest.raises(ParameterError, match=r"g\.parquet has no field 'text'; available fields: 'id', 'gloss'"):
        read_texts(parquet, field="text")
    with pytest.raises(DTypeError, match=r"field 'id' has type int64, expected a string column"):
        read_texts(parquet, field="id")


def test_field_is_refused_for_plain_text(tmp_path, encoder):
    source = _write_txt(tmp_path / "g.txt", ["a dog"])
    with pytest.raises(ParameterError, match=r"'field' parameter applies to .jsonl, .csv and .parquet files"):
        embed_file(source, tmp_path / "g.npy", field="text", model=encoder, progress=False)


def test_undecodable_text_is_a_format_error(tmp_path):
    source = tmp_path / "latin1.txt"
    source.write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(FileFormatError, match=r"latin1\.txt is not UTF-8 text"):
        read_texts(source)


def test_bad_records_name_their_line(tmp_path):
    source = tmp_path / "g.jsonl"
    source.write_text('{"text": "a dog"}\n{"text": 3}\n', encoding="utf-8")
    with pytest.raises(DTypeError, match=r"g\.jsonl line 2: field 'text' is a int, expected a string"):
        read_texts(source, field="text")
    source.write_text('{"text": "a dog"}\n{"name": "x"}\n', encoding="utf-8")
    with pytest.raises(FileFormatError, match=r"g\.jsonl line 2 has no field 'text'"):
        read_texts(source, field="text")
    source.write_text('{"text": "a dog"}\nnot json\n', encoding="utf-8")
    with pytest.raises(FileFormatError, match=r"g\.jsonl line 2 is not valid JSON"):
        read_texts(source, field="text")


def test_unsupported_or_missing_files(tmp_path, encoder):
    with pytest.raises(
        FileFormatError, match=r"unsupported text file type '\.xml'; expected one of \.txt, \.jsonl, \.csv, \.parquet"
    ):
        embed_file(tmp_path / "g.xml", tmp_path / "g.npy", model=encoder, progress=False)
    with pytest.raises(FileFormatError, match="input file not found"):
        embed_file(tmp_path / "nope.txt", tmp_path / "g.npy", model=encoder, progress=False)
    with pytest.raises(ParameterError, match=r"'output' parameter of embed_file must be a \.npy path"):
        embed_file(tmp_path / "nope.txt", tmp_path / "g.bin", model=encoder, progress=False)
    with pytest.raises(FileFormatError, match="output folder not found"):
        embed_file(tmp_path / "nope.txt", tmp_path / "missing" / "g.npy", model=encoder, progress=False)


def test_encoder_settings_are_not_overridden(tmp_path, encoder):
    with pytest.raises(ParameterError, match=r"'layers' parameter of embed_file must be left unset when model is a TextEncoder"):
        embed_file(tmp_path / "g.txt", tmp_path / "g.npy", model=encoder, layers=3)


def test_output_is_replaced_atomically(tmp_path, encoder, glosses):
    source = _write_txt(tmp_path / "g.txt", glosses[:4])
    out = tmp_path / "g.npy"
    np.save(out, np.zeros((1, 2), dtype=np.float32))
    embed_file(source, out, model=encoder, progress=False)
    assert np.load(out).shape == (4, 384)
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())
