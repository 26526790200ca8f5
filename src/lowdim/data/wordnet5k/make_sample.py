"""Cut the bundled wordnet5k sample from ../shared/data/wordnet-minilm (run from the repo root).

    python src/lowdim/data/wordnet5k/make_sample.py ../shared/data/wordnet-minilm

Takes the first 200 queries, every corpus row relevant to them, and random other rows
(numpy default_rng(0)) up to 5,000, sorted by corpus id; recomputes exact cosine top-100
within the sample.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def main(src: str) -> None:
    src_dir = Path(src)
    out = Path(__file__).resolve().parent
    corpus = np.load(src_dir / "corpus.f16.npy", mmap_mode="r")
    queries = np.load(src_dir / "queries.npy")[:200]
    qrows = [json.loads(line) for line in open(src_dir / "queries.jsonl")][:200]
    relevant = sorted({r for q in qrows for r in q["relevant_doc_ids"]})
    rng = np.random.default_rng(0)
    others = np.setdiff1d(np.arange(len(corpus)), relevant)
    rows = np.sort(np.concatenate([relevant, rng.choice(others, 5000 - len(relevant), replace=False)]))
    sample = np.asarray(corpus[rows])
    position = {int(r): i for i, r in enumerate(rows)}
    X = sample.astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    S = queries @ X.T
    gt = np.argsort(-S, axis=1, kind="stable")[:, :100].astype(np.int32)
    np.save(out / "corpus.f16.npy", sample)
    np.save(out / "queries.npy", queries.astype(np.float32))
    np.save(out / "gt_top100.npy", gt)
    np.save(out / "corpus_rows.npy", rows.astype(np.int32))
    with open(out / "queries.jsonl", "w") as fh:
        for q in qrows:
            rel = [position[r] for r in q["relevant_doc_ids"]]
            fh.write(json.dumps({"id": q["id"], "text": q["text"], "relevant_doc_ids": rel}) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/wordnet-minilm")
