"""``lowdim multivector create | add | search | info``: the Python API's results, bad input as one line with exit code 2."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from lowdim.cli import main
from lowdim.multivector import MultiVectorCollection, TokenSets

DIM = 16


def token_sets(n: int, *, seed: int = 0) -> list[np.ndarray]:
    """Seeded documents of 2-7 unit tokens around one of 4 topic centres."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(4, DIM))
    out = []
    for _ in range(n):
        t = centres[rng.integers(4)] + 0.6 * rng.normal(size=(int(rng.integers(2, 8)), DIM))
        out.append((t / np.linalg.norm(t, axis=1, keepdims=True)).astype(np.float32))
    return out


def run(*args: str) -> None:
    try:
        main(["multivector", *args])
    except SystemExit as exc:
        if exc.code:
            raise


@pytest.fixture
def files(tmp_path):
    docs = TokenSets.from_list(token_sets(40))
    np.save(tmp_path / "rows.npy", docs.rows.astype(np.float16))
    np.save(tmp_path / "offsets.npy", docs.offsets)
    (tmp_path / "meta.jsonl").write_text("".join(json.dumps({"topic": i % 2}) + "\n" for i in range(40)))
    q = token_sets(3, seed=4)
    np.save(tmp_path / "q.npy", np.concatenate(q))
    np.save(tmp_path / "q_off.npy", np.cumsum([0] + [len(t) for t in q]))
    (tmp_path / "q.json").write_text(json.dumps([t.tolist() for t in q]))
    return tmp_path, q


def test_create_add_search_info_match_the_python_api(files, capsys):
    d, q = files
    col = str(d / "mv")
    run("create", col, "--dim", str(DIM), "--spec", "f32", "--k-sim", "2", "--d-proj", "8", "--reps", "4")
    run("add", col, str(d / "rows.npy"), str(d / "offsets.npy"), "--metadata", str(d / "meta.jsonl"))
    assert "added 40 documents" in capsys.readouterr().out
    run("search", col, str(d / "q.npy"), "--offsets", str(d / "q_off.npy"), "--k", "3", "--json", str(d / "a.json"))
    run("search", col, str(d / "q.json"), "--k", "3", "--filter", '{"topic": 1}', "--json", str(d / "b.json"))
    run("info", col)
    assert '"count": 40' in capsys.readouterr().out
    with MultiVectorCollection.open(d / "mv", readonly=True) as mv:
        want = mv.search(q, k=3).to_dict()["ids"]
        want_f = mv.search(q, k=3, filter={"topic": 1}).to_dict()["ids"]
    assert json.loads((d / "a.json").read_text())["ids"] == want
    assert json.loads((d / "b.json").read_text())["ids"] == want_f


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["search", "{col}", "{d}/q.npy"], "need --offsets"),
        (["add", "{col}", "{d}/rows.npy", "{d}/q_off.npy"], "offsets run from 0"),
        (["add", "{col}", "{d}/nope.npy", "{d}/offsets.npy"], "does not exist"),
        (["create", "{d}/new", "--dim", "16", "--spec", "int8+rerank4"], "drop \\+rerank"),
    ],
)
def test_bad_input_is_one_line_with_exit_code_2(files, capsys, args, match):
    d, _ = files
    col = d / "mv"
    MultiVectorCollection.create(col, dim=DIM, spec="f32").close()
    with pytest.raises(SystemExit) as exc:
        main(["multivector", *[a.format(col=col, d=d) for a in args]])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2
    assert len(err.splitlines()) == 1 and re.search(match, err)
