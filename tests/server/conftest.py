"""Fixtures of the server tests: small seeded collections and a real ``lowdim serve`` process on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from lowdim.store import Collection

API_KEY = "test-key-0123456789"


POS = ("n", "v", "a", "r")


def small_data(n: int = 400, d: int = 16, *, seed: int = 0) -> np.ndarray:
    """Seeded data of low intrinsic dimension (a 4-d latent through a random map, plus noise)."""
    rng = np.random.default_rng(seed)
    latent = rng.standard_normal((n, 4))
    X = latent @ rng.standard_normal((4, d)) + 0.05 * rng.standard_normal((n, d))
    return X.astype(np.float32)


def make_collection(path: Path, X: np.ndarray, *, spec: str = "int8+rerank4", **kwargs) -> Path:
    """A closed collection at ``path`` holding ``X`` with ids 0..n-1 and metadata ``{"pos", "i", "even"}``."""
    meta = [{"pos": POS[i % 4], "i": i, "even": i % 2 == 0} for i in range(len(X))]
    path.parent.mkdir(parents=True, exist_ok=True)
    with Collection.create(path, dim=X.shape[1], spec=spec, train_size=min(len(X), 200), **kwargs) as col:
        col.add(X, metadata=meta)
    return path


def make_untrained(path: Path, X: np.ndarray) -> Path:
    """A closed collection at ``path`` holding ``X`` (fewer than 256 rows) whose int8 codec is not trained yet."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with Collection.create(path, dim=X.shape[1], spec="int8+rerank4", train_size=1000) as col:
        col.add(X)
    return path


@pytest.fixture
def data() -> np.ndarray:
    return small_data()


@pytest.fixture
def served(tmp_path: Path, data: np.ndarray) -> Path:
    """A folder holding one collection, ``demo`` (400 × 16, int8+rerank4, cosine)."""
    root = tmp_path / "served"
    root.mkdir()
    make_collection(root / "demo", data)
    return root


#: (id, text, pos) of the small text collection the text tests serve
WORDS = [
    ("dog", "a domestic dog barking at the door", "n"),
    ("cat", "a small cat sleeping in the sun", "n"),
    ("tiger", "a large wild cat with stripes", "n"),
    ("boat", "a small boat on the lake", "n"),
    ("run", "to move quickly on foot", "v"),
    ("swim", "to move through water", "v"),
    ("red", "having the colour of blood", "a"),
    ("fast", "moving at great speed", "a"),
]


@pytest.fixture(scope="session")
def text_template(tmp_path_factory) -> Path:
    """A closed text collection (encoder all-MiniLM-L6-v2, f16) of :data:`WORDS`; tests copy it (``copy_text``)."""
    path = tmp_path_factory.mktemp("text") / "words"
    with Collection.create(path, encoder="all-MiniLM-L6-v2", spec="f16") as col:
        col.add_texts([t for _, t, _ in WORDS], ids=[i for i, _, _ in WORDS], metadata=[{"pos": p} for _, _, p in WORDS])
    return path


@pytest.fixture
def copy_text(text_template: Path, tmp_path: Path):
    """``copy_text(folder)``: a fresh copy of the text collection as ``folder/words``; returns its path."""

    def copy(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copytree(text_template, folder / "words"))

    return copy


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """A server subprocess on 127.0.0.1; :meth:`stop` sends SIGTERM and returns the exit code."""

    def __init__(self, args: list[str], port: int, env: dict[str, str], log: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log
        self._log = open(log, "wb")
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def wait_ready(self, timeout: float = 60.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(self.url + "/health", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server not ready after {timeout} s:\n{self.log()}")

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError(f"server did not stop within {timeout} s of SIGTERM:\n{self.log()}") from None
        self._log.close()
        return int(self.proc.returncode)


def start_server(args: list[str], tmp_path: Path, *, env: dict[str, str] | None = None, name: str = "server") -> ServerProcess:
    """Start the command ``args`` (``{port}`` in it becomes a free port) and wait for its /health."""
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if k != "LOWDIM_API_KEY"}  # only the key the test gives
    full_env.update({"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **(env or {})})
    cmd = [a.replace("{port}", str(port)) for a in args]
    server = ServerProcess(cmd, port, full_env, tmp_path / f"{name}.log")
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


#: run the real ``serve`` with searches and writes slowed by LOWDIM_TEST_SLOW seconds (drain and disconnect tests)
SLOW_SERVER = """
import os, sys, time
from lowdim.store import Collection

delay = float(os.environ["LOWDIM_TEST_SLOW"])
for name in ("search", "add"):
    original = getattr(Collection, name)
    def slowed(self, *args, _original=original, **kwargs):
        time.sleep(delay)
        return _original(self, *args, **kwargs)
    setattr(Collection, name, slowed)

from lowdim.server import serve
serve([sys.argv[1]], port=int(sys.argv[2]), api_key=os.environ["LOWDIM_API_KEY"], graceful_timeout=20)
"""


@pytest.fixture
def lowdim_cli() -> list[str]:
    """The ``lowdim`` command of this interpreter."""
    return [sys.executable, "-m", "lowdim.cli"]


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator:
    started: list[ServerProcess] = []

    def start(args: list[str], **kwargs) -> ServerProcess:
        s = start_server(args, tmp_path, name=f"server{len(started)}", **kwargs)
        started.append(s)
        return s

    yield start
    for s in started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait(10)


@pytest.fixture(scope="session")
def h() -> SimpleNamespace:
    """The helpers of this folder (test modules cannot import conftest)."""
    return SimpleNamespace(
        API_KEY=API_KEY,
        AUTH={"Authorization": f"Bearer {API_KEY}"},
        make_collection=make_collection,
        make_untrained=make_untrained,
        small_data=small_data,
        SLOW_SERVER=SLOW_SERVER,
        free_port=free_port,
        WORDS=WORDS,
        start_server=start_server,
    )
