"""Query maps on real data: wordnet-compat (old model paraphrase-MiniLM-L3-v2, new model all-MiniLM-L6-v2)."""

from __future__ import annotations

import numpy as np
import pytest

from lowdim.compat import fit_map


def _relevant_in_top10(Q: np.ndarray, corpus: np.ndarray, relevant: np.ndarray) -> float:
    Q = Q / np.linalg.norm(Q, axis=1, keepdims=True)
    top = np.argpartition(-(Q @ corpus.T), 9, axis=1)[:, :10]
    return float(np.mean((top == relevant[:, None]).any(axis=1)))


@pytest.fixture(scope="module")
def compat_dir(wordnet_dir):
    """``../shared/data/wordnet-compat`` (a missing data set fails, never skips)."""
    path = wordnet_dir.parent / "wordnet-compat"
    if not (path / "old_corpus.f16.npy").is_file():
        pytest.fail(f"real data set missing: {path}")
    return path


def test_a_map_fitted_on_2000_docs_lifts_new_queries_on_the_old_index_far_above_no_map(wordnet_dir, compat_dir):
    doc_ids = np.load(compat_dir / "doc_ids.npy")
    old_corpus = np.load(compat_dir / "old_corpus.f16.npy").astype(np.float32)
    new_corpus = np.load(wordnet_dir / "corpus.f16.npy", mmap_mode="r")[doc_ids].astype(np.float32)
    new_q = np.load(wordnet_dir / "queries.npy")[:1000]
    relevant = np.load(compat_dir / "relevant.npy")[:1000]
    fit_docs = np.load(compat_dir / "fit_docs.npy")[:2000]  # none of them is a relevant doc
    assert not np.isin(fit_docs, relevant).any()
    qmap = fit_map(new_corpus[fit_docs], old_corpus[fit_docs], kind=["procrustes", "ridge"], seed=0)
    no_map = _relevant_in_top10(new_q, old_corpus, relevant)
    mapped = _relevant_in_top10(qmap.transform(new_q), old_corpus, relevant)
    assert no_map < 0.16  # the README's floor: 0.135 on all 2,000 queries
    assert mapped > 0.27 and mapped > 1.8 * no_map, (mapped, no_map)
    assert qmap.quality.cosine > 0.6 and qmap.quality.top10 > 0.5
