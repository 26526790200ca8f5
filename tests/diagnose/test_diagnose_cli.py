"""``lowdim inspect``: table, JSON, plot, and one-line errors with exit code 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from lowdim import FileFormatError
from lowdim.cli import app, main

runner = CliRunner()


@pytest.fixture()
def npy(tmp_path, synth):
    rng = np.random.default_rng(0)
    X = synth.unit_rows(rng.standard_normal((1500, 6)) @ rng.standard_normal((6, 48))).astype(np.float16)
    path = tmp_path / "vectors.npy"
    np.save(path, X)
    return path


def test_inspect_prints_the_table(npy):
    result = runner.invoke(app, ["inspect", str(npy), "--sample", "1000"])
    assert result.exit_code == 0, result.output
    for text in ("1,500 x 48 float16", "intrinsic dim, TwoNN", "PCA dims for 90 / 95 / 99%", "warning:", "note:"):
        assert text in result.output


def test_inspect_writes_json_and_plot(npy, tmp_path):
    out_json, out_png = tmp_path / "d.json", tmp_path / "s.png"
    result = runner.invoke(app, ["inspect", str(npy), "--json", str(out_json), "--plot", str(out_png), "--seed", "3"])
    assert result.exit_code == 0, result.output
    d = json.loads(out_json.read_text())
    assert (d["n"], d["d"], d["seed"]) == (1500, 48, 3) and len(d["explained_variance_ratio"]) == 48
    assert 4 <= d["id_twonn"] <= 8
    assert out_png.read_bytes()[:4] == b"\x89PNG"


def test_no_plot_unless_asked(npy, tmp_path):
    result = runner.invoke(app, ["inspect", str(npy)])
    assert result.exit_code == 0 and list(tmp_path.glob("*.png")) == []


def test_inspect_folder(tmp_path, npy):
    folder = tmp_path / "ds"
    folder.mkdir()
    np.save(folder / "corpus.f16.npy", np.load(npy))
    result = runner.invoke(app, ["inspect", str(folder), "--sample", "500"])
    assert result.exit_code == 0, result.output
    assert "1,500 x 48 float16" in result.output


def test_inspect_real_folder(wordnet_dir):
    result = runner.invoke(app, ["inspect", str(wordnet_dir), "--sample", "2000"])
    assert result.exit_code == 0, result.output
    assert "116,697 x 384 float16" in result.output


def test_runner_sees_the_lowdim_error(tmp_path):
    result = runner.invoke(app, ["inspect", str(tmp_path / "nope.npy")])
    assert isinstance(result.exception, FileFormatError)


def _run_main(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    return exc.value.code, err


@pytest.mark.parametrize("case", ["missing", "one_d", "nan", "empty_folder", "bad_sample", "bad_file", "no_out_dir"])
def test_errors_are_one_line_with_exit_code_2(tmp_path, capsys, npy, case):
    if case == "missing":
        argv, expect = ["inspect", str(tmp_path / "nope.npy")], "no such file or folder"
    elif case == "one_d":
        np.save(tmp_path / "v.npy", np.ones(5, dtype=np.float32))
        argv, expect = ["inspect", str(tmp_path / "v.npy")], "(5,)"
    elif case == "nan":
        X = np.ones((20, 4), dtype=np.float32)
        X[11, 2] = np.nan
        np.save(tmp_path / "v.npy", X)
        argv, expect = ["inspect", str(tmp_path / "v.npy")], "NaN or infinity in row(s) 11"
    elif case == "empty_folder":
        (tmp_path / "ds").mkdir()
        argv, expect = ["inspect", str(tmp_path / "ds")], "holds none of corpus.npy"
    elif case == "bad_sample":
        argv, expect = ["inspect", str(npy), "--sample", "1"], "'sample' parameter of diagnose"
    elif case == "bad_file":
        (tmp_path / "v.npy").write_bytes(b"not an npy file")
        argv, expect = ["inspect", str(tmp_path / "v.npy")], "v.npy"
    else:
        argv, expect = ["inspect", str(npy), "--json", str(tmp_path / "no" / "d.json")], "does not exist"
    code, err = _run_main(argv, capsys)
    assert code == 2
    assert err.startswith("error: ") and expect in err
    assert err.count("\n") == 1, err
