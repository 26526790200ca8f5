"""Shared fixtures of the encoder tests: the real WordNet data and one loaded encoder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "wordnet-minilm"
N_QUERIES = 50


def _need_data() -> Path:
    if not (DATA / "queries.jsonl").is_file():
        pytest.fail(f"real data set missing: {DATA.resolve()} (expected ../shared/data beside the repository)")
    return DATA


@pytest.fixture(scope="session")
def wordnet() -> Path:
    """The shared wordnet-minilm folder."""
    return _need_data()


@pytest.fixture(scope="session")
def queries(wordnet: Path) -> list[str]:
    """The first 50 real WordNet lemma queries."""
    with open(wordnet / "queries.jsonl", encoding="utf-8") as fh:
        return [json.loads(line)["text"] for _, line in zip(range(N_QUERIES), fh)]


@pytest.fixture(scope="session")
def query_vectors(wordnet: Path) -> np.ndarray:
    """Reference all-MiniLM-L6-v2 vectors of those queries, (50, 384) float32."""
    return np.load(wordnet / "queries.npy", mmap_mode="r")[:N_QUERIES].astype(np.float32)


@pytest.fixture(scope="session")
def glosses(wordnet: Path) -> list[str]:
    """The first 23 real WordNet glosses (a count that leaves a short last chunk)."""
    with open(wordnet / "corpus.jsonl", encoding="utf-8") as fh:
        return [json.loads(line)["text"] for _, line in zip(range(23), fh)]


@pytest.fixture(scope="session")
def encoder():
    """One loaded full all-MiniLM-L6-v2 encoder, shared by the tests (loading costs seconds)."""
    from lowdim.encoders import TextEncoder

    enc = TextEncoder("all-MiniLM-L6-v2", batch_size=16)
    _ = enc.dim  # load now, outside any timed test
    return enc


@pytest.fixture(scope="session")
def gloss_vectors(encoder, glosses) -> np.ndarray:
    """``encoder.encode(glosses)``, (23, 384) float32, computed once."""
    return encoder.encode(glosses)
