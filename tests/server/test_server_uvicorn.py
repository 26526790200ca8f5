"""A real ``lowdim serve`` process on 127.0.0.1: startup, traffic, SIGTERM drain, client disconnects."""

from __future__ import annotations

import socket
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from lowdim.server import Client
from lowdim.store import Collection, check_collection

API_KEY = "test-key-0123456789"  # the same as conftest's


#: uvicorn finishes its graceful shutdown, then re-raises SIGTERM so the exit status says how it ended;
#: that it drained is checked in the log ("Application shutdown complete", the collections closed)
CLEAN_EXIT = (0, -15)


def in_flight(url: str) -> int:
    """Requests the server is answering, besides the /metrics request that asks."""
    text = httpx.get(url + "/metrics", timeout=5).text
    line = next(l for l in text.splitlines() if l.startswith("lowdim_http_requests_in_flight "))
    return int(line.split()[1]) - 1


def wait_until(predicate, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_lowdim_serve_end_to_end(served: Path, data: np.ndarray, lowdim_cli, server_factory) -> None:
    server = server_factory(
        [*lowdim_cli, "serve", str(served), "--port", "{port}", "--no-access-log"], env={"LOWDIM_API_KEY": API_KEY}
    )
    with Collection.open(served / "demo", readonly=True) as local:
        expected = local.search(data[:20], k=10, filter={"pos": "n"})
    with Client(server.url, api_key=API_KEY) as client:
        coll = client.collection("demo")
        res = coll.search(data[:20], k=10, filter={"pos": "n"})
        assert res.ids.tolist() == expected.ids.tolist()
        np.testing.assert_array_equal(res.scores, expected.scores)
        assert coll.add(data[:5] * -1, ids=[f"n{i}" for i in range(5)]) == [f"n{i}" for i in range(5)]
        assert len(coll) == 405
    # writes need the key; reads do not
    r = httpx.post(server.url + "/collections/demo/delete", json={"ids": ["n0"]})
    assert r.status_code == 401
    # on loopback it answers loopback host names only (DNS rebinding)
    r = httpx.get(server.url + "/health", headers={"host": "rebind.example.com"})
    assert r.status_code == 400 and "answers only to the host names" in r.json()["error"]
    assert httpx.get(f"http://localhost:{server.port}/health").status_code == 200
    assert server.stop() in CLEAN_EXIT
    log = server.log()
    assert "lowdim: serving demo on http://127.0.0.1:" in log and "writes need the API key" in log and "/ui" in log
    assert "Application shutdown complete" in log and "lowdim: closed 1 collection" in log and "Traceback" not in log
    # closed cleanly: the writer lock is free and the files check out
    report = check_collection(served / "demo", repair=False)
    assert report.ok and not report.problems, report.to_dict()
    with Collection.open(served / "demo") as col:
        assert len(col) == 405


def test_sigterm_drains_requests_in_flight(h, tmp_path: Path, served: Path, data: np.ndarray, server_factory) -> None:
    script = tmp_path / "slow_server.py"
    script.write_text(h.SLOW_SERVER)
    server = server_factory(
        [sys.executable, str(script), str(served), "{port}"],
        env={"LOWDIM_API_KEY": API_KEY, "LOWDIM_TEST_SLOW": "1.5"},
    )
    results: dict = {}

    def call(key: str, path: str, body: dict) -> None:
        try:
            results[key] = httpx.post(server.url + path, json=body, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30)
        except Exception as exc:  # recorded, so the assertion below shows it
            results[key] = exc

    threads = [
        threading.Thread(target=call, args=("search", "/collections/demo/search", {"queries": data[:3].tolist(), "k": 2})),
        threading.Thread(target=call, args=("add", "/collections/demo/add", {"vectors": data[:4].tolist(), "ids": list("abcd")})),
    ]
    for t in threads:
        t.start()
    wait_until(lambda: in_flight(server.url) >= 2, what="two requests in flight")
    t0 = time.monotonic()
    assert server.stop(timeout=30) in CLEAN_EXIT  # SIGTERM; returns once the process has exited
    for t in threads:
        t.join(30)
    assert isinstance(results["search"], httpx.Response) and results["search"].status_code == 200, results
    assert results["search"].json()["ids"][0][0] == 0
    assert isinstance(results["add"], httpx.Response) and results["add"].json() == {"ids": ["a", "b", "c", "d"]}
    assert time.monotonic() - t0 < 20
    log = server.log()
    assert "Shutting down" in log and "Application shutdown complete" in log
    assert "lowdim: closed 1 collection" in log and "Traceback" not in log
    # the requests finished before the collections were closed
    assert log.index("POST /collections/demo/add") < log.index("lowdim: closed 1 collection")
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/health", timeout=2)
    # the acknowledged add is durable; nothing is left half-done
    assert check_collection(served / "demo", repair=False).ok
    with Collection.open(served / "demo", readonly=True) as col:
        assert len(col) == 404 and col.get(["d"]).ids == ["d"]


def _raw_request(port: int, body: bytes, *, send: int | None = None) -> None:
    """POST an add and hang up: after ``send`` bytes of the body (None: all of it, without reading the answer)."""
    head = (
        f"POST /collections/demo/add HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {API_KEY}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head + (body if send is None else body[:send]))
        time.sleep(0.2)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # reset, not FIN


def test_client_disconnects_leave_nothing_half_written(h, tmp_path: Path, served: Path, data: np.ndarray, server_factory) -> None:
    import json

    script = tmp_path / "slow_server.py"
    script.write_text(h.SLOW_SERVER)
    server = server_factory(
        [sys.executable, str(script), str(served), "{port}"],
        env={"LOWDIM_API_KEY": API_KEY, "LOWDIM_TEST_SLOW": "1.0"},
    )
    count = lambda: httpx.get(server.url + "/collections/demo", timeout=5).json()["count"]  # noqa: E731
    body = json.dumps({"vectors": (data[:50] * -1).tolist(), "ids": [f"x{i}" for i in range(50)]}).encode()
    # 1. hang up half-way through the body: the add never starts
    _raw_request(server.port, body, send=len(body) // 2)
    time.sleep(1.5)
    assert count() == 400
    # 2. send it all, hang up before the answer: the add runs to completion, all 50 or none
    _raw_request(server.port, body)
    wait_until(lambda: count() == 450, timeout=15, what="the abandoned add to commit")
    ids = httpx.post(server.url + "/collections/demo/get", json={"ids": [f"x{i}" for i in range(50)]}, timeout=5)
    assert ids.status_code == 200 and len(ids.json()["ids"]) == 50
    assert server.stop() in CLEAN_EXIT
    report = check_collection(served / "demo", repair=False)
    assert report.ok and not report.problems and not report.removed_files, report.to_dict()


def test_cli_warns_when_exposed_and_fails_in_one_line(served: Path, monkeypatch, capsys) -> None:
    import uvicorn

    from lowdim.cli import main
    from lowdim.server._serve import exposure_warnings

    ran = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, *a, **k: ran.append(self.config.host))  # never binds
    monkeypatch.delenv("LOWDIM_API_KEY", raising=False)
    with pytest.raises(SystemExit) as done:
        main(["serve", str(served), "--host", "0.0.0.0", "--port", "8123", "--no-access-log"])
    assert done.value.code == 0
    err = capsys.readouterr().err
    assert ran == ["0.0.0.0"]
    assert "WARNING:" in err and "without an API key: anyone who can reach this address can search" in err
    with pytest.raises(SystemExit):
        main(["serve", str(served), "--port", "8123"])  # loopback: quiet
    assert "WARNING" not in capsys.readouterr().err
    assert exposure_warnings("::1", api_key=None, allow_unauthenticated_writes=True) == []
    warnings = exposure_warnings("10.0.0.5", api_key=None, allow_unauthenticated_writes=True)
    assert len(warnings) == 2 and "can add to and delete from" in warnings[1]
    assert "TLS" in exposure_warnings("10.0.0.5", api_key="k", allow_unauthenticated_writes=False)[0]
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", str(served / "missing")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "does not exist" in err and len(err.strip().splitlines()) == 1


def test_cli_help_does_not_import_the_web_stack() -> None:
    import subprocess

    code = (
        "import sys\n"
        "from lowdim.cli import main\n"
        "try:\n    main(['serve', '--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('fastapi', 'uvicorn', 'httpx', 'starlette') if m in sys.modules]\n"
        "print('heavy:', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "--api-key" in out.stdout and "LOWDIM_API_KEY" in out.stdout
    assert "heavy: []" in out.stdout, out.stdout[-500:]
