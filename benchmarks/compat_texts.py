"""Query-like fit texts for the wordnet-compat query maps, embedded by both models and cached.

Used by ``bench_compat.py`` (and importable by a test). The evaluation never leaks into a fit set:

- ``lemmas``: WordNet 3.0 lemma lists (lemmas joined with ", ", ``_`` -> space, adjective markers
  stripped: the recipe of wordnet-minilm's queries) of synsets that are **not** among the 2,000
  evaluation queries' synsets, and whose text is not any evaluation query's text. Read from the
  Debian package ``wordnet-base`` (``/usr/share/wordnet/data.*``, the source wordnet-minilm was built
  from); absent when that package is not installed.
- ``glosswords``: 1-3 content words drawn from one gloss of wordnet-minilm's ``corpus.jsonl``
  (never a gloss that is an evaluation query's relevant doc), joined with ", ". Needs nothing
  beyond the data folder.
- ``docs``: the 5,000 ``fit_docs`` of wordnet-compat (glosses; both models' vectors are stored).

Embeddings are cached under ``/tmp/lowdim_compat_cache`` (never in the repository).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
COMPAT = SHARED / "wordnet-compat"
MINILM = SHARED / "wordnet-minilm"
CACHE = Path(os.environ.get("LOWDIM_COMPAT_CACHE", "/tmp/lowdim_compat_cache"))
WORDNET = Path("/usr/share/wordnet")
NEW_MODEL = "all-MiniLM-L6-v2"
OLD_MODEL = "paraphrase-MiniLM-L3-v2"

_STOP = set(
    "a an the of or and to in on by for with from as at that which who whom whose this these those is are be been being "
    "was were has have had it its into out up down over under than then there their them they any some all other such "
    "not no nor but if so very more most less least one two used especially usually often also something someone "
    "somebody anything person thing things kind part make made having being made etc esp".split()
)


def _read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def eval_exclusions() -> tuple[set[str], set[str], set[int]]:
    """``(query synsets, query texts lower-cased, relevant corpus rows)`` of the 2,000 evaluation queries."""
    queries = _read_jsonl(MINILM / "queries.jsonl")
    synsets = {q["synset"] for q in queries}
    texts = {q["text"].lower() for q in queries}
    rows = {int(r) for q in queries for r in q["relevant_doc_ids"]}
    return synsets, texts, rows


def wordnet_lemma_lists() -> list[tuple[str, str]]:
    """``(synset, lemma list)`` of every WordNet 3.0 synset in ``/usr/share/wordnet`` (empty if absent)."""
    out = []
    for letter, name in (("n", "noun"), ("v", "verb"), ("a", "adj"), ("r", "adv")):
        path = WORDNET / f"data.{name}"
        if not path.is_file():
            return []
        with open(path, encoding="latin-1") as fh:
            for line in fh:
                if line.startswith("  "):
                    continue
                parts = line.split(" ")
                count = int(parts[3], 16)
                words = [parts[4 + 2 * i] for i in range(count)]
                words = [re.sub(r"\((a|p|ip)\)$", "", w).replace("_", " ") for w in words]
                out.append((f"{letter}{parts[0]}", ", ".join(words)))
    return out


def lemma_pool() -> list[tuple[str, str]]:
    """``(synset, lemma list)`` of non-evaluation synsets, one per distinct text, sorted by text."""
    synsets, texts, _ = eval_exclusions()
    pool: dict[str, str] = {}
    for s, t in wordnet_lemma_lists():
        if s not in synsets and t.lower() not in texts:
            pool.setdefault(t, s)
    return [(s, t) for t, s in sorted(pool.items())]


def lemma_texts(n: int, seed: int = 0) -> list[str]:
    """``n`` lemma lists of non-evaluation synsets (see the module docstring); ``[]`` without wordnet-base."""
    pool = lemma_pool()
    if not pool:
        return []
    rng = np.random.default_rng(seed)
    return [pool[i][1] for i in rng.choice(len(pool), min(n, len(pool)), replace=False)]


def validation_queries(n: int, exclude: set[str], seed: int = 5) -> tuple[list[str], np.ndarray]:
    """``n`` lemma lists of non-evaluation synsets whose gloss is in the 30k subset, none in ``exclude``.

    Returns the texts and the subset position of each one's gloss (its one relevant doc): a
    validation task shaped like the evaluation, disjoint from it and from every fit text.
    """
    corpus = _read_jsonl(MINILM / "corpus.jsonl")
    row_of = {}
    for row in corpus:
        for s in [row["synset"], *row.get("dup_synsets", [])]:
            row_of[s] = row["id"]
    doc_ids = np.load(COMPAT / "doc_ids.npy")
    _, _, relevant_rows = eval_exclusions()
    found = []
    for s, t in lemma_pool():
        row = row_of.get(s)
        if t in exclude or row is None or row in relevant_rows:
            continue
        pos = int(np.searchsorted(doc_ids, row))
        if pos < len(doc_ids) and doc_ids[pos] == row:
            found.append((t, pos))
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(found), min(n, len(found)), replace=False)
    return [found[i][0] for i in pick], np.array([found[i][1] for i in pick], dtype=np.int64)


def glossword_texts(n: int, seed: int = 0) -> list[str]:
    """``n`` short word lists drawn from glosses that no evaluation query judges relevant."""
    _, texts, rows = eval_exclusions()
    corpus = _read_jsonl(MINILM / "corpus.jsonl")
    rng = np.random.default_rng(seed)
    out: list[str] = []
    seen: set[str] = set()
    order = rng.permutation(len(corpus))
    for row in order:
        if int(row) in rows:
            continue
        words = [w for w in re.findall(r"[a-z][a-z-]{2,}", corpus[row]["text"].lower()) if w not in _STOP]
        if not words:
            continue
        take = int(rng.choice([1, 1, 2, 2, 3]))
        pick = [words[i] for i in sorted(rng.choice(len(words), min(take, len(words)), replace=False))]
        text = ", ".join(dict.fromkeys(pick))
        if text in seen or text in texts:
            continue
        seen.add(text)
        out.append(text)
        if len(out) == n:
            break
    return out


def embed_pair(name: str, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(new, old)`` float32 embeddings of ``texts`` by both models, cached under :data:`CACHE` by ``name``."""
    from lowdim.encoders import TextEncoder

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"{name}.npz"
    if path.is_file():
        data = np.load(path)
        if list(data["texts"]) == texts:
            return data["new"], data["old"]
    t0 = time.perf_counter()
    new = TextEncoder(NEW_MODEL, batch_size=128).encode(texts)
    t1 = time.perf_counter()
    old = TextEncoder(OLD_MODEL, batch_size=128).encode(texts)
    t2 = time.perf_counter()
    print(f"embedded {len(texts)} {name} texts: new model {t1 - t0:.1f} s, old model {t2 - t1:.1f} s", flush=True)
    np.savez(path, texts=np.array(texts), new=new, old=old)
    return new, old


if __name__ == "__main__":
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    embed_pair(f"lemmas{n}", lemma_texts(n))
    embed_pair(f"glosswords{n}", glossword_texts(n))
