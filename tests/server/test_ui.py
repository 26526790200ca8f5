"""The ``/ui`` pages through FastAPI's TestClient: content against exact oracles, escaping, 404s, read-only."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from lowdim.server import create_app, plan_html
from lowdim.server._ui_svg import histogram, pareto_svg, sparkline
from lowdim.store import Collection

XSS = "<script>alert(1)</script>"


def _exact_topk(X: np.ndarray, q: np.ndarray, k: int, allowed: np.ndarray | None = None) -> list[int]:
    """Cosine top-k ids (rows of X) of q, ties to the lower id: the oracle of the exact side."""
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    s = Xn @ (q / np.linalg.norm(q))
    if allowed is not None:
        s = np.where(allowed, s, -np.inf)
    return [int(i) for i in np.lexsort((np.arange(len(X)), -s))[:k]]


def _ids(html: str, table: str) -> list[int]:
    body = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    return [int(m) for m in re.findall(r"<tr class=\"\w+\">\s*<td>\d+</td><td>(\d+)</td>", body)]


@pytest.fixture
def http(served: Path):
    with TestClient(create_app(served)) as client:
        yield client


def test_index_lists_each_collection_with_its_bytes(http, data: np.ndarray) -> None:
    r = http.get("/ui")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in r.headers["content-security-policy"]
    info = http.get("/collections/demo").json()
    row = r.text.split('data-collection="demo"', 1)[1].split("</tr>", 1)[0]
    assert '<a href="/ui/c/demo">demo</a>' in row and "<code>int8+rerank4</code>" in row
    assert f">{len(data)}<" in row and f">{data.shape[1]}<" in row
    # int8 codes: one byte per dimension in RAM; the float32 vectors (and the .npy header) on disk
    assert info["ram_bytes"]["codes"] == len(data) * data.shape[1]
    ratio = info["disk_bytes"]["vectors"] / info["ram_bytes"]["codes"]
    assert f"{round(ratio, 2)}&times;" in row
    assert 'data-fragment="/ui/c/demo/diagnosis"' in row


def test_collection_page_diagnosis_and_404(http, data: np.ndarray) -> None:
    page = http.get("/ui/c/demo")
    assert page.status_code == 200
    for needle in ('id="compare-form"', 'id="probe-form"', 'type="range" name="rerank"', 'max="20" value="4"'):
        assert needle in page.text
    assert 'value="text"' not in page.text  # no encoder: no text mode offered
    diag = http.get("/ui/c/demo/diagnosis")
    assert diag.status_code == 200 and "<svg" in diag.text
    twonn = float(re.search(r"ID ([\d.]+) \(TwoNN\)", diag.text).group(1))
    assert 2.5 < twonn < 6  # the data has a 4-d latent
    missing = http.get("/ui/c/nope")
    assert missing.status_code == 404 and "no collection named &#39;nope&#39;" in missing.text
    assert http.get("/ui/c/nope/diagnosis").status_code == 404
    assert http.post("/ui/c/nope/compare", json={"mode": "id", "query": "1"}).status_code == 404
    assert http.get("/ui/static/../_app.py").status_code == 404
    assert http.get("/ui/static/ui.js").headers["content-type"].startswith("text/javascript")


def test_compare_puts_codes_beside_the_exact_oracle(http, data: np.ndarray) -> None:
    k = 10
    r = http.post("/ui/c/demo/compare", json={"mode": "id", "query": "7", "k": k, "rerank": 0})
    assert r.status_code == 200
    assert _ids(r.text, "exact-results") == _exact_topk(data, data[7], k)
    with Collection.open(http.app.state.registry.collections["demo"].path, readonly=True) as col:
        codes = [int(i) for i in col.search(data[7:8], k, rerank=0).ids[0]]
    assert _ids(r.text, "codes-results") == codes
    overlap = len(set(codes) & set(_exact_topk(data, data[7], k))) / k
    assert f'data-overlap="{overlap:.4f}"' in r.text
    # a rerank of every row is exact: full overlap
    full = http.post("/ui/c/demo/compare", json={"mode": "id", "query": "7", "k": k, "rerank": 20})
    assert 'data-overlap="1.0000"' in full.text and "codes + rerank" in full.text
    # a pasted vector and a filter: every hit on both sides matches it
    vec = json.dumps(data[3].tolist())
    f = http.post("/ui/c/demo/compare", json={"mode": "vector", "query": vec, "k": 5, "rerank": 4, "filter": '{"pos": "n"}'})
    allowed = np.arange(len(data)) % 4 == 0
    assert _ids(f.text, "exact-results") == _exact_topk(data, data[3], 5, allowed)
    assert all(i % 4 == 0 for i in _ids(f.text, "codes-results"))


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"mode": "text", "query": "a cat"}, 422, "has no text encoder"),
        ({"mode": "id", "query": "12345"}, 404, "not"),
        ({"mode": "vector", "query": "1, 2"}, 422, "must be 16 numbers; got 2"),
        ({"mode": "id", "query": "1", "rerank": 21}, 422, "rerank&#39; parameter must be an integer in \\[0, 20\\]"),
        ({"mode": "id", "query": "1", "filter": '{"pos": {"$regex": "n"}}'}, 422, "regex"),
        ({"mode": "nope", "query": "1"}, 422, "mode must be one of"),
    ],
)
def test_compare_errors_are_one_line(http, body, status, message) -> None:
    r = http.post("/ui/c/demo/compare", json=body)
    assert r.status_code == status
    assert r.text.startswith('<p class="error" role="alert">') and r.text.count("\n") <= 1
    assert re.search(message, r.text)


def test_metadata_is_shown_escaped(tmp_path: Path, h) -> None:
    X = h.small_data(300, 8)
    (tmp_path / "x").mkdir()
    with Collection.create(tmp_path / "x" / "evil", dim=8, spec="int8", train_size=300) as col:
        col.add(X, ids=[f"id{i}" for i in range(300)], metadata=[{"note": XSS, "i": i} for i in range(300)])
    with TestClient(create_app(tmp_path / "x")) as http:
        r = http.post("/ui/c/evil/compare", json={"mode": "id", "query": "id5", "k": 3, "rerank": 0})
        assert r.status_code == 200
        assert XSS not in r.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
        assert "<script" not in r.text


def test_probe_recalls_match_an_oracle(http, data: np.ndarray) -> None:
    k, m = 10, 30
    r = http.post(f"/ui/c/demo/probe?m={m}&k={k}&rerank=0&seed=3")
    assert r.status_code == 200 and r.text.count("<svg") == 2
    ids = sorted(np.random.default_rng(3).choice(len(data), size=m, replace=False).tolist())
    with Collection.open(http.app.state.registry.collections["demo"].path, readonly=True) as col:
        got = col.search(data[ids], k, rerank=0).ids
    want = np.mean([len(set(got[i].tolist()) & set(_exact_topk(data, data[q], k))) / k for i, q in enumerate(ids)])
    assert f'data-mean-codes="{want:.4f}"' in r.text
    assert 'class="show-query" data-mode="id"' in r.text
    # uploaded queries (.npy)
    buf = io.BytesIO()
    np.save(buf, data[:5])
    up = http.post("/ui/c/demo/probe?k=5&rerank=20", content=buf.getvalue())
    assert up.status_code == 200 and "5 queries" in up.text and 'data-mean-rerank="1.0000"' in up.text
    bad = http.post("/ui/c/demo/probe?k=5", content=b"not a npy file")
    assert bad.status_code == 422 and ".npy array" in bad.text
    assert http.post("/ui/c/demo/probe?m=201").status_code == 422


def test_pages_hold_no_write_control(http) -> None:
    pages = [http.get(u).text for u in ("/ui", "/ui/c/demo", "/ui/plan", "/ui/static/ui.js")]
    for text in pages:
        assert not re.search(r"/(add|upsert|delete)\b", text)
        assert "Authorization" not in text
    assert http.post("/collections/demo/add", json={"vectors": [[0.0] * 16]}).status_code == 403


def test_ivf_and_migration_sections_appear_when_present(tmp_path: Path, h, monkeypatch) -> None:
    X = h.small_data(800, 16, seed=1)
    (tmp_path / "x").mkdir()
    with Collection.create(tmp_path / "x" / "lists", dim=16, spec="ivf8/int8", train_size=400) as col:
        col.add(X)
    original = Collection.info

    def info(self):
        return original(self) | {"migration": {"from_model": "old-model", "to_model": "<b>new</b>", "done": 0.5}}

    monkeypatch.setattr(Collection, "info", info)
    with TestClient(create_app(tmp_path / "x")) as http:
        page = http.get("/ui/c/lists").text
        r = http.post("/ui/c/lists/compare", json={"mode": "id", "query": "11", "k": 10, "rerank": 0})
    assert _ids(r.text, "exact-results") == _exact_topk(X, X[11], 10)  # exact over an IVF collection too
    assert 'id="ivf"' in page and "<dt>nlist</dt><dd>8</dd>" in page
    assert 'id="migration"' in page and "&lt;b&gt;new&lt;/b&gt;" in page


def _plan_doc() -> dict:
    cands = [
        {"spec": "binary+rerank2", "ram_bytes_per_vector": 4, "recall": 0.80, "rerank": 2, "meets_target": False},
        {"spec": "int4", "ram_bytes_per_vector": 16, "recall": 0.93, "rerank": 0, "meets_target": True},
        {"spec": "int8", "ram_bytes_per_vector": 32, "recall": 0.99, "rerank": 0, "meets_target": True},
        {"spec": "f16", "ram_bytes_per_vector": 64, "recall": 0.98, "rerank": 0, "meets_target": True},
    ]
    return {
        "target_recall": 0.9, "k": 10, "metric": "cosine", "n": 1000, "d": 32, "dataset": "toy" + XSS,
        "candidates": cands, "pareto": cands[:3], "recommended": cands[1], "recommended_below": cands[0],
        "faiss": [{"name": "SQ8", "code_bytes": 32, "recall": 0.99, "spec": "int8"}], "warnings": [XSS],
    }  # fmt: skip


def test_plan_viewer_and_offline_page(http) -> None:
    assert 'id="plan-file"' in http.get("/ui/plan").text
    r = http.post("/ui/plan", json=_plan_doc())
    assert r.status_code == 200
    assert r.text.count('class="lowdim') == 4 and r.text.count('class="faiss"') == 1
    assert 'data-copy="int4"' in r.text and 'id="export-qdrant"' in r.text and "target 0.9" in r.text
    assert 'class="recommended"' in r.text and "step below: misses" in r.text
    assert XSS not in r.text and "&lt;script&gt;" in r.text
    bad = http.post("/ui/plan", json={"k": 10})
    assert bad.status_code == 422 and "not a lowdim plan" in bad.text
    page = plan_html(_plan_doc())
    assert "<script>" in page and "<style>" in page  # inline: the page works as one file
    assert not re.search(r"(src|href)=\"(https?:)?//", page) and '<link rel="stylesheet' not in page
    assert XSS not in page


def test_lowdim_plan_writes_an_html_page(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from lowdim.cli import app

    rng = np.random.default_rng(0)
    X = (rng.standard_normal((2000, 8)) @ rng.standard_normal((8, 32))).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    out = tmp_path / "report.html"
    res = CliRunner().invoke(app, ["plan", str(tmp_path / "x.npy"), "-t", "0.9", "--max-rerank", "2", "--html", str(out)])
    assert res.exit_code == 0, res.output
    page = out.read_text(encoding="utf-8")
    assert "<svg" in page and 'id="front"' in page and "Recommended:" in page and "<script src" not in page


def test_svg_charts() -> None:
    svg = histogram([0.0, 0.05, 0.5, 1.0, 1.0, 1.0], bins=10)
    assert svg.count("<rect") == 10
    counts = [int(c) for c in re.findall(r": (\d+)</title>", svg)]
    assert counts == [2, 0, 0, 0, 0, 1, 0, 0, 0, 3]
    assert sparkline([1.0]).endswith("</svg>") and "polyline" in sparkline([0.1, 0.5, 1.0])
    p = pareto_svg([{"spec": "<b>", "ram_bytes_per_vector": 8, "recall": 0.9, "pareto": True}], [], target=0.95, k=10)
    assert "<b>" not in p and 'data-spec="&lt;b&gt;"' in p


def test_probe_refuses_more_exact_work_than_its_budget(http, monkeypatch) -> None:
    import lowdim.server._ui_data as ui_data

    monkeypatch.setattr(ui_data, "EXACT_ROW_BUDGET", 1000)
    r = http.post("/ui/c/demo/probe?m=30")
    assert r.status_code == 422 and "ask for at most 2 queries" in r.text
