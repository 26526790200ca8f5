"""Plan → create → add → search on a real 3,000-row corpus, through the CLI, as a new user would.

Regression for issue 10's first bug: a collection created from a plan over a 5,183-vector
corpus never trained (the default train size was 20,000), searched the float vectors
exactly, and threw away the codec the plan had measured. Now it searches with the planned
codes from the first add, and its recall on queries the plan never saw matches the plan's
prediction.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from lowdim.cli import app
from lowdim.eval import exact_knn, recall_at_k
from lowdim.spec import Pipeline

runner = CliRunner()


def _ok(args: list[str]) -> str:
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return res.output


@pytest.fixture(scope="module")
def cut(wordnet, tmp_path_factory):
    """3,000 corpus rows of wordnet-minilm (far below the default train size, as in the issue), 200 planning queries and 300 other queries, as files."""
    tmp = tmp_path_factory.mktemp("cut")
    rng = np.random.default_rng(7)
    rows = np.sort(rng.choice(wordnet.n, 3_000, replace=False))
    X = np.asarray(wordnet.corpus[rows], np.float32)
    Q = np.asarray(wordnet.queries, np.float32)
    np.save(tmp / "corpus.npy", X)
    np.save(tmp / "plan_queries.npy", Q[:200])
    np.save(tmp / "check_queries.npy", Q[200:500])
    return tmp, X, Q[200:500]


def test_planned_collection_searches_with_the_planned_codes(cut):
    tmp, X, check_q = cut
    _ok(
        [
            "plan",
            str(tmp / "corpus.npy"),
            "--queries",
            str(tmp / "plan_queries.npy"),
            "--target-recall",
            "0.95",
            "--max-rerank",
            "4",
            "--no-faiss",  # the planned codes are what this tests; FAISS's frontier is tested in tests/plan
            "--max-bytes",  # the same recommendation (opq32/pq32x8+rerank4) without fitting the larger steps
            "32",
            "--json",
            str(tmp / "p.json"),
        ]
    )
    plan = json.loads((tmp / "p.json").read_text())
    rec = plan["recommended"]
    assert (tmp / plan["codec_file"]).is_file()

    _ok(["create", str(tmp / "idx"), "--plan", str(tmp / "p.json")])
    out = _ok(["add", str(tmp / "idx"), str(tmp / "corpus.npy")])
    assert "exact" not in out  # trained from the plan: no "searches are exact" line
    info = json.loads(_ok(["info", str(tmp / "idx"), "--json"]))
    assert info["trained"] and info["spec"] == rec["spec"] and info["metric"] == plan["metric"]
    assert info["code_size"] == rec["ram_bytes_per_vector"] and info["codec_source"] == "plan"
    assert info["search_mode"] == "codes" and info["untrained_reason"] is None

    # the collection's codes are the plan's codes
    codes = Pipeline.load(tmp / plan["codec_file"]).encode(X[:50])
    from lowdim.store import Collection

    with Collection.open(tmp / "idx", readonly=True) as col:
        np.testing.assert_array_equal(col.codec.encode(X[:50]), codes)

    # recall on 300 queries the plan never saw, against exact float32 search
    _ok(["search", str(tmp / "idx"), "--queries", str(tmp / "check_queries.npy"), "--k", "10", "--json", str(tmp / "r.json")])
    got = np.array(json.loads((tmp / "r.json").read_text())["ids"], dtype=np.int64)
    _, truth = exact_knn(X, check_q, 10, metric=plan["metric"])
    recall = recall_at_k(got, truth, 10)
    assert abs(recall - rec["recall"]) <= 0.02, (recall, rec)
    assert recall >= 0.95 - 0.02
