"""Graph-embedding benchmark: FastRP against the authors' reference, node classification on WordNet, scaling.

Three parts (``--parts a,b,c``):

a. **Reference**: the authors' FastRP (github.com/GTmac/FastRP, ``fastrp.py``; pass the folder
   holding it with ``--reference``, this part is skipped without it) against
   ``lowdim.encoders.FastRP`` with their best BlogCatalog setting (d 512, α [0, 0, 1, 6.67],
   β -0.64, normalisation on), on BlogCatalog (``example_graphs/blogcatalog.mat`` of their repo)
   and on the WordNet graph without its isolated nodes (their code divides by a zero degree).
   Both get the same random matrix (scikit-learn's ``SparseRandomProjection(random_state=42)``,
   which their code draws). Each run is a fresh child process: wall time and peak RSS of the call
   (``VmHWM`` after resetting it, minus the RSS before the call). One shim is applied to their
   code: ``scale`` gets ``np.asarray(U)`` because scikit-learn >= 1.6 refuses ``np.matrix``.
b. **WordNet node classification** (DeepWalk protocol, one-vs-rest logistic regression,
   ``--shuffles`` seeded shuffles, 10 / 50 / 90 % train, classifier ``max_iter`` 30: F1 settles
   within 20 iterations): FastRP tuned (``tune_fastrp`` on a seeded 20 % of the nodes: half
   train, half validation), FastRP over orbit adjacencies (the best orbit trial of that tuning),
   FastRP with gloss features (node feature = its gloss's all-MiniLM-L6-v2 vector; feature
   share and self-influence tuned the same way, over plain A), the gloss
   vectors alone, FastRP and gloss concatenated, and a DeepWalk-style baseline (uniform random
   walks + gensim Word2Vec skip-gram), with times.
c. **Scaling**: FastRP (d 128, α [0, 1, 1]) on synthetic Chung-Lu power-law graphs (exponent 2.5,
   mean degree 10) of 1e5, 1e6 and 1e7 edges, one child process each: time and peak memory.

Writes ``benchmarks/results/graph.json`` and prints a table. Run::

    .venv/bin/python benchmarks/bench_graph.py --reference /path/to/FastRP [--parts a,b,c] [--shuffles 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data"
OUT = ROOT / "benchmarks" / "results" / "graph.json"
BEST = {"dim": 512, "weights": [0, 0, 1, 6.67], "beta": -0.64}


# -- child processes: one measured call each ------------------------------------------------------------
def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _load_graph(name: str):
    import scipy.sparse as sp

    if name == "blogcatalog":
        import scipy.io

        return sp.csr_matrix(scipy.io.loadmat(os.environ["FASTRP_REF"] + "/example_graphs/blogcatalog.mat")["network"])
    if name == "wordnet":  # without its isolated nodes, which the reference cannot handle
        from lowdim.encoders import as_adjacency

        A = as_adjacency(np.load(DATA / "wordnet-graph" / "edges.npy"), dtype=np.float64)
        keep = np.flatnonzero(np.diff(A.indptr) > 0)
        return sp.csr_matrix(A[keep][:, keep])
    if name.startswith("powerlaw"):
        return power_law_edges(int(float(name.split(":")[1])))
    raise SystemExit(f"unknown graph {name}")


def _child(spec: dict) -> dict:
    """Run one measured call; the caller reads the JSON line this prints."""
    graph = _load_graph(spec["graph"])
    out: dict = {}
    if spec["impl"] == "reference":
        sys.path.insert(0, os.environ["FASTRP_REF"])
        import fastrp  # the authors' module
        from sklearn.preprocessing import scale

        fastrp.scale = lambda U: scale(np.asarray(U))  # the one shim: scikit-learn >= 1.6 refuses np.matrix
        conf = {"projection_method": "sparse", "input_matrix": "trans", "weights": BEST["weights"], "normalization": True}
        conf.update(dim=BEST["dim"], alpha=BEST["beta"])
        call = lambda: fastrp.fastrp_wrapper(graph.tocsc(), conf)  # noqa: E731  (their .mat holds a CSC matrix)
    else:
        from lowdim.encoders import FastRP

        kwargs = spec.get("params", {})
        projection = None
        if spec.get("same_projection"):
            from sklearn.random_projection import SparseRandomProjection

            projection = SparseRandomProjection(n_components=BEST["dim"], random_state=42).fit(graph).components_.T
        est = FastRP(**kwargs, dtype=np.float64 if spec.get("float64") else np.float32)
        call = lambda: est.fit_transform(graph, projection=projection)  # noqa: E731
    before = _rss_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak-RSS counter
    t0 = time.perf_counter()
    X = call()
    out["seconds"] = time.perf_counter() - t0
    out["peak_mb"] = _rss_mb("VmHWM") - before
    X = np.asarray(X)
    out["shape"] = list(X.shape)
    out["output_mb"] = X.nbytes / 2**20
    if spec.get("save"):
        np.save(spec["save"], X)
    return out


def run_child(spec: dict, ref: str | None = None) -> dict:
    env = {**os.environ, "FASTRP_REF": ref or "", "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True, env=env)
    if proc.returncode:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- part a: against the reference ------------------------------------------------------------------
def part_a(ref: str, graphs: list[str]) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for g in graphs:
            r = run_child({"impl": "reference", "graph": g, "save": f"{tmp}/ref.npy"}, ref)
            row: dict = {"graph": g, "reference": r}
            params = {"dim": BEST["dim"], "weights": BEST["weights"], "beta": BEST["beta"], "normalize": True}
            for name, f64 in (("lowdim_float32", False), ("lowdim_float64", True)):
                m = run_child(
                    {
                        "impl": "lowdim",
                        "graph": g,
                        "params": params,
                        "same_projection": True,
                        "float64": f64,
                        "save": f"{tmp}/{name}.npy",
                    },
                    ref,
                )
                if "error" not in r and "error" not in m:
                    m["max_abs_delta"] = float(np.abs(np.load(f"{tmp}/{name}.npy") - np.load(f"{tmp}/ref.npy")).max())
                    m["time_ratio"] = m["seconds"] / r["seconds"]
                    m["peak_memory_ratio"] = m["peak_mb"] / r["peak_mb"]
                row[name] = m
            rows.append(row)
    return rows


# -- part b: WordNet node classification --------------------------------------------------------------
def random_walks(A, walks_per_node: int, length: int, seed: int) -> np.ndarray:
    """Uniform random walks (walks_per_node * n, length) from every node; an isolated node stays put."""
    rng = np.random.default_rng(seed)
    deg = np.diff(A.indptr)
    n = A.shape[0]
    cur = np.tile(np.arange(n), walks_per_node)
    walks = np.empty((len(cur), length), dtype=np.int64)
    walks[:, 0] = cur
    for step in range(1, length):
        d = deg[cur]
        nxt = cur.copy()
        ok = d > 0
        nxt[ok] = A.indices[A.indptr[cur[ok]] + (rng.random(ok.sum()) * d[ok]).astype(np.int64)]
        walks[:, step] = cur = nxt
    return walks


def deepwalk(edges: np.ndarray, n: int, dim: int = 128, seed: int = 0) -> np.ndarray:
    from gensim.models import Word2Vec

    from lowdim.encoders import as_adjacency

    walks = random_walks(as_adjacency(edges, n_nodes=n), walks_per_node=5, length=40, seed=seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "walks.txt"
        with open(path, "w") as fh:
            for block in np.array_split(walks, 50):
                fh.write("\n".join(" ".join(map(str, w)) for w in block.tolist()) + "\n")
        model = Word2Vec(
            corpus_file=str(path), vector_size=dim, window=5, min_count=0, sg=1, negative=5, workers=2, epochs=1, seed=seed
        )
    return np.stack([model.wv[str(i)] for i in range(n)]).astype(np.float32)


def part_b(shuffles: int, trials: int) -> dict:
    from lowdim.encoders import FastRP, tune_fastrp
    from lowdim.eval import node_classification

    folder = DATA / "wordnet-graph"
    edges, labels = np.load(folder / "edges.npy"), np.load(folder / "labels.npy")
    n = len(labels)
    gloss = np.load(DATA / "wordnet-minilm" / "corpus.f16.npy", mmap_mode="r")[np.load(folder / "corpus_row.npy")].astype(
        np.float32
    )
    tune_labels = np.full(n, -1)
    subset = np.random.default_rng(123).permutation(n)[: n // 5]
    tune_labels[subset] = labels[subset]

    out: dict = {"methods": {}, "tuning": {}}
    t0 = time.perf_counter()
    tuned = tune_fastrp(edges, tune_labels, dim=512, search_dim=64, n_trials=trials, n_final=2, n_nodes=n, max_iter=30)
    out["tuning"]["structure"] = {"params": tuned.params, "macro_f1": tuned.macro_f1, "seconds": time.perf_counter() - t0}
    search = [t for t in tuned.trials if t["dim"] == 64]
    orbit_trial = max((t for t in search if t["params"]["orbits"]), key=lambda t: t["macro_f1"])
    plain_trial = max((t for t in search if not t["params"]["orbits"]), key=lambda t: t["macro_f1"])
    best_plain = tuned.params if not tuned.params["orbits"] else plain_trial["params"]
    best_orbit = tuned.params if tuned.params["orbits"] else orbit_trial["params"]
    t0 = time.perf_counter()
    feat = tune_fastrp(
        edges, tune_labels, dim=512, search_dim=64, n_trials=max(4, trials // 2), n_final=2, n_nodes=n, max_iter=30,
        orbit_choices=[best_plain["orbits"]], features=gloss,
    )  # fmt: skip
    out["tuning"]["features"] = {"params": feat.params, "macro_f1": feat.macro_f1, "seconds": time.perf_counter() - t0}

    def embed(params: dict, features=None):
        t = time.perf_counter()
        X = FastRP(512, **params).fit_transform(edges, n_nodes=n, features=features)
        return X, time.perf_counter() - t

    candidates = {
        "FastRP tuned (plain A)": lambda: embed(best_plain),
        "FastRP tuned over orbits": lambda: embed(best_orbit),
        "FastRP + gloss features": lambda: embed(feat.params, gloss),
        "gloss embeddings alone": lambda: (gloss, 0.0),
    }
    fastrp_x: list[np.ndarray] = []
    for name, make in candidates.items():
        X, secs = make()
        if name == "FastRP tuned (plain A)":
            fastrp_x.append(X)
        out["methods"][name] = _score(X, labels, secs, shuffles, node_classification)
        print(name, out["methods"][name]["scores"], flush=True)
    std = gloss.std(axis=0)
    both = np.hstack([fastrp_x[0], gloss / np.where(std > 0, std, 1.0)])
    out["methods"]["FastRP tuned (plain A) ‖ gloss, concatenated"] = _score(
        both, labels, out["methods"]["FastRP tuned (plain A)"]["embed_seconds"], shuffles, node_classification
    )
    try:
        t = time.perf_counter()
        X = deepwalk(edges, n)
        out["methods"]["DeepWalk (gensim Word2Vec, 5 walks x 40)"] = _score(
            X, labels, time.perf_counter() - t, shuffles, node_classification
        )
    except ImportError as exc:
        out["methods"]["DeepWalk"] = {"error": f"gensim not installed: {exc}"}
    return out


def _score(X, labels, secs, shuffles, node_classification) -> dict:
    res = node_classification(X, labels, train_fractions=(0.1, 0.5, 0.9), n_shuffles=shuffles, max_iter=30)
    return {"embed_seconds": secs, "dim": int(X.shape[1]), "scores": [r.as_dict() for r in res]}


# -- part c: scaling --------------------------------------------------------------------------------
def power_law_edges(m: int, exponent: float = 2.5, mean_degree: float = 10.0, seed: int = 0) -> np.ndarray:
    """Chung-Lu: ``m`` endpoint pairs drawn with probability ∝ a power-law weight (self-loops dropped)."""
    n = max(10, int(2 * m / mean_degree))
    rng = np.random.default_rng(seed)
    w = (np.arange(1, n + 1)) ** (-1.0 / (exponent - 1.0))
    cdf = np.cumsum(w / w.sum())
    u = np.searchsorted(cdf, rng.random(m), side="right").clip(max=n - 1)
    v = np.searchsorted(cdf, rng.random(m), side="right").clip(max=n - 1)
    e = np.stack([u, v], axis=1)
    return e[u != v]


def part_c(sizes: list[float]) -> list[dict]:
    rows = []
    for m in sizes:
        r = run_child({"impl": "lowdim", "graph": f"powerlaw:{m}", "params": {"dim": 128, "weights": [0, 1, 1], "beta": -0.5}})
        r["edges"] = int(m)
        rows.append(r)
        print("scaling", r, flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", help="folder with the authors' fastrp.py and example_graphs/blogcatalog.mat")
    ap.add_argument("--parts", default="a,b,c")
    ap.add_argument("--ref-graphs", default="blogcatalog,wordnet")
    ap.add_argument("--shuffles", type=int, default=1)
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--sizes", default="1e5,1e6,1e7")
    ap.add_argument("--child")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
        return
    parts = set(args.parts.split(","))
    result: dict = {
        "machine": {"cpus": os.cpu_count(), "load": os.getloadavg()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if OUT.exists():  # keep the parts not rerun
        result = {**json.loads(OUT.read_text()), **result}
    t0 = time.perf_counter()
    if "a" in parts:
        if args.reference and (Path(args.reference) / "fastrp.py").is_file():
            result["reference"] = part_a(str(Path(args.reference).resolve()), args.ref_graphs.split(","))
        else:
            result["reference"] = {"skipped": "no --reference folder with fastrp.py"}
    if "b" in parts:
        result["wordnet"] = part_b(args.shuffles, args.trials)
    if "c" in parts:
        result["scaling"] = part_c([float(s) for s in args.sizes.split(",")])
    result["total_seconds"] = time.perf_counter() - t0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2, default=float))
    print_tables(result)


def print_tables(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console()
    if isinstance(result.get("reference"), list):
        t = Table(title="FastRP: lowdim vs the authors' reference (d 512, α [0,0,1,6.67], β -0.64, normalised; same R)")
        for c in ("graph", "impl", "seconds", "peak MB", "time ratio", "memory ratio", "max |Δ|"):
            t.add_column(c)
        for row in result["reference"]:
            r = row["reference"]
            t.add_row(
                row["graph"],
                "reference",
                *(f"{r.get(k, float('nan')):.2f}" for k in ("seconds", "peak_mb")),
                "1",
                "1",
                "",
                end_section=False,
            )
            for name in ("lowdim_float32", "lowdim_float64"):
                m = row[name]
                if "error" in m:
                    t.add_row(row["graph"], name, m["error"][:60])
                    continue
                t.add_row(
                    row["graph"],
                    name,
                    f"{m['seconds']:.2f}",
                    f"{m['peak_mb']:.0f}",
                    f"{m.get('time_ratio', float('nan')):.2f}",
                    f"{m.get('peak_memory_ratio', float('nan')):.2f}",
                    f"{m.get('max_abs_delta', float('nan')):.1e}",
                )
        con.print(t)
    if "wordnet" in result:
        t = Table(title="WordNet graph node classification (45 lexicographer files), Macro / Micro-F1")
        for c in ("method", "dim", "embed s", "10 %", "50 %", "90 %", "classify s"):
            t.add_column(c)
        for name, m in result["wordnet"]["methods"].items():
            if "error" in m:
                t.add_row(name, m["error"])
                continue
            cells = [f"{s['macro_f1']:.3f} / {s['micro_f1']:.3f}" for s in m["scores"]]
            t.add_row(name, str(m["dim"]), f"{m['embed_seconds']:.1f}", *cells, f"{sum(s['seconds'] for s in m['scores']):.0f}")
        con.print(t)
        for k, v in result["wordnet"]["tuning"].items():
            con.print(f"tuned ({k}): {v['params']}  validation Macro-F1 {v['macro_f1']:.3f}  ({v['seconds']:.0f} s)")
    if "scaling" in result:
        t = Table(title="FastRP scaling on Chung-Lu power-law graphs (d 128, α [0,1,1])")
        for c in ("edges", "nodes", "seconds", "peak MB", "output MB", "µs / edge"):
            t.add_column(c)
        for r in result["scaling"]:
            if "error" in r:
                t.add_row(f"{r['edges']:.0e}", r["error"][:60])
                continue
            t.add_row(
                f"{r['edges']:.0e}",
                f"{r['shape'][0]:,}",
                f"{r['seconds']:.2f}",
                f"{r['peak_mb']:.0f}",
                f"{r['output_mb']:.0f}",
                f"{1e6 * r['seconds'] / r['edges']:.2f}",
            )
        con.print(t)


if __name__ == "__main__":
    main()
