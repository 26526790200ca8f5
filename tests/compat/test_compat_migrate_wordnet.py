"""A live migration on wordnet-compat: quality through it never below the mapped-only level, ending at the
re-indexed one; and a text collection of the ONNX old model migrated to all-MiniLM-L6-v2 end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lowdim.compat import fit_map
from lowdim.store import Collection

NEW_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def compat(wordnet_dir):
    D = wordnet_dir.parent / "wordnet-compat"
    if not D.exists():
        pytest.fail(f"real data set missing: {D} (expected ../shared/data beside the repository)")
    doc_ids = np.load(D / "doc_ids.npy")
    old = np.load(D / "old_corpus.f16.npy").astype(np.float32)
    new = np.load(wordnet_dir / "corpus.f16.npy", mmap_mode="r")[doc_ids].astype(np.float32)
    queries = np.load(wordnet_dir / "queries.npy")[:500]
    relevant = np.load(D / "relevant.npy")[:500]
    return old, new, queries, relevant


def _rel10(res, relevant) -> float:
    return float(np.mean([r in row for r, row in zip(relevant.tolist(), res.ids.tolist())]))


def test_quality_through_a_migration_never_falls_below_mapped_only(tmp_path, compat):
    old, new, Q, relevant = compat
    col = Collection.create(tmp_path / "c", dim=384, model="paraphrase-MiniLM-L3-v2", spec="int8+rerank4")
    col.add(old, batch_size=10_000)
    source = lambda ids: new[np.asarray(ids)]  # noqa: E731
    n = len(old)
    # the map a migration fits by default (2,000 sampled items in both spaces), fitted here first so that the
    # mapped-only level (the old index through the map, no migration) is measured with the same map
    sample = np.sort(np.random.default_rng(0).choice(n, 2000, replace=False))
    col.add_map(fit_map(new[sample], old[sample]), model=NEW_MODEL)
    mapped_only = _rel10(col.search(Q, 10, model=NEW_MODEL), relevant)
    col.migrate(NEW_MODEL, vectors=source, fit_size=2000, limit=2000, evaluation=(Q, relevant.tolist()))
    assert col.info()["maps"] == [NEW_MODEL]  # the migration kept the map it found
    levels = [_rel10(col.search(Q, 10, model=NEW_MODEL), relevant)]
    for fraction in (0.25, 0.5, 0.75):
        col.migrate(NEW_MODEL, vectors=source, limit=int(fraction * n) - col.migration["done"], evaluation=(Q, relevant.tolist()))
        levels.append(_rel10(col.search(Q, 10, model=NEW_MODEL), relevant))
    assert all(level >= mapped_only - 0.006 for level in levels), (mapped_only, levels)
    assert levels[-1] > mapped_only + 0.03, (mapped_only, levels)  # three quarters re-embedded: clearly better
    checkpoints = col.migration["checkpoints"]
    assert [c["metric"] for c in checkpoints] == ["relevant@10"] * len(checkpoints) and len(checkpoints) >= 4
    col.migrate(NEW_MODEL, vectors=source)
    assert col.model == NEW_MODEL
    final = _rel10(col.search(Q, 10), relevant)
    Xn = new / np.linalg.norm(new, axis=1, keepdims=True)
    reindexed = float(np.mean([r in row for r, row in zip(relevant, np.argsort(-(Q @ Xn.T), axis=1)[:, :10])]))
    assert abs(final - reindexed) <= 0.005, (final, reindexed)
    col.close()


def test_onnx_old_model_text_collection_migrates_end_to_end(tmp_path, wordnet_dir):
    rows = [json.loads(line) for line, _ in zip(open(wordnet_dir / "corpus.jsonl", encoding="utf-8"), range(300))]
    texts = [r["text"] for r in rows]
    col = Collection.create(tmp_path / "t", encoder="paraphrase-MiniLM-L3-v2", spec="int8+rerank4", train_size=200)
    col.add_texts(texts, metadata=[{"pos": r["pos"]} for r in rows])
    assert col.texts([0, 299]) == [texts[0], texts[299]]
    col.migrate("all-MiniLM-L6-v2", fit_size=100, limit=150)
    mid = col.search_text(["a large cat", "a boat"], 5, model="all-MiniLM-L6-v2", filter={"pos": "n"})
    assert mid.ids.shape == (2, 5) and None not in mid.ids.ravel().tolist()
    col.migrate("all-MiniLM-L6-v2")
    assert col.model == NEW_MODEL and col.settings.encoder is not None and col.texts([5]) == [texts[5]]
    stored = col.get(list(range(300))).vectors
    want = np.load(wordnet_dir / "corpus.f16.npy", mmap_mode="r")[:300].astype(np.float32)  # the data set's new-model vectors
    cos = np.sum(stored * want, axis=1) / np.linalg.norm(stored, axis=1) / np.linalg.norm(want, axis=1)
    assert cos.min() > 0.99
    hit = col.search_text(texts[:20], 1).ids[:, 0].tolist()
    assert hit == list(range(20))
    col.close()
