"""The bundled WordNet sample: contents, size, licence, and that make_sample.py reproduces it."""

from __future__ import annotations

import json
import subprocess
import sys

from lowdim.encoders import bundled_texts, read_texts


def _records(path):
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def test_sample_contents():
    folder = bundled_texts()
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith("__")) == [
        "LICENSE.WordNet.txt",
        "README.md",
        "corpus.jsonl",
        "make_sample.py",
        "queries.jsonl",
    ]
    corpus = _records(folder / "corpus.jsonl")
    queries = _records(folder / "queries.jsonl")
    assert len(corpus) == 10_000 and len(queries) == 200
    ids = [r["id"] for r in corpus]
    assert ids == sorted(set(ids))
    assert all(set(r) == {"id", "text", "pos", "lexname"} for r in corpus)
    assert all(set(q) == {"id", "text", "relevant_doc_ids"} for q in queries)
    assert [q["id"] for q in queries] == list(range(200))
    assert all(q["relevant_doc_ids"] and set(q["relevant_doc_ids"]) <= set(ids) for q in queries)
    assert len(read_texts(folder / "corpus.jsonl", field="text")) == 10_000
    assert "Princeton University" in (folder / "LICENSE.WordNet.txt").read_text(encoding="utf-8")
    assert sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) < 3_000_000


def test_make_sample_reproduces_the_bundle(tmp_path, wordnet):
    folder = bundled_texts()
    subprocess.run(
        [sys.executable, str(folder / "make_sample.py"), str(wordnet), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    for name in ("corpus.jsonl", "queries.jsonl", "LICENSE.WordNet.txt"):
        assert (tmp_path / name).read_bytes() == (folder / name).read_bytes(), name
    shared = _records(wordnet / "corpus.jsonl")
    for record in _records(folder / "corpus.jsonl")[:50]:
        assert shared[record["id"]]["text"] == record["text"]
