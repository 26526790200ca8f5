"""HTTP service load test on loopback: concurrent searches while a writer adds, on real data.

What it does, bounded in time and count:

1. Builds a wordnet-minilm collection (``int8+rerank4``, cosine, model all-MiniLM-L6-v2) in a
   temporary folder from a seeded 100,000 of the 116,697 glosses (ids are corpus rows). The rest
   are held back for the writer.
2. Measures the in-process baseline on the same collection: ``Collection.search`` one query at
   a time, one thread, for a few seconds (the ratio HTTP / local says what the service costs).
3. Starts ``lowdim serve`` as a subprocess on 127.0.0.1 (a free port, an API key in the
   environment), waits for ``/health``.
4. For ``--duration`` seconds (30): ``--clients`` threads (16), each with its own
   ``lowdim.server.Client``, search one query at a time (k=10, the 2,000 queries in turn),
   while one writer thread adds the held-back glosses in batches of 64. Every request's
   latency and every error are recorded; each thread also stops after ``--max-requests``.
5. Checks the collection afterwards: its count equals the initial vectors plus the
   acknowledged adds; recall@10 of served searches against exact cosine search over exactly
   what is stored; every sampled acknowledged vector finds itself first; the server's own
   ``/metrics`` agree (no 5xx); SIGTERM stops it cleanly and ``check_collection`` finds nothing.

All traffic goes to 127.0.0.1. Client threads and the server share the machine's cores
(the client's JSON and HTTP work is part of what is measured). Writes
``benchmarks/results/server.json`` and prints a table. Run::

    .venv/bin/python benchmarks/bench_server.py [--data ../shared/data/wordnet-minilm] [--duration 30]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "wordnet-minilm"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "server.json"
MODEL = "all-MiniLM-L6-v2"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def exact_top10(Q: np.ndarray, X: np.ndarray, block: int = 20_000) -> np.ndarray:
    """Exact inner-product top-10 row numbers of ``X`` per query, best first (rows are unit-norm)."""
    best_s = np.full((len(Q), 10), -np.inf, np.float32)
    best_i = np.full((len(Q), 10), -1, np.int64)
    for start in range(0, len(X), block):
        S = Q @ X[start : start + block].T
        S = np.concatenate([best_s, S], axis=1)
        I = np.concatenate([best_i, np.arange(start, start + S.shape[1] - 10)[None, :].repeat(len(Q), 0)], axis=1)
        part = np.argpartition(-S, 10, axis=1)[:, :10]
        best_s, best_i = np.take_along_axis(S, part, 1), np.take_along_axis(I, part, 1)
    order = np.argsort(-best_s, axis=1, kind="stable")
    return np.take_along_axis(best_i, order, 1)


def percentiles(lat: list[float]) -> dict[str, float]:
    a = np.asarray(lat) * 1000
    if not len(a):
        return {}
    p50, p90, p99, p999 = np.percentile(a, [50, 90, 99, 99.9])
    return {
        "p50_ms": float(p50),
        "p90_ms": float(p90),
        "p99_ms": float(p99),
        "p999_ms": float(p999),
        "mean_ms": float(a.mean()),
        "max_ms": float(a.max()),
    }


def run_load(args, path: Path, corpus, queries, initial, pending, readers: int, log_path: Path) -> dict:
    """Serve ``path`` with ``readers`` snapshots, load it for ``args.duration`` s, check it afterwards."""
    import httpx

    from lowdim.server import Client
    from lowdim.store import Collection, check_collection

    result: dict = {"readers": readers}
    server = None
    try:
        # 3. the server
        key = secrets.token_urlsafe(24)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = open(log_path, "wb")
        env = {**os.environ, "LOWDIM_API_KEY": key, "PYTHONUNBUFFERED": "1"}
        cmd = [
            sys.executable,
            "-m",
            "lowdim.cli",
            "serve",
            str(path),
            "--port",
            str(port),
            "--no-access-log",
            "--readers",
            str(readers),
            "--max-batch",
            "4096",
        ]
        server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

        t0 = time.perf_counter()
        while True:
            if server.poll() is not None:
                raise SystemExit(f"server exited:\n{log_path.read_text()}")
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.perf_counter() - t0 > 120:
                raise SystemExit("server did not start within 120 s")
            time.sleep(0.1)
        result["server_start_s"] = time.perf_counter() - t0

        # 4. load: searches and a writer at once
        stop = threading.Event()
        lat_by_client: list[list[float]] = [[] for _ in range(args.clients)]
        errors: list[str] = []
        acked: list[int] = []
        write_lat: list[float] = []
        lock = threading.Lock()

        def searcher(c: int) -> None:
            coll = Client(url).collection("wordnet")
            mine = lat_by_client[c]
            j = c * 125
            while not stop.is_set() and len(mine) < args.max_requests:
                q = queries[j % len(queries)][None]
                t = time.perf_counter()
                try:
                    res = coll.search(q, k=10)
                    if res.ids.shape != (1, 10) or any(v is None for v in res.ids[0]):
                        raise AssertionError(f"bad result shape/padding: {res.ids.tolist()}")
                except Exception as exc:
                    with lock:
                        errors.append(f"search: {type(exc).__name__}: {exc}")
                else:
                    mine.append(time.perf_counter() - t)
                j += 1

        def writer() -> None:
            coll = Client(url, api_key=key).collection("wordnet")
            for s in range(0, len(pending), args.batch):
                if stop.is_set():
                    break
                rows = pending[s : s + args.batch]
                t = time.perf_counter()
                try:
                    got = coll.add(np.asarray(corpus[rows], np.float32), ids=rows.tolist())
                    assert got == rows.tolist()
                except Exception as exc:
                    with lock:
                        errors.append(f"add: {type(exc).__name__}: {exc}")
                    continue
                write_lat.append(time.perf_counter() - t)
                acked.extend(rows.tolist())

        threads = [threading.Thread(target=searcher, args=(c,)) for c in range(args.clients)]
        threads.append(threading.Thread(target=writer))
        t_start = time.perf_counter()
        for th in threads:
            th.start()
        stop.wait(args.duration)
        stop.set()
        for th in threads:
            th.join(60)
        elapsed = time.perf_counter() - t_start
        lat = [x for l in lat_by_client for x in l]
        result["load"] = {
            "elapsed_s": elapsed,
            "search_requests": len(lat),
            "search_rps": len(lat) / elapsed,
            **percentiles(lat),
            "per_client_requests": [len(l) for l in lat_by_client],
            "errors": len(errors),
            "error_samples": errors[:5],
            "writer": {
                "adds": len(write_lat),
                "vectors_added": len(acked),
                "vectors_per_s": len(acked) / elapsed,
                **{f"add_{k}": v for k, v in percentiles(write_lat).items()},
            },
        }

        # 5. consistency afterwards
        coll = Client(url).collection("wordnet")
        count = len(coll)
        stored = np.sort(np.concatenate([initial, np.asarray(acked, np.int64)]))
        Qe = queries[:200]
        res = coll.search(Qe, k=10)
        X_stored = np.asarray(corpus[stored], np.float32)
        truth = stored[exact_top10(Qe, X_stored)]
        recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(res.ids.tolist(), truth.tolist())]))
        sample = np.random.default_rng(1).choice(acked, min(100, len(acked)), replace=False) if acked else np.array([], int)
        self_found = 1.0
        if len(sample):
            hit = coll.search(np.asarray(corpus[sample], np.float32), k=1).ids[:, 0].tolist()
            self_found = float(np.mean([a == b for a, b in zip(hit, sample.tolist())]))
        metrics = httpx.get(url + "/metrics", timeout=10).text
        status_5xx = sum(
            int(float(line.rsplit(" ", 1)[1]))
            for line in metrics.splitlines()
            if line.startswith("lowdim_http_requests_total") and 'status="5' in line
        )
        served_count = next(
            int(float(l.rsplit(" ", 1)[1])) for l in metrics.splitlines() if l.startswith("lowdim_collection_vectors")
        )
        server.send_signal(signal.SIGTERM)
        rc = server.wait(60)
        log.close()
        text = log_path.read_text(errors="replace")
        report = check_collection(path, repair=False)
        with Collection.open(path, readonly=True) as col:
            reopened = len(col)
        result["consistency"] = {
            "count": count,
            "expected_count": len(initial) + len(acked),
            "count_ok": count == len(initial) + len(acked) == reopened == served_count,
            "count_after_restart": reopened,
            "recall_at_10_vs_exact_over_stored": recall,
            "acknowledged_vectors_found_first": self_found,
            "server_5xx": status_5xx,
            "sigterm_exit": rc,
            "clean_shutdown": "Application shutdown complete" in text and "lowdim: closed 1 collection" in text,
            "check_collection_ok": bool(report.ok and not report.problems),
        }
        server = None
    finally:
        if server is not None and server.poll() is None:
            server.kill()
            server.wait(10)
    return result


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--max-requests", type=int, default=200_000, help="per client thread (a bound, not a target)")
    ap.add_argument("--initial", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--readers", default="1,2", help="the server's --readers; a comma list runs each in turn")
    ap.add_argument("--spec", default="int8+rerank4")
    ap.add_argument("--baseline-seconds", type=float, default=5.0)
    args = ap.parse_args(argv)

    from rich.console import Console
    from rich.table import Table

    from lowdim.store import Collection

    console = Console()
    corpus = np.load(args.data / "corpus.f16.npy", mmap_mode="r")
    queries = np.load(args.data / "queries.npy").astype(np.float32)
    n = len(corpus)
    perm = np.random.default_rng(0).permutation(n)
    initial, pending = np.sort(perm[: args.initial]), perm[args.initial :]
    work = Path(tempfile.mkdtemp(prefix="bench_server-"))
    result: dict = {
        "benchmark": "bench_server",
        "data": f"wordnet-minilm ({n:,} x {corpus.shape[1]}, {len(queries):,} queries)",
        "spec": args.spec,
        "settings": {
            "clients": args.clients,
            "duration_s": args.duration,
            "initial_vectors": len(initial),
            "writer_batch": args.batch,
            "k": 10,
            "queries_per_request": 1,
        },
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "python": platform.python_version()},
    }
    readers_list = [int(r) for r in str(args.readers).split(",")]
    result["settings"]["readers"] = readers_list
    try:
        # 1. the collection, built once; each run serves a fresh copy
        base = work / "base" / "wordnet"
        base.parent.mkdir()
        t = time.perf_counter()
        with Collection.create(base, dim=corpus.shape[1], spec=args.spec, model=MODEL) as col:
            for s in range(0, len(initial), 20_000):
                rows = initial[s : s + 20_000]
                col.add(np.asarray(corpus[rows], np.float32), ids=rows.tolist())
        result["build_s"] = time.perf_counter() - t

        # 2. the in-process baseline: one thread, one query at a time
        with Collection.open(base, readonly=True) as col:
            lat, i, t0 = [], 0, time.perf_counter()
            while time.perf_counter() - t0 < args.baseline_seconds and i < 100_000:
                t = time.perf_counter()
                col.search(queries[i % len(queries)][None], k=10)
                lat.append(time.perf_counter() - t)
                i += 1
            result["local_baseline"] = {"qps": len(lat) / sum(lat), **percentiles(lat), "requests": len(lat)}

        result["runs"] = []
        for readers in readers_list:
            path = work / f"readers{readers}" / "wordnet"
            shutil.copytree(base, path)
            console.print(f"serving with --readers {readers} ...")
            run = run_load(args, path, corpus, queries, initial, pending, readers, work / f"readers{readers}" / "server.log")
            run["http_vs_local_qps"] = run["load"]["search_rps"] / result["local_baseline"]["qps"]
            result["runs"].append(run)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    result["machine"]["load_average_at_end"] = list(os.getloadavg())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")

    table = Table(title=f"lowdim serve: {args.clients} clients x {args.duration:g} s, a writer adding, {args.spec}")
    table.add_column("what")
    for run in result["runs"]:
        table.add_column(f"--readers {run['readers']}", justify="right")
    B = result["local_baseline"]

    def row(label: str, fmt) -> None:
        table.add_row(label, *[fmt(run["load"], run["consistency"], run) for run in result["runs"]])

    row("search requests/s (HTTP)", lambda L, C, r: f"{L['search_rps']:.1f}")
    row("latency p50 / p99 / max (ms)", lambda L, C, r: f"{L['p50_ms']:.1f} / {L['p99_ms']:.1f} / {L['max_ms']:.0f}")
    row(f"HTTP rps / local QPS ({B['qps']:.0f}, 1 thread)", lambda L, C, r: f"{r['http_vs_local_qps']:.2f}")
    row("errors", lambda L, C, r: str(L["errors"]))
    row("writer: adds, vectors/s", lambda L, C, r: f"{L['writer']['adds']}, {L['writer']['vectors_per_s']:.0f}")
    row("count == initial + acknowledged", lambda L, C, r: f"{C['count_ok']} ({C['count']:,})")
    row("recall@10 vs exact over stored", lambda L, C, r: f"{C['recall_at_10_vs_exact_over_stored']:.4f}")
    row("acknowledged vectors found first", lambda L, C, r: f"{C['acknowledged_vectors_found_first']:.2f}")
    row(
        "5xx / SIGTERM clean / check ok",
        lambda L, C, r: f"{C['server_5xx']} / {C['clean_shutdown']} / {C['check_collection_ok']}",
    )
    console.print(table)
    console.print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
