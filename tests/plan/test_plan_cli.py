"""``lowdim plan``: the table, JSON, plot and export, and one-line errors with exit code 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from lowdim.cli import app, main
from lowdim.plan import TargetNotMetError

runner = CliRunner()


@pytest.fixture(scope="module")
def npy(tmp_path_factory, make_data):
    path = tmp_path_factory.mktemp("plan") / "vectors.npy"
    np.save(path, make_data(3000, 64, 8, seed=5).astype(np.float16))
    return path


def test_plan_prints_front_and_recommendation(npy, tmp_path):
    out_json, out_png = tmp_path / "plan.json", tmp_path / "plan.png"
    result = runner.invoke(
        app, ["plan", str(npy), "--target-recall", "0.9", "--max-rerank", "4", "--json", str(out_json), "--plot", str(out_png)]
    )
    assert result.exit_code == 0, result.output
    for text in ("Pareto front", "recommended:", "held out: 300 corpus rows", "B/vector in RAM", "lowdim create PATH --plan"):
        assert text in result.output
    out = " ".join(result.output.split())  # lines wrap at the console width
    assert "choose / confirm" in out and "acceptance: mean recall@10 >= 0.9 on 150 choosing queries" in out
    d = json.loads(out_json.read_text())
    assert d["recommended"]["spec"] in result.output and d["max_rerank"] == 4
    assert f"the recommendation's margin: {d['margin']:.4f}" in out and "- margin" in out
    below = d["recommended_below"]
    assert "step below:" in out and (below is None or below["spec"] in out)
    assert out_png.read_bytes()[:4] == b"\x89PNG"
    # FAISS's frontier, measured in the same run: its smallest configuration reaching the target and the ratio
    assert "FAISS, same data and queries:" in out and f"lowdim / FAISS bytes: {d['ratio']:.2f}" in out
    assert d["faiss_best"]["name"] in out


def test_plan_without_faiss(npy):
    result = runner.invoke(app, ["plan", str(npy), "-t", "0.8", "--max-rerank", "2", "--max-bytes", "8", "--no-faiss"])
    assert result.exit_code == 0, result.output
    assert "FAISS" not in result.output


@pytest.mark.engine
@pytest.mark.slow
@pytest.mark.parametrize("engine", ["faiss", "qdrant"])
def test_plan_verify_builds_the_export_in_the_engine(npy, tmp_path, engine):
    out_json = tmp_path / "plan.json"
    argv = ["plan", str(npy), "-t", "0.9", "--max-rerank", "4", "--max-bytes", "16", "--export", engine, "--verify"]
    result = runner.invoke(app, [*argv, "--json", str(out_json)])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert f"verified on {engine}:" in out and "recall@10" in out
    v = json.loads(out_json.read_text())["verified"]
    assert v["engine"] == engine and v["spec"] == json.loads(out_json.read_text())["recommended"]["spec"]
    assert v["target"] == 0.9 and v["n_queries"] == 300 and v["target_met"] == (v["recall"] >= 0.9)


@pytest.mark.parametrize(
    "engine, text", [("faiss", "index_factory"), ("qdrant", "quantization_config"), ("pgvector", "CREATE INDEX")]
)
def test_plan_export(npy, engine, text):
    result = runner.invoke(app, ["plan", str(npy), "-t", "0.9", "--max-rerank", "2", "--max-bytes", "16", "--export", engine])
    assert result.exit_code == 0, result.output
    assert f"{engine} nearest settings" in result.output and text in result.output


def test_plan_with_query_and_gt_files(npy, tmp_path):
    from lowdim.eval import exact_knn

    X = np.load(npy).astype(np.float32)
    q = tmp_path / "q.npy"
    g = tmp_path / "gt.npy"
    np.save(q, X[:100] + 0.01)
    np.save(g, exact_knn(X, X[:100] + 0.01, 10, metric="cosine")[1])
    result = runner.invoke(app, ["plan", str(npy), "-q", str(q), "--gt", str(g), "-t", "0.8", "--max-bytes", "16"])
    assert result.exit_code == 0, result.output
    assert "queries: 100, given (q.npy)" in result.output


def test_plan_shows_the_failing_step_below(tmp_path, make_data):
    path = tmp_path / "harder.npy"
    np.save(path, make_data(3000, 64, 24, seed=4))
    result = runner.invoke(app, ["plan", str(path), "-t", "0.9", "--max-rerank", "2", "--max-bytes", "48"])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "step below:" in out and "misses the target" in out and "no: step below" in out


def test_plan_on_a_sample(npy):
    result = runner.invoke(app, ["plan", str(npy), "-t", "0.8", "--max-rerank", "2", "--max-bytes", "8", "--sample", "2000"])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())  # notes wrap at the console width
    assert "1,800 x 64" in out  # 2,000 sampled rows, 200 of them held out as queries
    assert "a seeded sample of 2,000 of its 3,000 rows" in out and "sampled rows of 3,000" in out


def test_runner_sees_the_infeasible_error(npy):
    result = runner.invoke(app, ["plan", str(npy), "-t", "1.0", "--max-rerank", "0", "--max-bytes", "4"])
    assert isinstance(result.exception, TargetNotMetError)
    assert "Pareto front" in result.output  # the evidence is printed before the error


def _run_main(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    return exc.value.code, err


@pytest.mark.parametrize("case", ["target", "infeasible", "engine", "missing", "no_out_dir", "max_bytes", "verify"])
def test_errors_are_one_line_with_exit_code_2(npy, tmp_path, capsys, case):
    if case == "target":
        argv, expect = (
            ["plan", str(npy), "--target-recall", "1.5"],
            "'target_recall' parameter of plan must be a number in (0, 1]. Got 1.5.",
        )
    elif case == "infeasible":
        argv, expect = ["plan", str(npy), "-t", "1.0", "--max-rerank", "0", "--max-bytes", "4"], "the best achievable is"
    elif case == "engine":
        argv, expect = ["plan", str(npy), "--export", "milvus"], "must be one of 'faiss', 'qdrant', 'pgvector'"
    elif case == "missing":
        argv, expect = ["plan", str(tmp_path / "nope.npy")], "no such file or folder"
    elif case == "no_out_dir":
        argv, expect = ["plan", str(npy), "--json", str(tmp_path / "no" / "p.json")], "does not exist"
    elif case == "verify":
        argv, expect = ["plan", str(npy), "--verify"], "--verify needs --export faiss|qdrant|pgvector"
    else:
        argv, expect = ["plan", str(npy), "--max-bytes", "1"], "leaves no candidate"
    code, err = _run_main(argv, capsys)
    assert code == 2
    assert err.startswith("error: ") and expect in err
    assert err.count("\n") == 1, err
