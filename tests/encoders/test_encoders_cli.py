"""`lowdim embed` through the real CLI app, and the startup cost of the command modules."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from lowdim.cli import app, main


def _args(*args: str) -> list[str]:
    # Typer runs a one-command app as that command, so the name is only given when there are several.
    several = len(app.registered_commands) + len(app.registered_groups) > 1 or app.registered_callback is not None
    return ["embed", *args] if several else list(args)


def test_embed_command_writes_the_vectors(tmp_path, encoder, glosses):
    source = tmp_path / "g.jsonl"
    source.write_text("".join(json.dumps({"gloss": t}) + "\n" for t in glosses[:6]), encoding="utf-8")
    out = tmp_path / "g.npy"
    result = CliRunner().invoke(app, _args(str(source), "-o", str(out), "--field", "gloss", "--batch-size", "4", "--no-progress"))
    assert result.exit_code == 0, result.output
    assert "wrote 6 × 384 float32 vectors to" in result.output
    np.testing.assert_allclose(np.load(out), encoder.encode(glosses[:6]), atol=1e-5)


def test_embed_command_with_early_exit(tmp_path, glosses):
    from lowdim.encoders import TextEncoder

    source = tmp_path / "g.txt"
    source.write_text("\n".join(glosses[:3]) + "\n", encoding="utf-8")
    out = tmp_path / "g.npy"
    result = CliRunner().invoke(app, _args(str(source), "-o", str(out), "--layers", "2", "--no-resume"))
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(out), TextEncoder(layers=2).encode(glosses[:3]), atol=1e-5)


def test_errors_are_one_line_with_exit_code_2(tmp_path, capsys):
    source = tmp_path / "g.jsonl"
    source.write_text('{"gloss": "a dog"}\n', encoding="utf-8")
    with pytest.raises(SystemExit) as info:
        main(_args(str(source), "-o", str(tmp_path / "g.npy"), "--field", "text"))
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: g.jsonl has no field 'text'; available fields: 'gloss'"
    with pytest.raises(SystemExit) as info:
        main(_args(str(source), "-o", str(tmp_path / "g.npy"), "--field", "gloss", "--model", "no-such-model"))
    assert info.value.code == 2
    assert capsys.readouterr().err.startswith("error: model 'no-such-model' not found: it is not a bundled model name")


def test_cli_startup_does_not_import_torch():
    code = (
        "import sys, lowdim.cli; print(sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert proc.stdout.strip() == "[]"


def test_ctrl_c_says_how_to_resume(tmp_path, capsys, monkeypatch):
    import lowdim.encoders._embed_file as module

    out = tmp_path / "g.npy"

    def interrupted(input, output, **kwargs):
        module.partial_dir(output).mkdir()
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "embed_file", interrupted)
    with pytest.raises(SystemExit) as info:
        main(_args(str(tmp_path / "g.txt"), "-o", str(out)))
    assert info.value.code == 130
    err = " ".join(capsys.readouterr().err.split())
    assert f"the finished chunks are kept in {out}.partial; run the same command again to resume" in err
