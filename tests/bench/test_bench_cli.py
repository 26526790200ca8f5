"""``lowdim bench`` / ``lowdim demo`` and the one-line error contract of the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from lowdim.bench import bundled_sample, run_bench
from lowdim.cli import app
from lowdim.eval import load_dataset, pareto_front

runner = CliRunner()

JSON_FIELDS = {
    "engine",
    "spec",
    "recall",
    "ndcg_at_10",
    "ram_bytes_per_vector",
    "disk_bytes_per_vector",
    "qps_batch",
    "qps_single",
    "fit_seconds",
    "encode_per_second",
}


@pytest.fixture(scope="module")
def sample():
    return load_dataset(bundled_sample())


def test_bundled_sample_is_real_and_complete(sample):
    assert sample.corpus.shape == (5000, 384) and sample.corpus.dtype == np.float16
    assert sample.queries.shape == (200, 384) and sample.gt.shape == (200, 100)
    assert len(sample.qrels) == 200
    assert (Path(bundled_sample()) / "LICENSE.WordNet.txt").is_file()
    # rows are unit-norm embeddings, and gt is exact within the sample
    norms = np.linalg.norm(sample.corpus.astype(np.float32), axis=1)
    assert np.allclose(norms, 1, atol=1e-2)
    S = sample.queries[:5] @ sample.corpus.astype(np.float32).T
    assert (np.argmax(S, axis=1) == sample.gt[:5, 0]).all()


def test_run_bench_reports_every_field_next_to_faiss(sample):
    rep = run_bench(sample, ["int8", "binary+rerank10", "rp64/f16"], k=10, n_single=20)
    rows = {(r.engine, r.spec): r for r in rep.results}
    assert set(rows) == {
        ("lowdim", "int8"),
        ("faiss", "int8"),
        ("lowdim", "binary+rerank10"),
        ("faiss", "binary+rerank10"),
        ("lowdim", "rp64/f16"),
    }
    ours = rows[("lowdim", "int8")]
    assert ours.recall > 0.97 and ours.ram_bytes_per_vector == 384 and ours.disk_bytes_per_vector == 0
    assert ours.equivalent == "SQ8" and ours.qps_batch_ratio > 0
    b = rows[("lowdim", "binary+rerank10")]
    assert b.ram_bytes_per_vector == 48 and b.disk_bytes_per_vector == 768
    assert rows[("faiss", "binary+rerank10")].recall < b.recall
    assert ours.ndcg_at_10 is not None and 0 < ours.ndcg_at_10 < 1
    d = rep.to_dict()
    assert d["k"] == 10 and d["n"] == 5000 and d["d"] == 384
    assert all(JSON_FIELDS <= set(r) for r in d["results"])


def test_bench_cli_writes_json_and_plot(tmp_path):
    out, png = tmp_path / "out.json", tmp_path / "out.png"
    res = runner.invoke(
        app,
        [
            "bench",
            str(bundled_sample()),
            "--specs",
            "f16,pq48x4+rerank4",
            "--json",
            str(out),
            "--plot",
            str(png),
            "--single-queries",
            "10",
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert [r["engine"] for r in data["results"]] == ["lowdim", "faiss", "lowdim", "faiss"]
    assert data["results"][2]["spec"] == "pq48x4+rerank4"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "recall@10" in res.output


def test_bench_cli_reads_separate_files(tmp_path, sample):
    np.save(tmp_path / "base.npy", np.asarray(sample.corpus[:1000]))
    np.save(tmp_path / "q.npy", sample.queries[:20])
    out = tmp_path / "r.json"
    res = runner.invoke(
        app,
        [
            "bench",
            str(tmp_path / "base.npy"),
            "--queries",
            str(tmp_path / "q.npy"),
            "--specs",
            "int8",
            "--no-faiss",
            "--json",
            str(out),
            "--k",
            "5",
        ],
    )
    assert res.exit_code == 0, res.output
    r = json.loads(out.read_text())
    assert r["k"] == 5 and r["n"] == 1000 and r["results"][0]["recall"] > 0.9


def test_bench_folder_with_other_queries_and_gt(tmp_path, sample):
    """Regression: --queries/--gt on a folder with its own queries.jsonl failed on the folder's qrels."""
    folder = bundled_sample()  # 200 queries with judgements in queries.jsonl
    q = np.asarray(sample.queries[:30])
    np.save(tmp_path / "q.npy", q)
    from lowdim.eval import exact_knn

    np.save(tmp_path / "g.npy", exact_knn(sample.corpus, q, 10, metric="cosine")[1])
    out = tmp_path / "r.json"
    args = ["bench", str(folder), "--queries", str(tmp_path / "q.npy"), "--gt", str(tmp_path / "g.npy")]
    res = runner.invoke(app, [*args, "--specs", "int8", "--no-faiss", "--json", str(out)])
    assert res.exit_code == 0, res.output
    r = json.loads(out.read_text())
    assert r["n_queries"] == 30 and r["results"][0]["ndcg_at_10"] is None and r["results"][0]["recall"] > 0.9


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lowdim.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 16)).astype(np.float32)
    np.save(d / "X.npy", X)
    np.save(d / "Q.npy", X[:5])
    np.save(d / "Q1d.npy", X[0])
    np.save(d / "Qwide.npy", rng.standard_normal((5, 32)).astype(np.float32))
    nan = X[:5].copy()
    nan[2, 3] = np.nan
    np.save(d / "Qnan.npy", nan)
    np.save(d / "Qempty.npy", np.zeros((0, 16), np.float32))
    np.save(d / "Xint.npy", (X * 100).astype(np.int32))
    raw = (d / "X.npy").read_bytes()
    (d / "Xtrunc.npy").write_bytes(raw[: len(raw) // 2])
    return d


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["bench", "X.npy", "--queries", "Q1d.npy", "--no-faiss"],
            r"Q1d\.npy holds an array of shape \(16,\); expected 2-D vectors",
        ),
        (["bench", "X.npy", "--queries", "Qwide.npy", "--no-faiss"], r"32 features.* 16"),
        (["bench", "X.npy", "--queries", "Qnan.npy", "--no-faiss"], r"NaN or infinity in 1 row\(s\): 2"),
        (["bench", "X.npy", "--queries", "Qempty.npy", "--no-faiss"], r"empty|0 rows|no quer"),
        (["bench", "Xint.npy", "--queries", "Q.npy", "--no-faiss"], r"integer dtype int32"),
        (
            ["bench", "X.npy", "--queries", "Q.npy", "--specs", "int8,pqq4", "--no-faiss"],
            r"unknown piece 'pqq4' in spec 'pqq4'.*Valid pieces",
        ),
        (["bench", "X.npy", "--queries", "Q.npy", "--specs", "pq5", "--no-faiss"], r"must divide n_features=16"),
        (["bench", "Xtrunc.npy", "--queries", "Q.npy", "--no-faiss"], r"Xtrunc\.npy is truncated"),
        (["bench", "missing.npy", "--no-faiss"], r"missing\.npy"),
        (
            ["bench", "X.npy", "--queries", "Q.npy", "--metric", "cosin"],
            r"'metric' parameter must be one of 'cosine', 'ip', 'l2'",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2(bad_inputs, args, message):
    import re

    res = _cli(*args, cwd=bad_inputs)
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr
    err = " ".join(res.stderr.split())
    assert re.search(message, err), err
    assert err.startswith("error:")


def test_misspelled_option_is_a_usage_error(bad_inputs):
    res = _cli("bench", "X.npy", "--spces", "int8", cwd=bad_inputs)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "--spces" in res.stderr


def test_truncated_codec_file_is_one_line(tmp_path, sample):
    from lowdim import FileFormatError, Pipeline, load_codec

    p = Pipeline("int8").fit(np.asarray(sample.corpus[:500], np.float32))
    path = p.save(tmp_path / "c.npz")
    raw = path.read_bytes()
    (tmp_path / "t.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(FileFormatError, match=r"t\.npz is truncated or corrupt"):
        load_codec(tmp_path / "t.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(FileFormatError, match=r"junk\.npz is truncated or corrupt"):
        load_codec(tmp_path / "junk.npz")


def test_pareto_front():
    assert pareto_front([48, 96, 100, 384, 48], [0.9, 0.95, 0.94, 0.99, 0.8]) == [0, 1, 3]
