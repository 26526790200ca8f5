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
    d = json.loads(out_json.read_text())
    assert d["recommended"]["spec"] in result.output and d["max_rerank"] == 4
    assert out_png.read_bytes()[:4] == b"\x89PNG"


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


@pytest.mark.parametrize("case", ["target", "infeasible", "engine", "missing", "no_out_dir", "max_bytes"])
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
    else:
        argv, expect = ["plan", str(npy), "--max-bytes", "1"], "leaves no candidate"
    code, err = _run_main(argv, capsys)
    assert code == 2
    assert err.startswith("error: ") and expect in err
    assert err.count("\n") == 1, err
