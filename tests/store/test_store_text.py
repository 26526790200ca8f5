"""Text collections: a collection that remembers its encoder, add_texts / search_text, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from lowdim import Collection, ParameterError, ValidationError
from lowdim.cli import app
from lowdim.encoders import bundled_texts

runner = CliRunner()


@pytest.fixture(scope="module")
def docs():
    with open(bundled_texts() / "corpus.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for _, line in zip(range(300), fh)]


def test_text_collection_round_trip(tmp_path, docs):
    path = tmp_path / "t"
    c = Collection.create(path, encoder="all-MiniLM-L6-v2", spec="int8+rerank4", train_size=200)
    assert c.dim == 384 and c.model == "sentence-transformers/all-MiniLM-L6-v2"
    ids = c.add_texts(
        [d["text"] for d in docs],
        ids=[d["id"] for d in docs],
        metadata=[{"pos": d["pos"], "lexname": d["lexname"]} for d in docs],
    )
    assert ids == [d["id"] for d in docs]
    # a gloss finds itself
    res = c.search_text([docs[5]["text"], docs[77]["text"]], 3)
    assert res.ids[:, 0].tolist() == [docs[5]["id"], docs[77]["id"]]
    assert res.scores[0, 0] > 0.99
    # filters work on text collections too, and return k when k match
    lex = docs[40]["lexname"]
    members = {d["id"] for d in docs if d["lexname"] == lex}
    got = c.search_text("to move quickly", 5, filter={"lexname": lex})
    assert len(members) >= 5 and all(i in members for i in got.ids[0])
    c.close()
    # the encoder is remembered
    again = Collection.open(path, readonly=True)
    assert again.settings.encoder == "all-MiniLM-L6-v2"
    assert again.search_text(docs[5]["text"], 1).ids[0, 0] == docs[5]["id"]
    again.close()


def test_model_guard_on_text_collections(tmp_path, docs):
    c = Collection.create(tmp_path / "t", encoder="all-MiniLM-L6-v2", spec="f16")
    with pytest.raises(
        ValidationError,
        match=r"vectors from model 'other-model' do not fit this collection \(model sentence-transformers/all-MiniLM-L6-v2\)",
    ):
        c.add(np.ones((1, 384), np.float32), model="other-model")
    with pytest.raises(ParameterError, match="dim=768 contradicts encoder 'all-MiniLM-L6-v2', whose vectors have 384 dimensions"):
        Collection.create(tmp_path / "u", dim=768, encoder="all-MiniLM-L6-v2")
    c.close()


def test_vector_collection_has_no_encoder(tmp_path):
    c = Collection.create(tmp_path / "v", dim=8, spec="f32")
    with pytest.raises(ParameterError, match=r"has no text encoder; create it with Collection\.create\(path, encoder="):
        c.search_text("hello", 1)
    c.close()


def test_text_cli(tmp_path, docs):
    src = tmp_path / "docs.jsonl"
    src.write_text("".join(json.dumps(d) + "\n" for d in docs[:120]))
    path = tmp_path / "idx"
    r = runner.invoke(
        app, ["create", str(path), "--encoder", "all-MiniLM-L6-v2", "--spec", "binary+rerank10", "--train-size", "100"]
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["add", str(path), "--texts", str(src), "--field", "text", "--id-field", "id"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "res.json"
    r = runner.invoke(app, ["search", str(path), docs[3]["text"], "--k", "4", "--json", str(out)])
    assert r.exit_code == 0, r.output
    res = json.loads(out.read_text())
    assert res["ids"][0][0] == docs[3]["id"] and len(res["ids"][0]) == 4
    r = runner.invoke(app, ["search", str(path), "--k", "4"])
    assert r.exit_code != 0


DEMO_DOCS = 1_500  # of the bundled 10,000: embedding and planning them are most of the demo's time


@pytest.fixture
def small_bundle(tmp_path, monkeypatch):
    """The bundled sample cut to DEMO_DOCS glosses: every query's relevant gloss, then every third other gloss.

    The demo reads its data through ``lowdim.encoders.bundled_texts``, so the test points that at the cut:
    everything else (the embedding, diagnosis, plan, collection and measurement) runs as ``lowdim demo`` does.
    """
    import lowdim.encoders

    src = bundled_texts()
    docs = (src / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    queries = (src / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(docs) == 10_000 and len(queries) == 200  # what the demo embeds by default
    relevant = {r for line in queries for r in json.loads(line)["relevant_doc_ids"]}
    keep = [i for i, line in enumerate(docs) if json.loads(line)["id"] in relevant]
    assert len(keep) == 200
    kept = set(keep)
    others = [i for i in range(len(docs)) if i not in kept]
    keep += others[:: len(others) // (DEMO_DOCS - len(keep))][: DEMO_DOCS - len(keep)]
    cut = tmp_path / "bundle"
    cut.mkdir()
    (cut / "corpus.jsonl").write_text("".join(docs[i] + "\n" for i in sorted(keep)), encoding="utf-8")
    (cut / "queries.jsonl").write_text("".join(line + "\n" for line in queries), encoding="utf-8")
    monkeypatch.setattr(lowdim.encoders, "bundled_texts", lambda: cut)
    return cut


@pytest.mark.slow
def test_demo_end_to_end(tmp_path, small_bundle):
    """`lowdim demo` as a user runs it (on 1,500 of its 10,000 glosses): real embeddings, a planned spec, measured quality."""
    from lowdim._demo import run_demo

    rep = run_demo(tmp_path / "demo")
    assert rep.planned and rep.n_docs == DEMO_DOCS
    assert rep.recall_at_10 >= 0.93  # planned for 0.95 on the other half of the queries
    assert abs(rep.recall_at_10 - rep.predicted_recall_at_10) <= 0.03
    assert rep.ndcg_at_10 >= rep.ndcg_at_10_float32 - 0.03
    assert rep.ram_bytes_per_vector <= 384
    for name in ("report.json", "plan.json", "plan.codec.npz", "pareto.png"):
        assert (tmp_path / "demo" / name).is_file()
    report = json.loads((tmp_path / "demo" / "report.json").read_text())
    assert report["spec"] == rep.spec and set(report["seconds"]) >= {"embed", "diagnose", "plan", "build", "measure", "total"}
    # regression: the demo refitted the codec it had just planned (49 s of a 149 s run); it adopts it now
    info = report["collection_info"]
    assert info["codec_source"] == "plan" and info["trained"] and info["spec"] == rep.spec


def test_upsert_texts_replaces_by_id(tmp_path):
    c = Collection.create(tmp_path / "t", encoder="all-MiniLM-L6-v2", spec="f16")
    c.add_texts(["a large wild cat", "a small boat", "a red apple"], ids=["cat", "boat", "apple"], metadata=[{"v": 1}] * 3)
    assert c.upsert_texts(["a fast sports car", "a green pear"], ids=["boat", "pear"], metadata=[{"v": 2}, None]) == [
        "boat",
        "pear",
    ]
    assert len(c) == 4 and c.ids() == ["cat", "apple", "boat", "pear"]
    rec = c.get(["boat"])
    np.testing.assert_allclose(rec.vectors, c.encoder.encode(["a fast sports car"]), atol=1e-3)  # stored as float32
    assert rec.metadata == [{"v": 2}]
    assert c.search_text("an automobile", 1).ids[0, 0] == "boat"
    with pytest.raises(ParameterError, match="upsert_texts needs ids"):
        c.upsert_texts(["x"], ids=None)
    c.close()


def test_text_collections_share_one_encoder(tmp_path):
    from lowdim.encoders import shared_encoder

    c = Collection.create(tmp_path / "t", encoder="all-MiniLM-L6-v2", spec="f16")
    c.add_texts(["one", "two"])
    c.close()
    snapshots = [Collection.open(tmp_path / "t", readonly=True) for _ in range(3)]
    assert all(s.encoder is snapshots[0].encoder for s in snapshots)  # the model is loaded once
    assert snapshots[0].encoder is shared_encoder("sentence-transformers/all-MiniLM-L6-v2")
    for s in snapshots:
        s.close()
