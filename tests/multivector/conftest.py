"""The real token set (wordnet-minilm/tokens), loaded once for the multi-vector tests."""

from __future__ import annotations

import numpy as np
import pytest

from lowdim.multivector import TokenSets


@pytest.fixture(scope="session")
def wordnet_tokens(wordnet_dir):
    """``(docs, queries, gt)``: 3,000 documents (float16 memmap, as a collection keeps them), 200 queries, exact Chamfer top-100."""
    d = wordnet_dir / "tokens"
    if not d.is_dir():
        pytest.fail(f"real data set missing: {d} (a recall test that skips proves nothing)")
    docs = TokenSets.from_csr(np.load(d / "docs_tokens.f16.npy", mmap_mode="r"), np.load(d / "docs_offsets.npy"))
    docs = TokenSets(docs.rows, docs.offsets)
    queries = TokenSets.from_csr(np.load(d / "q_tokens.f16.npy"), np.load(d / "q_offsets.npy"))
    return docs, queries, np.load(d / "gt_maxsim_top100.npy")
