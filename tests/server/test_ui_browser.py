"""``/ui`` in a real browser: Playwright drives Debian's chromium against a real ``lowdim serve`` on 127.0.0.1.

Needs Playwright for Python 1.64.x (it drives Chromium 156, what Debian ships) and Debian's
``chromium`` package; Playwright cannot download its own browsers here, so the test launches
``/usr/bin/chromium``. Without them the tests skip and say how to enable them. Screenshots and
the measurements (page weight of /ui, time to first render, every request's address) are
kept in an artifacts folder whose path the test prints.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("LOWDIM_CHROMIUM", "/usr/bin/chromium")
ENABLE = (
    "the browser tests need Playwright 1.64.x and Debian's chromium: "
    "pip install 'playwright==1.64.*' && apt-get install -y chromium fonts-liberation (as root); "
    "make test installs both"
)
XSS = "<script>alert(1)</script>"
N_TEXTS = 300


def _playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip(f"Playwright is not installed: {ENABLE}")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"{CHROMIUM} is missing: {ENABLE}")
    return sync_playwright


#: build the text collection inside the server's process, then serve it read-only (no API key): the
#: encoder is loaded once, for the build and the text queries alike
BUILD_AND_SERVE = """
import json, sys
from pathlib import Path
from lowdim.store import Collection
from lowdim.server import serve

corpus, folder, port, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rows = [json.loads(line) for line, _ in zip(corpus.open(encoding="utf-8"), range(n))]
meta = [{"pos": r["pos"], "lexname": r["lexname"], "text": r["text"]} for r in rows]
meta[0]["note"] = sys.argv[5]
with Collection.create(folder / "glosses", encoder="paraphrase-MiniLM-L3-v2", spec="binary+rerank4", train_size=n) as col:
    col.add_texts([r["text"] for r in rows], ids=[r["id"] for r in rows], metadata=meta)
serve([folder], port=port)
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory, h):
    """A real ``lowdim serve`` of 300 WordNet glosses (ONNX paraphrase-MiniLM-L3-v2: no torch, quick to load;
    binary codes) and a plan.json beside it."""
    sync_playwright = _playwright()
    root = tmp_path_factory.mktemp("ui-site")
    corpus = Path(__file__).resolve().parents[2] / "src" / "lowdim" / "data" / "wordnet10k" / "corpus.jsonl"
    (root / "served").mkdir()
    args = [sys.executable, "-c", BUILD_AND_SERVE, str(corpus), str(root / "served"), "{port}", str(N_TEXTS), XSS]
    server = h.start_server(args, root)
    try:
        from lowdim.plan import plan
        from lowdim.server import plan_html

        rng = np.random.default_rng(0)
        X = (rng.standard_normal((2000, 8)) @ rng.standard_normal((8, 32))).astype(np.float32)
        p = plan(X, target_recall=0.9, max_rerank=2)
        p.write_json(root / "plan.json")
        (root / "report.html").write_text(plan_html(p.to_dict()), encoding="utf-8")
        artifacts = Path(os.environ.get("LOWDIM_UI_ARTIFACTS") or root / "artifacts")
        artifacts.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                yield {"server": server, "browser": browser, "root": root, "artifacts": artifacts, "plan": p}
            finally:
                browser.close()
    finally:
        server.stop()


def _record(page, log: dict) -> None:
    log.setdefault("requests", [])
    log.setdefault("errors", [])
    log.setdefault("dialogs", [])
    page.on("request", lambda r: log["requests"].append(r.url))
    page.on("console", lambda m: log["errors"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: log["errors"].append(str(e)))
    page.on("dialog", lambda d: (log["dialogs"].append(d.message), d.dismiss()))


def test_ui_in_a_browser(site, capsys) -> None:
    server, art = site["server"], site["artifacts"]
    log: dict = {}
    page = site["browser"].new_page(viewport={"width": 1400, "height": 1000})
    _record(page, log)
    t0 = time.perf_counter()

    # 1. collections: the table, then the diagnosis fragment with its sparkline
    page.goto(server.url + "/ui", wait_until="load")
    page.wait_for_selector("td.diag svg.spark")
    fcp = page.evaluate("performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null")
    nav = page.evaluate(
        "(({domContentLoadedEventEnd: dcl, loadEventEnd: load}) => [dcl, load])(performance.getEntriesByType('navigation')[0])"
    )
    weight = page.evaluate(
        "performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))"
        ".reduce((s, e) => s + e.transferSize, 0)"
    )
    assert page.locator('tr[data-collection="glosses"] code').inner_text() == "binary+rerank4"
    page.screenshot(path=str(art / "1-collections.png"), full_page=True)

    # 2. text search side by side; the rerank slider changes the overlap
    page.click('a[href="/ui/c/glosses"]')
    page.wait_for_selector("dd .diagnosis")
    page.fill("#query", "a kind of tree")
    page.focus("#rerank")
    page.keyboard.press("Home")  # rerank 0: codes only
    page.click("#compare-form button[type=submit]")
    page.wait_for_selector('.compare-summary[data-rerank="0"]')
    codes_only = float(page.get_attribute(".compare-summary", "data-overlap"))
    page.screenshot(path=str(art / "2-search-codes-only.png"), full_page=True)
    page.focus("#rerank")
    page.keyboard.press("End")  # rerank 20: every candidate rescored from the full vectors
    page.wait_for_selector('.compare-summary[data-rerank="20"]')
    reranked = float(page.get_attribute(".compare-summary", "data-overlap"))
    assert codes_only < reranked == 1.0, (codes_only, reranked)
    assert page.locator("#exact-results tbody tr").count() == 10
    page.screenshot(path=str(art / "3-search-rerank.png"), full_page=True)

    # the metadata holding a script is shown as text and never runs
    page.check('input[name=mode][value="id"]')
    page.fill("#query", "2")  # the first gloss's id: its metadata carries the script
    page.click("#compare-form button[type=submit]")
    page.wait_for_selector("#codes-results td.meta >> text=alert(1)")
    assert XSS in page.locator("#codes-results td.meta").first.inner_text()

    # 3. recall probe, then a worst query into the side-by-side view
    page.fill('#probe-form input[name="m"]', "40")
    page.click("#probe-form button[type=submit]")
    page.wait_for_selector(".probe-summary")
    mean_codes = float(page.get_attribute(".probe-summary", "data-mean-codes"))
    mean_rerank = float(page.get_attribute(".probe-summary", "data-mean-rerank"))
    assert mean_rerank == 1.0 and mean_codes < 1.0
    assert page.locator("#probe svg.hist").count() == 2
    page.screenshot(path=str(art / "4-probe.png"), full_page=True)
    worst = page.locator("button.show-query").first
    wid = worst.get_attribute("data-query")
    worst.click()
    page.wait_for_function(f"document.querySelector('#query').value === {json.dumps(wid)}")
    page.wait_for_selector(".compare-summary")

    # 4. plan viewer from a plan.json, and the same view offline
    page.goto(server.url + "/ui/plan")
    page.set_input_files("#plan-file", str(site["root"] / "plan.json"))
    page.wait_for_selector("#plan svg.pareto")
    rec = site["plan"].recommended.spec
    assert page.locator("p.rec code.spec").inner_text() == rec
    assert page.locator("svg.pareto rect.faiss").count() == len(site["plan"].faiss)
    page.screenshot(path=str(art / "5-plan.png"), full_page=True)
    page.goto((site["root"] / "report.html").as_uri())
    page.wait_for_selector("svg.pareto")
    page.click("p.rec button.copy")
    page.wait_for_selector("p.rec button.copy >> text=copied")
    page.screenshot(path=str(art / "6-plan-offline.png"), full_page=True)
    total = time.perf_counter() - t0
    page.close()

    hosts = {urlparse(u).scheme + "://" + (urlparse(u).hostname or "") for u in log["requests"]}
    assert hosts <= {"http://127.0.0.1", "file://"}, hosts
    assert not log["dialogs"], log["dialogs"]
    assert not log["errors"], log["errors"]
    measured = {
        "ui_bytes": weight,
        "first_contentful_paint_ms": fcp,
        "dom_content_loaded_ms": nav[0],
        "load_ms": nav[1],
        "requests": len(log["requests"]),
        "hosts": sorted(hosts),
    }
    measured |= {"overlap_codes_only": codes_only, "overlap_rerank20": reranked, "probe": [mean_codes, mean_rerank]}
    measured["browser_seconds"] = round(total, 2)
    (art / "measurements.json").write_text(json.dumps(measured, indent=2) + "\n", encoding="utf-8")
    with capsys.disabled():
        print(f"\n/ui browser test artifacts (screenshots, measurements.json): {art}\n{json.dumps(measured)}")


def test_collection_page_404_in_browser(site) -> None:
    page = site["browser"].new_page()
    r = page.goto(site["server"].url + "/ui/c/nope")
    assert r.status == 404 and "no collection named 'nope'" in page.inner_text("p.error")
    page.close()
