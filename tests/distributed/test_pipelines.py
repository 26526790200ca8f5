"""Batch pipelines (encode, ground truth, embed): the same bytes with and without Ray, resumable, one-line errors.

Tests marked ``cluster`` start a local Ray (the session fixture ``ray_local``); the others
run the same functions in this process and pin their results against the plain API.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from lowdim.arrays import sample_rows, single_thread
from lowdim.distributed import _encode as encode_module
from lowdim.distributed import encode_file, ground_truth
from lowdim.distributed._truth import merge_topk
from lowdim.exceptions import ConflictError, MissingDependencyError, ParameterError, SpecError
from lowdim.search import exact_knn
from lowdim.spec import Pipeline

N_ROWS = 3000
SPEC = "rp64/pq16x4"  # a matmul (so BLAS summation order matters) and FAISS PQ (not picklable: sent as its file)


@pytest.fixture(scope="module")
def corpus_file(wordnet, tmp_path_factory) -> Path:
    """The first 3,000 wordnet-minilm vectors as a float16 .npy."""
    path = tmp_path_factory.mktemp("pipelines") / "corpus.npy"
    np.save(path, np.asarray(wordnet.corpus[:N_ROWS]))
    return path


@pytest.fixture(scope="module")
def query_vectors(wordnet) -> np.ndarray:
    return np.asarray(wordnet.queries[:40], dtype=np.float32)


@pytest.fixture(scope="module")
def texts(wordnet_dir) -> list[str]:
    """60 real WordNet glosses, one line each."""
    with open(wordnet_dir / "corpus.jsonl", encoding="utf-8") as fh:
        return [" ".join(json.loads(line)["text"].split()) for _, line in zip(range(60), fh)]


class _Interrupted(Exception):
    pass


def _spy_pool(monkeypatch) -> list[list[int]]:
    """Record which part numbers every run of the encode pool was given."""
    submitted: list[list[int]] = []
    real = encode_module.run_pool

    def spy(items, make_worker, **kwargs):
        submitted.append([item["index"] for item in items])
        return real(items, make_worker, **kwargs)

    monkeypatch.setattr(encode_module, "run_pool", spy)
    return submitted


def _interrupt_encode_at(monkeypatch, index: int) -> None:
    """Make the encode workers fail on part ``index`` (as a killed run would stop there)."""
    real = encode_module._block_encoder

    def failing(codec, vectors_path, folder):
        work = real(codec, vectors_path, folder)

        def run(item):
            if item["index"] == index:
                raise _Interrupted(f"stopped at part {index}")
            return work(item)

        return run

    monkeypatch.setattr(encode_module, "_block_encoder", failing)


# ----------------------------------------------------------------------------- ground truth, no Ray


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_ground_truth_in_blocks_is_exact_knn(corpus_file, query_vectors, metric):
    whole_scores, whole_ids = exact_knn(np.load(corpus_file), query_vectors, 50, metric=metric)
    scores, ids = ground_truth(corpus_file, query_vectors, 50, metric=metric, block_rows=700)  # blocks cut tiles
    assert scores.dtype == np.float32 and ids.dtype == np.int64 and ids.shape == (40, 50)
    np.testing.assert_array_equal(ids, whole_ids)
    np.testing.assert_allclose(scores, whole_scores, rtol=1e-5, atol=1e-5)


def test_ground_truth_pads_when_the_corpus_is_small():
    corpus = np.eye(3, dtype=np.float32)
    scores, ids = ground_truth(corpus, [[1.0, 0.5, 0.0]], 5, metric="ip", block_rows=2)
    assert ids.tolist() == [[0, 1, 2, -1, -1]]
    assert scores[0, :3].tolist() == [1.0, 0.5, 0.0] and np.isneginf(scores[0, 3:]).all()
    scores, ids = ground_truth(corpus, [[1.0, 0.5, 0.0]], 5, metric="l2", block_rows=2)
    assert ids.tolist() == [[0, 1, 2, -1, -1]] and np.isposinf(scores[0, 3:]).all()


def test_merge_keeps_the_lower_id_on_ties():
    scores = [np.array([[0.5, 0.2]], np.float32), np.array([[0.5, 0.5]], np.float32)]
    ids = [np.array([[9, 10]]), np.array([[3, 4]])]
    s, i = merge_topk(scores, ids, 3, metric="ip")
    assert i.tolist() == [[3, 4, 9]]
    s, i = merge_topk(scores, ids, 3, metric="l2")
    assert i.tolist() == [[10, 3, 4]]


def test_ground_truth_rejects_mismatched_queries(corpus_file):
    from lowdim.exceptions import DimensionError

    with pytest.raises(DimensionError, match="expected \\(n_queries, 384\\)"):
        ground_truth(corpus_file, np.zeros((2, 10), np.float32), 5)


# ----------------------------------------------------------------------------- encode, no Ray


def test_encode_file_is_the_pipeline_on_a_seeded_sample(corpus_file, tmp_path):
    codes_path, codec_path = encode_file(corpus_file, tmp_path / "codes.npy", spec=SPEC, train_size=1000, seed=3, block_rows=700)
    assert codec_path == tmp_path / "codes.codec.npz" and not (tmp_path / "codes.npy.partial").exists()
    X = np.load(corpus_file)
    expected = Pipeline(SPEC, random_state=3, max_train=1000).fit(sample_rows(X, 1000, 3))
    codes = np.load(codes_path)
    assert codes.dtype == np.uint8 and codes.shape == (N_ROWS, expected.code_size)
    with single_thread():
        np.testing.assert_array_equal(codes, expected.encode(X, batch_size=700))
        np.testing.assert_array_equal(codes, Pipeline.load(codec_path).encode(X, batch_size=700))


def test_encode_file_resumes_only_the_missing_parts(corpus_file, tmp_path, monkeypatch):
    reference, _ = encode_file(corpus_file, tmp_path / "ref.npy", spec=SPEC, train_size=1000, block_rows=700)
    out = tmp_path / "codes.npy"
    with monkeypatch.context() as m:
        _interrupt_encode_at(m, 4)
        with pytest.raises(_Interrupted):
            encode_file(corpus_file, out, spec=SPEC, train_size=1000, block_rows=700, workers=1)
    folder = tmp_path / "codes.npy.partial"
    assert sorted(p.name for p in folder.glob("part-*.npy")) == [f"part-0000{i}.npy" for i in range(4)]
    (folder / "part-00001.npy").unlink()
    submitted = _spy_pool(monkeypatch)
    encode_file(corpus_file, out, spec=SPEC, train_size=1000, block_rows=700)
    assert submitted == [[1, 4]]
    assert out.read_bytes() == reference.read_bytes()


def test_encode_file_refuses_to_mix_runs(corpus_file, tmp_path, monkeypatch):
    out = tmp_path / "codes.npy"
    _interrupt_encode_at(monkeypatch, 0)
    with pytest.raises(_Interrupted):
        encode_file(corpus_file, out, spec=SPEC, train_size=1000, block_rows=700, workers=1)
    with pytest.raises(ConflictError, match="seed=0 \\(now 1\\)"):
        encode_file(corpus_file, out, spec=SPEC, train_size=1000, block_rows=700, seed=1)


def test_encode_file_bad_inputs(corpus_file, tmp_path):
    with pytest.raises(ParameterError, match="must be a .npy path"):
        encode_file(corpus_file, tmp_path / "codes.bin", spec=SPEC)
    with pytest.raises(SpecError, match="unknown piece 'pcq32'"):
        encode_file(corpus_file, tmp_path / "codes.npy", spec="pcq32/int8")
    with pytest.raises(ParameterError, match="'workers' parameter of encode_file"):
        encode_file(corpus_file, tmp_path / "codes.npy", spec=SPEC, workers=0)


# ----------------------------------------------------------------------------- Ray refusals (no Ray started)


def test_a_bad_address_is_a_one_line_parameter_error(corpus_file, query_vectors, tmp_path):
    from lowdim.distributed import embed_file

    for call in (
        lambda: ground_truth(corpus_file, query_vectors, 5, ray_address="nowhere:1"),
        lambda: encode_file(corpus_file, tmp_path / "c.npy", spec=SPEC, ray_address="nowhere:1"),
        lambda: embed_file(tmp_path / "t.txt", tmp_path / "e.npy", ray_address="nowhere:1"),
    ):
        with pytest.raises(ParameterError, match="Ray address 'nowhere:1' is not one of") as info:
            call()
        assert "\n" not in str(info.value)


def test_ray_missing_says_how_to_install_it(corpus_file, query_vectors, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'lowdim\[ray\]'"):
        ground_truth(corpus_file, query_vectors, 5, ray_address="local")


def test_cli_truth_and_encode(corpus_file, tmp_path, query_vectors):
    from typer.testing import CliRunner

    from lowdim.cli import app

    queries = tmp_path / "q.npy"
    np.save(queries, query_vectors)
    gt = tmp_path / "gt.npy"
    runner = CliRunner()
    result = runner.invoke(app, ["truth", str(corpus_file), str(queries), "-o", str(gt), "--k", "10", "--no-progress"])
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(np.load(gt), exact_knn(np.load(corpus_file), query_vectors, 10, metric="cosine")[1])
    codes = tmp_path / "codes.npy"
    args = ["encode", str(corpus_file), "-o", str(codes), "--spec", SPEC, "--train-size", "1000", "--no-progress"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert np.load(codes).shape == (N_ROWS, 8) and (tmp_path / "codes.codec.npz").is_file()  # pq16x4: 8 bytes


def test_embed_workers_without_an_address_is_refused(tmp_path):
    from lowdim.distributed import embed_file

    with pytest.raises(ParameterError, match="'workers' parameter of embed_file needs ray_address"):
        embed_file(tmp_path / "t.txt", tmp_path / "e.npy", workers=2)


def test_cli_bad_address_is_one_line(corpus_file, tmp_path, capsys):
    from lowdim.cli import main

    with pytest.raises(SystemExit) as info:
        main(["truth", str(corpus_file), str(corpus_file), "-o", str(tmp_path / "gt.npy"), "--address", "nowhere"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: Ray address 'nowhere'") and "\n" not in err


# ----------------------------------------------------------------------------- on a local Ray


@pytest.mark.cluster
def test_ground_truth_on_ray_is_the_local_result(ray_local, corpus_file, query_vectors):
    local = ground_truth(corpus_file, query_vectors, 100, block_rows=700)
    on_ray = ground_truth(corpus_file, query_vectors, 100, block_rows=700, ray_address="local")
    np.testing.assert_array_equal(on_ray[1], local[1])
    np.testing.assert_array_equal(on_ray[0], local[0])  # same blocks, one BLAS thread each: the same bits


@pytest.mark.cluster
def test_encode_on_ray_resumes_a_local_run_with_the_same_bytes(ray_local, corpus_file, tmp_path, monkeypatch):
    reference, ref_codec = encode_file(corpus_file, tmp_path / "ref.npy", spec=SPEC, train_size=1000, block_rows=700)
    out = tmp_path / "codes.npy"
    with monkeypatch.context() as m:
        _interrupt_encode_at(m, 4)
        with pytest.raises(_Interrupted):
            encode_file(corpus_file, out, spec=SPEC, train_size=1000, block_rows=700, workers=1)
    (tmp_path / "codes.npy.partial" / "part-00002.npy").unlink()
    submitted = _spy_pool(monkeypatch)
    codes, codec = encode_file(corpus_file, out, spec=SPEC, train_size=1000, block_rows=700, ray_address="local", workers=2)
    assert submitted == [[2, 4]]
    assert codes.read_bytes() == reference.read_bytes()
    assert codec.read_bytes() == ref_codec.read_bytes()


@pytest.mark.cluster
def test_embed_on_ray_resumes_a_local_run_with_the_same_bytes(ray_local, texts, tmp_path, monkeypatch):
    from lowdim.distributed import _embed_ray, embed_file

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    source = tmp_path / "texts.txt"
    source.write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    from lowdim.encoders import TextEncoder

    local = TextEncoder("all-MiniLM-L6-v2", batch_size=8)  # loaded once for both local runs
    reference = embed_file(source, tmp_path / "ref.npy", chunk_size=16, model=local, progress=False)

    def stop_after_first(done, total):
        raise _Interrupted

    out = tmp_path / "vectors.npy"
    with pytest.raises(_Interrupted):
        embed_file(source, out, chunk_size=16, model=local, progress=False, on_chunk=stop_after_first)
    assert [p.name for p in (tmp_path / "vectors.npy.partial").glob("chunk-*.npy")] == ["chunk-00000.npy"]
    submitted: list[list[int]] = []
    real = _embed_ray.run_pool

    def spy(items, make_worker, **kwargs):
        submitted.append([item["index"] for item in items])
        return real(items, make_worker, **kwargs)

    monkeypatch.setattr(_embed_ray, "run_pool", spy)
    seen: list[int] = []
    embed_file(
        source,
        out,
        chunk_size=16,
        batch_size=8,
        progress=False,
        ray_address="local",
        workers=1,  # one actor: one more model load (2 would load it twice on these 2 cores)
        on_chunk=lambda d, n: seen.append(d),
    )
    assert submitted == [[1, 2, 3]]
    assert sorted(seen)[-1] == 60 and len(seen) == 3
    assert out.read_bytes() == reference.read_bytes()


@pytest.mark.cluster
def test_a_worker_error_on_ray_comes_back_as_one_line(ray_local, query_vectors):
    from lowdim.exceptions import ValidationError

    corpus = np.ones((50, 384), np.float32)
    corpus[17, 3] = np.nan
    with pytest.raises(ValidationError, match="NaN or infinity in 1 row") as info:
        ground_truth(corpus, query_vectors, 5, block_rows=20, ray_address="local")  # an array: put in the object store
    assert "\n" not in str(info.value)


@pytest.mark.cluster
def test_plan_on_ray_measures_the_coarse_sweep_in_tasks_and_recommends_the_same(ray_local):
    from lowdim.distributed import plan as plan_anywhere

    rng = np.random.default_rng(4)
    X = (rng.standard_normal((2000, 6)) @ rng.standard_normal((6, 32))).astype(np.float32)
    kw = {"target_recall": 0.9, "max_bytes": 8, "max_rerank": 1, "faiss": False, "n_holdout": 100}
    here = plan_anywhere(X, **kw)
    there = plan_anywhere(X, ray_address="local", workers=2, **kw)
    assert there.recommended is not None and there.recommended.spec == here.recommended.spec
    assert {c.spec for c in there.candidates} == {c.spec for c in here.candidates}  # the same search, same steps
    got = {(c.spec, c.rerank): c.recall for c in there.candidates}
    for c in here.candidates:  # one thread there, maybe two here: BLAS rounding at most
        assert abs(got[(c.spec, c.rerank)] - c.recall) <= 0.01
