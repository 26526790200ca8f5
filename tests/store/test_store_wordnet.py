"""Real data (wordnet-minilm, 116,697 MiniLM vectors; the first 500 of its 2,000 random queries): recall floors, filters, RAM, model guard."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from lowdim import DimensionError
from lowdim.eval import exact_knn, recall_at_k
from lowdim.store import Collection

MODEL = "all-MiniLM-L6-v2"
N_QUERIES = 500  # every search scans all rows; 500 random queries measure recall@10 to about +-0.01


@pytest.fixture(scope="module")
def queries(wordnet):
    """(queries, gt top-10) of the first N_QUERIES queries."""
    return wordnet.queries[:N_QUERIES], wordnet.gt[:N_QUERIES, :10]


@pytest.fixture(scope="module")
def corpus_meta(wordnet_dir):
    meta = []
    with open(wordnet_dir / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            meta.append({"pos": d["pos"], "lexname": d["lexname"]})
    return meta


@pytest.fixture(scope="module")
def collections(wordnet, corpus_meta, tmp_path_factory):
    root = tmp_path_factory.mktemp("wordnet")
    out = {}
    for spec in ("int8+rerank4", "binary+rerank10"):
        path = root / spec.replace("+", "_")
        with Collection.create(path, dim=384, spec=spec, model=MODEL) as col:
            col.add(wordnet.corpus, metadata=corpus_meta)
        out[spec] = Collection.open(path, readonly=True)
    yield out
    for col in out.values():
        col.close()


@pytest.fixture(scope="module")
def filtered_truth(wordnet, corpus_meta, queries):
    X = np.asarray(wordnet.corpus, dtype=np.float32)
    truth = {}
    for key, value in (("pos", "r"), ("lexname", "noun.artifact")):
        rows = np.array([i for i, m in enumerate(corpus_meta) if m[key] == value])
        _, g = exact_knn(X[rows], queries[0], 10, metric="cosine")
        truth[(key, value)] = (rows, rows[g])
    return truth


@pytest.mark.parametrize("spec, floor", [("int8+rerank4", 0.99), ("binary+rerank10", 0.97)])
def test_recall_floor(collections, queries, as_ids, spec, floor):
    Q, gt = queries
    res = collections[spec].search(Q, 10)
    assert res.ids.shape == (N_QUERIES, 10)
    assert recall_at_k(as_ids(res), gt, 10) >= floor


@pytest.mark.parametrize("spec", ["int8+rerank4", "binary+rerank10"])
@pytest.mark.parametrize("key, value, share", [("pos", "r", 0.03), ("lexname", "noun.artifact", 0.099)])
def test_filtered_queries_return_k_and_recall(collections, queries, filtered_truth, as_ids, spec, key, value, share):
    rows, gt = filtered_truth[(key, value)]
    assert abs(len(rows) / 116_697 - share) < 0.002
    got = as_ids(collections[spec].search(queries[0], 10, filter={key: value}))
    assert (got >= 0).all(), "k results for every query"
    assert np.isin(got, rows).all()
    assert recall_at_k(got, gt, 10) >= 0.95


def test_model_and_width_guard_on_real_vectors(collections, tmp_path):
    col = Collection.create(tmp_path / "c", dim=384, model=MODEL)
    with pytest.raises(DimensionError, match=rf"^X has 768 features, but this collection \(model {MODEL}\) expects 384$"):
        col.add(np.zeros((2, 768), np.float32))
    with pytest.raises(ValueError, match=rf"vectors from model 'all-mpnet-base-v2' do not fit this collection \(model {MODEL}\)"):
        col.add(np.zeros((2, 384), np.float32), model="all-mpnet-base-v2")
    col.close()


_PROBE = textwrap.dedent(
    """
    import json, sys
    def anon():
        for line in open("/proc/self/status"):
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    import numpy as np
    from lowdim.store import Collection
    before = anon()
    col = Collection.open(sys.argv[1], readonly=True)
    opened = anon()
    col.search(np.load(sys.argv[2])[:200], 10)
    print(json.dumps({"open": opened - before, "after": anon() - before, "codes": col.info()["ram_bytes"]["codes"]}))
    """
)


def test_resident_memory_is_codes_not_vectors(collections, wordnet, tmp_path):
    """Measured in a fresh process: private (anonymous) RSS grows by the codes and ids, not the float vectors."""
    path = collections["binary+rerank10"].path
    np.save(tmp_path / "q.npy", wordnet.queries)
    # A fixed mmap threshold makes glibc return every large freed buffer to the OS at once: RssAnon then
    # measures live memory, not how glibc's adaptive threshold happened to recycle freed search buffers
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(path), str(tmp_path / "q.npy")], capture_output=True, text=True, check=True, env=env
    )
    m = json.loads(out.stdout.strip().splitlines()[-1])
    float_bytes = 116_697 * 384 * 4
    ids_bytes = 116_697 * 9
    assert m["codes"] == 116_697 * 48
    assert m["open"] < m["codes"] + ids_bytes + 16 * 2**20, m  # 5.6 MB of codes + 1 MB of rowids + slack
    assert m["after"] < 0.25 * float_bytes, m  # search buffers, never the 179 MB of vectors
