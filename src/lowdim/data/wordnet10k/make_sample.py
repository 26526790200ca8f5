"""Cut the bundled WordNet sample from the shared wordnet-minilm data set.

Usage::

    python src/lowdim/data/wordnet10k/make_sample.py ../shared/data/wordnet-minilm [--out DIR]

Writes ``corpus.jsonl``, ``queries.jsonl`` and ``LICENSE.WordNet.txt`` into ``--out``
(default: this script's folder). Deterministic: the same input gives the same
bytes. ``README.md`` is written by hand and not touched.

The sample: the relevant docs of the first ``N_QUERIES`` queries of
``queries.jsonl``, plus glosses drawn with ``numpy.random.default_rng(SEED)``
from the rest of the corpus until there are ``N_DOCS``, sorted by corpus id.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

N_DOCS = 10_000
N_QUERIES = 200
SEED = 0
CORPUS_FIELDS = ("id", "text", "pos", "lexname")


def _read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _write_jsonl(path: Path, records: list[dict]) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")


def make_sample(source: Path, out: Path) -> dict[str, int]:
    """Write the sample from ``source`` (the wordnet-minilm folder) into ``out``; return counts."""
    corpus = _read_jsonl(source / "corpus.jsonl")
    queries = _read_jsonl(source / "queries.jsonl")[:N_QUERIES]
    for row, record in enumerate(corpus):
        if record["id"] != row:
            raise ValueError(f"corpus.jsonl row {row} has id {record['id']}; expected ids equal to row numbers")

    required = np.unique(np.array([d for q in queries for d in q["relevant_doc_ids"]], dtype=np.int64))
    rest = np.setdiff1d(np.arange(len(corpus), dtype=np.int64), required)
    drawn = np.random.default_rng(SEED).choice(rest, N_DOCS - len(required), replace=False)
    chosen = np.sort(np.concatenate([required, drawn]))
    keep = set(chosen.tolist())

    out.mkdir(parents=True, exist_ok=True)
    _write_jsonl(out / "corpus.jsonl", [{k: corpus[i][k] for k in CORPUS_FIELDS} for i in chosen.tolist()])
    _write_jsonl(
        out / "queries.jsonl",
        [
            {"id": q["id"], "text": q["text"], "relevant_doc_ids": [d for d in q["relevant_doc_ids"] if d in keep]}
            for q in queries
        ],
    )
    shutil.copyfile(source / "LICENSE.WordNet.txt", out / "LICENSE.WordNet.txt")
    return {"docs": len(chosen), "required_docs": len(required), "queries": len(queries), "corpus_rows": len(corpus)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="the shared wordnet-minilm folder")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="where to write the sample")
    args = parser.parse_args(argv)
    counts = make_sample(args.source, args.out)
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
