"""A live model migration over HTTP and through lowdim.Client: start it, search meanwhile, see the switch."""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient

from lowdim.exceptions import LowdimError
from lowdim.server import Client, create_app
from lowdim.store import Collection

API_KEY = "test-key-0123456789"
NEW = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture
def served_old(tmp_path, wordnet_dir):
    """A served text collection ``glosses`` of the ONNX old model (paraphrase-MiniLM-L3-v2), 300 WordNet glosses."""
    rows = [json.loads(line) for line, _ in zip(open(wordnet_dir / "corpus.jsonl", encoding="utf-8"), range(300))]
    root = tmp_path / "served"
    root.mkdir()
    with Collection.create(root / "glosses", encoder="paraphrase-MiniLM-L3-v2", spec="int8+rerank4", train_size=200) as col:
        col.add_texts([r["text"] for r in rows], metadata=[{"pos": r["pos"]} for r in rows])
    return root, [r["text"] for r in rows]


def test_migration_over_http_and_the_client(served_old):
    root, texts = served_old
    with TestClient(create_app(root, api_key=API_KEY, refresh_interval=0.05)) as http:
        r = http.post("/collections/glosses/migrate", json={"to_model": "all-MiniLM-L6-v2"})
        assert r.status_code == 401  # a write: the key is needed
        r = http.post(
            "/collections/glosses/migrate",
            json={"to_model": "all-MiniLM-L6-v2", "fit_size": 10},
            headers={"Authorization": f"Bearer {API_KEY}"},
        )
        assert r.status_code == 422 and "fit_size: Input should be greater than or equal to 50" in r.json()["error"]
        assert http.get("/collections/glosses/migration").json() == {"migration": None}
        remote = Client(http=http, api_key=API_KEY).collection("glosses")
        with pytest.raises(LowdimError, match="no model named 'no-such-model'|not found|does not exist"):
            remote.migrate("no-such-model")
        status = remote.migrate("all-MiniLM-L6-v2", fit_size=100, batch_size=50)
        assert status["to_model"] == NEW and status["total"] == 300
        searched = 0
        deadline = time.time() + 120
        while time.time() < deadline:
            info = remote.refresh().info()
            if info["model"] == NEW:
                break
            m = remote.migration()
            if m is not None and m["calibration"] is not None and m["state"] == "running":
                res = remote.search_text(["a large cat"], 3, model="all-MiniLM-L6-v2")
                assert res.ids.shape == (1, 3)
                searched += 1
            time.sleep(0.1)
        assert info["model"] == NEW and info["count"] == 300, info
        assert remote.search_text(texts[:5], 1).ids[:, 0].tolist() == [0, 1, 2, 3, 4]
    with Collection.open(root / "glosses", readonly=True) as col:
        assert col.model == NEW and col.texts([3]) == [texts[3]]
