"""Real data (wordnet-minilm): a served int8+rerank4 collection answers exactly what the local one does, and recalls."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from lowdim.server import Client, create_app
from lowdim.store import Collection

N_DOCS = 30_000
N_QUERIES = 200


@pytest.fixture(scope="module")
def wordnet_served(tmp_path_factory, wordnet, wordnet_dir: Path):
    """A seeded 30,000-gloss sample of wordnet-minilm, served as ``wordnet`` (ids are corpus rows)."""
    rows = np.sort(np.random.default_rng(0).choice(len(wordnet.corpus), N_DOCS, replace=False))
    wanted = set(rows.tolist())
    meta: dict[int, dict] = {}
    with open(wordnet_dir / "corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            doc = json.loads(line)
            if doc["id"] in wanted:
                meta[doc["id"]] = {"pos": doc["pos"], "lexname": doc["lexname"]}
    X = np.asarray(wordnet.corpus[rows], dtype=np.float32)
    root = tmp_path_factory.mktemp("wordnet-served")
    with Collection.create(root / "wordnet", dim=384, spec="int8+rerank4", model="all-MiniLM-L6-v2", train_size=10_000) as col:
        col.add(X, ids=rows.tolist(), metadata=[meta[r] for r in rows.tolist()])
    app = create_app(root, refresh_interval=0)
    with TestClient(app) as http:
        yield root / "wordnet", http, X, rows


def test_remote_search_equals_local_and_recalls(wordnet_served, wordnet) -> None:
    path, http, X, rows = wordnet_served
    Q = np.asarray(wordnet.queries[:N_QUERIES], dtype=np.float32)
    coll = Client(http=http).collection("wordnet")
    assert len(coll) == N_DOCS and coll.model == "all-MiniLM-L6-v2"
    remote = coll.search(Q, k=10)
    with Collection.open(path, readonly=True) as local:
        expected = local.search(Q, k=10)
    assert remote.ids.tolist() == expected.ids.tolist()
    np.testing.assert_array_equal(remote.scores, expected.scores)
    # recall@10 against exact cosine search over the same sample
    exact = rows[np.argsort(-(Q @ X.T), axis=1)[:, :10]]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(remote.ids.tolist(), exact.tolist())])
    assert recall >= 0.95, recall


def test_remote_filtered_search_on_real_metadata(wordnet_served, wordnet) -> None:
    path, http, X, rows = wordnet_served
    Q = np.asarray(wordnet.queries[:50], dtype=np.float32)
    coll = Client(http=http).collection("wordnet")
    flt = {"lexname": {"$in": ["noun.animal", "noun.plant"]}, "pos": "n"}
    remote = coll.search(Q, k=10, filter=flt, with_metadata=True)
    with Collection.open(path, readonly=True) as local:
        expected = local.search(Q, k=10, filter=flt)
    assert remote.ids.tolist() == expected.ids.tolist()
    assert all(m["lexname"] in ("noun.animal", "noun.plant") for row in remote.metadata for m in row if m is not None)


def test_queries_from_another_model_are_refused(wordnet_served, wordnet) -> None:
    path, http, X, rows = wordnet_served
    r = http.post("/collections/wordnet/search", json={"queries": wordnet.queries[:1].tolist(), "model": "other-model"})
    assert r.status_code == 422
    assert r.json()["error"] == (
        "vectors from model 'other-model' do not fit this collection (model all-MiniLM-L6-v2): "
        "embeddings of different models are not comparable; models with a query map: none (fit one with "
        "lowdim.compat.fit_map and store it with Collection.add_map or 'lowdim map add')"
    )
    r = http.post("/collections/wordnet/search", json={"queries": [[0.1] * 768]})
    assert r.json()["error"] == "queries has 768 features, but this collection (model all-MiniLM-L6-v2) expects 384"
