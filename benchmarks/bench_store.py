"""Collection benchmark: recall, RAM, QPS, filters, HNSW at 1M and reopen time, next to FAISS/usearch in the same run.

Measures, in one run:

1. **wordnet-minilm** (116,697 × 384 real MiniLM embeddings, 2,000 queries), for specs
   ``int8+rerank4`` and ``binary+rerank10`` (flat index):
   build time (add with metadata, codec fit, encode, fsync), reopen time, recall@10
   against exact float32 top-10, single-thread QPS (one batch of 2,000 and 200 queries one
   at a time), and the *resident* RAM of a fresh process that opened the collection:
   ``RssAnon`` (private memory: codes, ids, the process) and ``RssFile`` (mapped file
   pages the OS may drop) after opening and after answering all queries, beside the
   bytes of the codes and of the float32 vectors. Filtered search (``pos == "r"``, 3% of
   the corpus, and ``lexname == "noun.artifact"``, 10%): recall@10 against exact
   filtered search, share of queries answered with k hits, QPS.
   Side by side: FAISS ``IndexFlatIP`` (exact, float32 in RAM), ``IndexScalarQuantizer``
   SQ8 and ``IndexBinaryFlat`` on sign bits, each with ``IndexRefineFlat`` at the same
   rerank factor (the FAISS way of doing the same two-stage search, all in RAM).
2. **HNSW at N = 1,000,000 × 384** synthetic vectors of low intrinsic dimension (24-d
   Gaussian latent through a random map, plus noise, unit-normalised), 1,000 queries
   from the same distribution, exact top-10 by brute force: a collection with
   ``index="hnsw"`` (spec ``int8+rerank4``, M=32, efConstruction=40) against FAISS
   ``IndexHNSWFlat`` with the same M/efConstruction built on the same data, and
   usearch (f16, same connectivity/expansion): build time, memory, disk, and recall@10
   and single-thread QPS (one query at a time) over an ``ef`` sweep; the QPS at the
   smallest ef reaching recall ≥ 0.95 is compared.
3. **Reopen** of that 1M collection in a fresh process (page cache warm): time of
   ``Collection.open`` (median of 5) and of the first query after it.

OMP: builds use every core (2 here); QPS is single-threaded (``faiss.omp_set_num_threads(1)``).
Writes ``benchmarks/results/store.json`` and prints tables. Run::

    .venv/bin/python benchmarks/bench_store.py [--n 1000000] [--skip-wordnet] [--skip-hnsw]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "wordnet-minilm"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "store.json"

import faiss  # noqa: E402

from lowdim.eval import exact_knn, load_dataset, recall_at_k  # noqa: E402
from lowdim.store import Collection  # noqa: E402

THREADS = os.cpu_count() or 1


def rss() -> dict[str, int]:
    """RssAnon / RssFile / VmRSS / VmHWM of this process in bytes."""
    out = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("RssAnon", "RssFile", "VmRSS", "VmHWM"):
                out[key] = int(rest.split()[0]) * 1024
    return out


def ids_matrix(res) -> np.ndarray:
    return np.array([[-1 if v is None else v for v in row] for row in res.ids.tolist()], dtype=np.int64)


def qps_one_at_a_time(fn, Q: np.ndarray, n: int = 200) -> float:
    n = min(n, len(Q))
    fn(Q[:1])
    t = time.perf_counter()
    for i in range(n):
        fn(Q[i : i + 1])
    return n / (time.perf_counter() - t)


def qps_batch(fn, Q: np.ndarray) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn(Q)
    return len(Q) / (time.perf_counter() - t), out


def alternate(fns: dict, rounds: int = 3) -> dict:
    """Median seconds of each callable, run in alternating rounds so that machine drift hits all alike."""
    times: dict = {name: [] for name in fns}
    for r in range(rounds):
        order = list(fns) if r % 2 == 0 else list(fns)[::-1]
        for name in order:
            t = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(v) for name, v in times.items()}


def one_at_a_time(fn, Q: np.ndarray):
    def run():
        for i in range(len(Q)):
            fn(Q[i : i + 1])

    return run


_PROBE = r"""
import json, sys, time, numpy as np
def rss():
    out = {}
    for line in open("/proc/self/status"):
        k, _, rest = line.partition(":")
        if k in ("RssAnon", "RssFile", "VmRSS"):
            out[k] = int(rest.split()[0]) * 1024
    return out
import faiss, lowdim
from lowdim.store import Collection
faiss.omp_set_num_threads(1)
Q = np.load(sys.argv[2]) if sys.argv[2] != "-" else None
before = rss()
t = time.perf_counter(); col = Collection.open(sys.argv[1]); t_open = time.perf_counter() - t
opened = rss()
t = time.perf_counter(); col.search(Q[:1], 10) if Q is not None else None; t_first = time.perf_counter() - t
if Q is not None:
    col.search(Q, 10)
after = rss()
# an HNSW collection maps its codes on open and loads them on the first search the graph
# does not cover (a filter, vectors added since the graph was built): time that load too
t = time.perf_counter(); col._state.codes() if col.is_trained else None; t_codes = time.perf_counter() - t
with_codes = rss()
print(json.dumps({"open_s": t_open, "first_query_s": t_first, "codes_load_s": t_codes, "before": before, "opened": opened,
                  "after_queries": after, "after_codes": with_codes}))
"""


def probe(path: Path, queries: Path | None) -> dict:
    """Open the collection in a fresh process and report its resident memory and timings."""
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, str(path), str(queries) if queries else "-"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def read_meta(path: Path) -> list[dict]:
    meta = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            meta.append({"pos": d["pos"], "lexname": d["lexname"]})
    return meta


# ---------------------------------------------------------------------------------- wordnet


def faiss_two_stage(kind: str, X: np.ndarray, factor: int):
    d = X.shape[1]
    if kind == "flat":
        index = faiss.IndexFlatIP(d)
        index.add(X)
        return index, lambda Q, k: index.search(Q, k)[1]
    if kind == "int8":
        base = faiss.IndexScalarQuantizer(d, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
        base.train(X[:20000])
    else:  # binary: sign bits scored by Hamming in FAISS
        bits = faiss.IndexBinaryFlat(d)
        packed = np.packbits(X > 0, axis=1, bitorder="little")
        bits.add(packed)

        def search(Q, k):
            _, cand = bits.search(np.packbits(Q > 0, axis=1, bitorder="little"), k * factor)
            rows = X[np.clip(cand, 0, None)]
            s = np.einsum("qd,qcd->qc", Q, rows)
            order = np.argsort(-s, axis=1)[:, :k]
            return np.take_along_axis(cand, order, axis=1)

        return bits, search
    refine = faiss.IndexRefineFlat(base)
    refine.k_factor = float(factor)
    refine.add(X)
    params = faiss.IndexRefineSearchParameters(k_factor=float(factor))
    return refine, lambda Q, k: refine.search(Q, k, params=params)[1]


def bench_wordnet(data: Path, work: Path) -> dict:
    ds = load_dataset(data)
    X = np.ascontiguousarray(ds.corpus, dtype=np.float32)
    Q = np.ascontiguousarray(ds.queries, dtype=np.float32)
    gt = np.asarray(ds.gt)[:, :10]
    meta = read_meta(data / "corpus.jsonl")
    qpath = work / "queries.npy"
    np.save(qpath, Q)
    filters = {"pos=r": {"pos": "r"}, "lexname=noun.artifact": {"lexname": "noun.artifact"}}
    truth = {}
    for name, flt in filters.items():
        ((key, val),) = flt.items()
        sub = np.array([i for i, m in enumerate(meta) if m[key] == val])
        _, g = exact_knn(X[sub], Q, 10, metric="cosine")
        truth[name] = (sub, sub[g])
    out: dict = {"n": len(X), "d": X.shape[1], "n_queries": len(Q), "specs": {}, "faiss": {}}
    faiss.omp_set_num_threads(THREADS)
    for spec, kind, factor in (("int8+rerank4", "int8", 4), ("binary+rerank10", "binary", 10)):
        path = work / spec.replace("+", "_")
        shutil.rmtree(path, ignore_errors=True)
        t = time.perf_counter()
        col = Collection.create(path, dim=X.shape[1], spec=spec, model="all-MiniLM-L6-v2")
        col.add(ds.corpus, metadata=meta)
        build = time.perf_counter() - t
        info = col.info()
        col.close()
        # FAISS doing the same two-stage search, everything in RAM
        faiss.omp_set_num_threads(THREADS)
        index, fsearch = faiss_two_stage(kind, X, factor)
        # what the FAISS structures hold in RAM: the codes plus the float32 vectors the refine step reads
        ram = X.nbytes + (X.shape[0] * X.shape[1] if kind == "int8" else X.shape[0] * X.shape[1] // 8)
        faiss.omp_set_num_threads(1)
        col = Collection.open(path, readonly=True)
        search = lambda q, col=col: col.search(q, 10)  # noqa: E731
        fq = lambda q, fsearch=fsearch: fsearch(q, 10)  # noqa: E731
        col.search(Q[:50], 10)  # page in what a first query touches
        rec = recall_at_k(ids_matrix(col.search(Q, 10)), gt, 10)
        frec = recall_at_k(fq(Q), gt, 10)
        Q1 = Q[:200]
        t = alternate(
            {
                "ours_batch": lambda search=search: search(Q),
                "faiss_batch": lambda fq=fq: fq(Q),
                "ours_single": one_at_a_time(search, Q1),
                "faiss_single": one_at_a_time(fq, Q1),
            }
        )
        qb, q1 = len(Q) / t["ours_batch"], len(Q1) / t["ours_single"]
        fqb, fq1 = len(Q) / t["faiss_batch"], len(Q1) / t["faiss_single"]
        row = {
            "build_s": build,
            "recall@10": rec,
            "qps_batch": qb,
            "qps_single": q1,
            "code_bytes": info["ram_bytes"]["codes"],
            "vector_bytes_float32": X.nbytes,
            "disk_bytes": info["disk_bytes"],
            "filters": {},
        }
        for name, flt in filters.items():
            sub, g = truth[name]
            fsearch_f = lambda q, col=col, flt=flt: col.search(q, 10, filter=flt)  # noqa: E731
            ids = ids_matrix(fsearch_f(Q))
            tf = alternate(
                {"batch": lambda fsearch_f=fsearch_f: fsearch_f(Q), "single": one_at_a_time(fsearch_f, Q[:100])}, rounds=1
            )
            row["filters"][name] = {
                "matching": len(sub),
                "share": len(sub) / len(X),
                "recall@10": recall_at_k(ids, g, 10),
                "full_k_share": float((ids >= 0).all(axis=1).mean()),
                "qps_batch": len(Q) / tf["batch"],
                "qps_single": 100 / tf["single"],
            }
        col.close()
        row["process"] = probe(path, qpath)
        p = row["process"]
        row["ram_anon_delta_after_open"] = p["opened"]["RssAnon"] - p["before"]["RssAnon"]
        row["ram_anon_delta_after_queries"] = p["after_queries"]["RssAnon"] - p["before"]["RssAnon"]
        row["ram_file_delta_after_queries"] = p["after_queries"]["RssFile"] - p["before"]["RssFile"]
        row["reopen_s"] = p["open_s"]
        row["faiss"] = {
            "what": "IndexRefineFlat(IndexScalarQuantizer SQ8)"
            if kind == "int8"
            else "IndexBinaryFlat on sign bits + exact rerank in numpy",
            "recall@10": frec,
            "qps_batch": fqb,
            "qps_single": fq1,
            "ram_bytes": ram,
        }
        row["ratio_qps_batch_vs_faiss"] = qb / fqb
        row["ratio_qps_single_vs_faiss"] = q1 / fq1
        row["ratio_ram_vs_faiss"] = row["ram_anon_delta_after_open"] / ram
        del index
        out["specs"][spec] = row
        print(
            f"  {spec}: recall@10 {rec:.4f}, batch {qb:.0f} q/s, single {q1:.0f} q/s, "
            f"RssAnon +{row['ram_anon_delta_after_open'] / 2**20:.1f} MiB (codes {row['code_bytes'] / 2**20:.1f} MiB)",
            flush=True,
        )
    faiss.omp_set_num_threads(THREADS)
    flat, fsearch = faiss_two_stage("flat", X, 1)
    ram = X.nbytes
    faiss.omp_set_num_threads(1)
    fq = lambda q, fsearch=fsearch: fsearch(q, 10)  # noqa: E731
    fqb, fres = qps_batch(fq, Q)
    out["faiss"]["IndexFlatIP"] = {
        "recall@10": recall_at_k(fres, gt, 10),
        "qps_batch": fqb,
        "qps_single": qps_one_at_a_time(fq, Q),
        "ram_bytes": ram,
    }
    faiss.omp_set_num_threads(THREADS)
    return out


# ---------------------------------------------------------------------------------- 1M HNSW


def synthetic(n: int, d: int, nq: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    basis = rng.standard_normal((24, d)).astype(np.float32)
    X = np.empty((n + nq, d), np.float32)
    for start in range(0, n + nq, 100_000):
        m = min(100_000, n + nq - start)
        block = rng.standard_normal((m, 24)).astype(np.float32) @ basis + 0.3 * rng.standard_normal((m, d)).astype(np.float32)
        X[start : start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return X[:n], X[n:]


def _reopen_stats(probes: list[dict]) -> dict:
    last = probes[-1]
    return {
        "open_s_median": statistics.median(p["open_s"] for p in probes),
        "open_s_all": [p["open_s"] for p in probes],
        "first_query_s_median": statistics.median(p["first_query_s"] for p in probes),
        "codes_load_s_median": statistics.median(p["codes_load_s"] for p in probes),
        "rss_anon_after_open": last["opened"]["RssAnon"] - last["before"]["RssAnon"],
        "rss_anon_after_codes": last["after_codes"]["RssAnon"] - last["before"]["RssAnon"],
        "rss_file_after_queries": last["after_queries"]["RssFile"] - last["before"]["RssFile"],
    }


def at_recall(rows: list[dict], floor: float = 0.95) -> dict | None:
    for r in rows:
        if r["recall@10"] >= floor:
            return r
    return None


def bench_hnsw(n: int, work: Path, m: int = 32, efc: int = 40) -> dict:
    d, nq = 384, 1000
    t = time.perf_counter()
    X, Q = synthetic(n, d, nq)
    print(f"  data {n:,} x {d} in {time.perf_counter() - t:.1f}s", flush=True)
    faiss.omp_set_num_threads(THREADS)
    t = time.perf_counter()
    flat = faiss.IndexFlatIP(d)
    flat.add(X)
    _, gt = flat.search(Q, 10)
    del flat
    print(f"  exact ground truth in {time.perf_counter() - t:.1f}s", flush=True)
    efs = [16, 32, 48, 64, 96, 128, 256]
    out: dict = {"n": n, "d": d, "n_queries": nq, "M": m, "ef_construction": efc, "threads_build": THREADS}
    # -- lowdim
    path = work / "hnsw1m"
    shutil.rmtree(path, ignore_errors=True)
    before = rss()
    t = time.perf_counter()
    col = Collection.create(path, dim=d, spec="int8+rerank4", index="hnsw", hnsw_m=m, ef_construction=efc)
    col.add(X)
    build = time.perf_counter() - t
    after = rss()
    info = col.info()
    print(f"  lowdim build {build:.1f}s, graph {info['graph_nodes']:,} nodes", flush=True)
    col.close()
    out["lowdim"] = {
        "what": "Collection(index='hnsw', spec='int8+rerank4'): HNSW over float16 (IndexHNSWSQ fp16) + exact rerank from disk",
        "build_s": build,
        "rss_anon_delta_build": after["RssAnon"] - before["RssAnon"],
        "ram_bytes": info["ram_bytes"],
        "disk_bytes": info["disk_bytes"],
    }
    qpath = work / "q1m.npy"
    np.save(qpath, Q[:100])
    probes = [probe(path, qpath) for _ in range(5)]
    out["reopen"] = _reopen_stats(probes)
    print(
        f"  reopen {out['reopen']['open_s_median']:.3f}s (median of 5), first query {out['reopen']['first_query_s_median'] * 1e3:.1f} ms, "
        f"codes load {out['reopen']['codes_load_s_median']:.3f}s",
        flush=True,
    )
    # the same vectors in a flat collection: its codes (384 MB of int8) are the index and load on open
    flat_path = work / "flat1m"
    shutil.rmtree(flat_path, ignore_errors=True)
    faiss.omp_set_num_threads(THREADS)
    t = time.perf_counter()
    with Collection.create(flat_path, dim=d, spec="int8+rerank4") as fcol:
        fcol.add(X)
    out["flat_build_s"] = time.perf_counter() - t
    out["reopen_flat"] = _reopen_stats([probe(flat_path, qpath) for _ in range(5)])
    print(f"  flat int8 collection: reopen {out['reopen_flat']['open_s_median']:.3f}s (median of 5)", flush=True)
    shutil.rmtree(flat_path, ignore_errors=True)
    # -- faiss IndexHNSWFlat, same data, same M / efConstruction
    faiss.omp_set_num_threads(THREADS)
    before = rss()
    t = time.perf_counter()
    index = faiss.IndexHNSWFlat(d, m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = efc
    index.add(X)
    fbuild = time.perf_counter() - t
    fram = rss()["RssAnon"] - before["RssAnon"]
    print(f"  faiss IndexHNSWFlat build {fbuild:.1f}s", flush=True)
    out["faiss"] = {"what": "IndexHNSWFlat (float32 in RAM)", "build_s": fbuild, "rss_anon_delta_build": fram}
    systems = {
        "lowdim": None,
        "faiss": lambda q, ef: index.search(q, 10, params=faiss.SearchParametersHNSW(efSearch=ef))[1],
    }
    # -- usearch, when installed
    try:
        from usearch.index import Index
    except ImportError:  # pragma: no cover - optional
        out["usearch"] = None
    else:
        before = rss()
        t = time.perf_counter()
        uindex = Index(ndim=d, metric="ip", dtype="f16", connectivity=m, expansion_add=efc)
        uindex.add(np.arange(n), X, threads=THREADS)
        ubuild = time.perf_counter() - t
        uram = rss()["RssAnon"] - before["RssAnon"]
        print(f"  usearch f16 build {ubuild:.1f}s", flush=True)
        out["usearch"] = {"what": "usearch Index(dtype='f16')", "build_s": ubuild, "rss_anon_delta_build": uram}

        def usearch_search(q, ef):
            uindex.expansion_search = ef
            return np.asarray(uindex.search(q, 10, threads=1).keys).reshape(len(q), 10).astype(np.int64)

        systems["usearch"] = usearch_search
    # -- the ef sweep: all systems side by side, in alternating rounds
    faiss.omp_set_num_threads(1)
    col = Collection.open(path, readonly=True)
    systems["lowdim"] = lambda q, ef: ids_matrix(col.search(q, 10, ef=ef))
    for name in systems:
        out[name]["sweep"] = []
    Q1 = Q[:300]
    for ef in efs:
        recalls = {name: recall_at_k(fn(Q, ef), gt, 10) for name, fn in systems.items()}
        t = alternate({name: one_at_a_time(lambda q, fn=fn, ef=ef: fn(q, ef), Q1) for name, fn in systems.items()})
        for name in systems:
            out[name]["sweep"].append({"ef": ef, "recall@10": recalls[name], "qps_single": len(Q1) / t[name]})
        print(
            f"    ef {ef}: " + ", ".join(f"{name} recall {recalls[name]:.4f} {len(Q1) / t[name]:.0f} q/s" for name in systems),
            flush=True,
        )
    col.close()
    for name in systems:
        out[name]["at_recall_0.95"] = at_recall(out[name]["sweep"])
    ours, theirs = out["lowdim"]["at_recall_0.95"], out["faiss"]["at_recall_0.95"]
    if ours and theirs:
        out["ratio_qps_at_0.95_vs_faiss"] = ours["qps_single"] / theirs["qps_single"]
    out["ratio_build_vs_faiss"] = build / fbuild
    faiss.omp_set_num_threads(THREADS)
    shutil.rmtree(path, ignore_errors=True)
    return out


def print_tables(res: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console(width=170)
    if "wordnet" in res:
        w = res["wordnet"]
        t = Table(title=f"wordnet-minilm {w['n']:,} x {w['d']}, {w['n_queries']} queries (single thread)")
        for col in ("system", "recall@10", "q/s batch", "q/s single", "RAM (RssAnon)", "vs FAISS q/s (batch)"):
            t.add_column(col)
        for spec, r in w["specs"].items():
            t.add_row(
                f"lowdim {spec}",
                f"{r['recall@10']:.4f}",
                f"{r['qps_batch']:.0f}",
                f"{r['qps_single']:.0f}",
                f"{r['ram_anon_delta_after_open'] / 2**20:.1f} MiB (codes {r['code_bytes'] / 2**20:.1f})",
                f"{r['ratio_qps_batch_vs_faiss']:.2f}x",
            )
            f = r["faiss"]
            t.add_row(
                f"  faiss {f['what']}",
                f"{f['recall@10']:.4f}",
                f"{f['qps_batch']:.0f}",
                f"{f['qps_single']:.0f}",
                f"{f['ram_bytes'] / 2**20:.1f} MiB",
                "",
            )
        f = w["faiss"]["IndexFlatIP"]
        t.add_row(
            "faiss IndexFlatIP (exact)",
            f"{f['recall@10']:.4f}",
            f"{f['qps_batch']:.0f}",
            f"{f['qps_single']:.0f}",
            f"{f['ram_bytes'] / 2**20:.1f} MiB",
            "",
        )
        con.print(t)
        t = Table(title="filtered search (k=10)")
        for col in ("spec", "filter", "matching", "recall@10 vs exact filtered", "k filled", "q/s batch", "q/s single"):
            t.add_column(col)
        for spec, r in w["specs"].items():
            for name, fr in r["filters"].items():
                t.add_row(
                    spec,
                    name,
                    f"{fr['matching']:,} ({fr['share']:.1%})",
                    f"{fr['recall@10']:.4f}",
                    f"{fr['full_k_share']:.0%}",
                    f"{fr['qps_batch']:.0f}",
                    f"{fr['qps_single']:.0f}",
                )
        con.print(t)
    if "hnsw" in res:
        h = res["hnsw"]
        t = Table(
            title=f"HNSW {h['n']:,} x {h['d']} synthetic, M={h['M']}, efC={h['ef_construction']}, build on {h['threads_build']} threads, QPS single thread"
        )
        for col in ("system", "build s", "RAM delta", "ef", "recall@10", "q/s"):
            t.add_column(col)
        for name in ("lowdim", "faiss", "usearch"):
            r = h.get(name)
            if not r:
                continue
            for i, s in enumerate(r["sweep"]):
                t.add_row(
                    name if i == 0 else "",
                    f"{r['build_s']:.0f}" if i == 0 else "",
                    f"{r['rss_anon_delta_build'] / 2**20:.0f} MiB" if i == 0 else "",
                    str(s["ef"]),
                    f"{s['recall@10']:.4f}",
                    f"{s['qps_single']:.0f}",
                )
        con.print(t)
        con.print(
            f"QPS at recall>=0.95 vs faiss: {h.get('ratio_qps_at_0.95_vs_faiss', float('nan')):.2f}x; build time vs faiss {h['ratio_build_vs_faiss']:.2f}x"
        )
        for name, key in (("hnsw", "reopen"), ("flat int8", "reopen_flat")):
            r = h[key]
            con.print(
                f"reopen of the {h['n']:,}-vector {name} collection: {r['open_s_median']:.3f}s median "
                f"(all: {', '.join(f'{x:.3f}' for x in r['open_s_all'])}), first query {r['first_query_s_median'] * 1e3:.1f} ms, "
                f"RssAnon after open {r['rss_anon_after_open'] / 2**20:.0f} MiB, codes load {r['codes_load_s_median']:.3f}s"
            )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--n", type=int, default=1_000_000, help="vectors of the HNSW benchmark")
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temp folder)")
    ap.add_argument("--skip-wordnet", action="store_true")
    ap.add_argument("--skip-hnsw", action="store_true")
    args = ap.parse_args(argv)
    work = Path(args.work or tempfile.mkdtemp(prefix="bench_store_"))
    work.mkdir(parents=True, exist_ok=True)
    res: dict = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "faiss": faiss.__version__,
        },
    }
    try:
        if not args.skip_wordnet:
            print("wordnet-minilm", flush=True)
            res["wordnet"] = bench_wordnet(args.data, work)
        if not args.skip_hnsw:
            print(f"HNSW at {args.n:,}", flush=True)
            res["hnsw"] = bench_hnsw(args.n, work)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print_tables(res)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
