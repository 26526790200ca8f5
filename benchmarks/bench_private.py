"""Private similarity summaries (``lowdim.private``) on real embeddings, with DP-SGD in the same run.

What it measures, on wordnet-minilm (116,697 unit-norm MiniLM rows; an 80/20 split with seed 0:
93,357 private rows, queries drawn from the other 23,340) and, as an out-of-distribution check,
on the old model's vectors of wordnet-compat (paraphrase-MiniLM-L3, 30,000 rows, same split):

1. **Sums.** Median relative error of ``Σ_x f(x, y)`` for ``l1``, ``l2``, ``lp`` (p = 0.5, 1.5) and the Gaussian kernel
   (σ = 1) at ε = 0.1, 1, 10 (pure ε-DP, Laplace noise; and ε = 1, 10 at δ = 1e-5), over several releases, split into what the
   approximation costs (the same summary without noise: the ℓ2 → ℓ1 rotation, the random features, the
   leaf width) and what privacy costs (private minus noiseless answer); single-thread query time
   (a batch of queries, and one query at a time) and queries per second.
2. **Release time** over all 116,697 rows, single thread.
3. **Classification** of ``lexname`` (45 classes) at ε = 0.3, 1, 3, 10 with δ = 1e-5: the private class-
   similarity classifier (``PrivateClassifier``: class means, and the Gaussian kernel's mean embedding)
   against DP-SGD (opacus: logistic regression, Poisson sampling, RDP accounting, the same ε and δ),
   accuracy and balanced accuracy (noise wipes out small classes), fit time, single thread. Non-private
   references: class mean (cosine) and logistic regression.

The public clip bounds are never read from the private rows: 1 (unit norm) for ℓ2 and the kernel;
for ``l1`` and ``lp``, ``lowdim.private.public_bound`` of the data set's public query vectors
(``queries.npy``: 2,000 lemma queries that are not corpus rows): the 99.9th percentile of their
|coordinates|, plus 10%, rounded up.
The sums are measured under pure ε-DP (Laplace noise, as in the paper) and again with Gaussian
noise at δ = 1e-5. ``--data DIR`` (and ``--ood DIR``, ``--label-key``) run the same measurements on
another data set laid out like wordnet-minilm.

Writes ``benchmarks/results/private.json`` and ``private.png`` and prints tables. Run::

    .venv/bin/python benchmarks/bench_private.py [--quick]

``--quick`` runs one release per setting and DP-SGD at ε = 1 only (about 3 minutes instead of 15).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
import warnings
from pathlib import Path

import numpy as np

from lowdim.arrays import single_thread, to_float32
from lowdim.private import PrivateClassifier, PrivateSummary, exact_sums, public_bound

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data"
OUT = ROOT / "benchmarks" / "results" / "private"
DELTA = 1e-5
#: (epsilon, delta) of the sums: pure DP as in the paper, then Gaussian noise at delta = 1e-5
PRIVACY = [(0.1, 0.0), (1.0, 0.0), (10.0, 0.0), (1.0, DELTA), (10.0, DELTA)]


def split(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n)
    cut = int(round(0.8 * n))
    return np.sort(perm[:cut]), np.sort(perm[cut:])


def sums_table(name: str, X: np.ndarray, Q: np.ndarray, l1_bound: float, releases: int, log: list[str]) -> list[dict]:
    """Errors (approximation and privacy), query times and QPS of l1, l2 and the Gaussian kernel on one data set."""
    rows = []
    # gaussian is exp(-|x-y|^2 / (2 sigma^2)); the paper writes exp(-|x-y|^2 / sigma^2): its sigma = 1 is ours 1/sqrt(2)
    settings = [
        ("l1", {"bound": l1_bound}),
        ("l2", {"bound": 1.0}),
        ("lp", {"bound": l1_bound, "p": 0.5}),
        ("lp", {"bound": l1_bound, "p": 1.5}),
        ("gaussian", {"bound": 1.0, "bandwidth": 1.0}),
        ("gaussian", {"bound": 1.0, "bandwidth": round(1 / math.sqrt(2), 4)}),
    ]
    for f, kw in settings:
        label = f + (f" s={kw['bandwidth']:g}" if "bandwidth" in kw else "") + (f" p={kw['p']:g}" if "p" in kw else "")
        exact = exact_sums(f, X, Q, bandwidth=kw.get("bandwidth"), p=kw.get("p"))
        noiseless = PrivateSummary(f, epsilon=1e12, random_state=0, noise_seed=0, **kw).fit(X).query(Q).sums
        approx = float(np.median(np.abs(noiseless - exact) / exact))
        for eps, delta in PRIVACY:
            errs, priv, fits, batch, single = [], [], [], [], []
            for _ in range(releases):
                with single_thread():
                    t = time.perf_counter()
                    s = PrivateSummary(f, epsilon=eps, delta=delta, random_state=0, **kw).fit(X)  # fresh noise each release
                    fits.append(time.perf_counter() - t)
                    s.query(Q[:1])  # builds the per-leaf tables (post-processing, once per summary)
                    t = time.perf_counter()
                    est = s.query(Q).sums
                    batch.append((time.perf_counter() - t) / len(Q))
                    t = time.perf_counter()
                    for q in Q[:200]:
                        s.query(q[None, :])
                    single.append((time.perf_counter() - t) / 200)
                errs.append(float(np.median(np.abs(est - exact) / exact)))
                priv.append(float(np.median(np.abs(est - noiseless) / exact)))
            row = {
                "data": name,
                "f": f,
                "bandwidth": kw.get("bandwidth"),
                "p": kw.get("p"),
                "epsilon": eps,
                "delta": delta,
                "median_rel_error": float(np.median(errs)),
                "worst_release_error": float(max(errs)),
                "approximation_error": approx,
                "privacy_error": float(np.median(priv)),
                "fit_s": float(np.median(fits)),
                "query_ms_batched": 1e3 * float(np.median(batch)),
                "query_ms_single": 1e3 * float(np.median(single)),
                "qps_batched": 1.0 / float(np.median(batch)),
                "releases": releases,
                "rows": len(X),
                "queries": len(Q),
            }
            rows.append(row)
            log.append(
                f"{name:9s} {label:15s} eps={eps:<5g} delta={delta:<6g} error {row['median_rel_error']:7.3%} (approx {approx:6.3%}, privacy "
                f"{row['privacy_error']:7.3%}; worst release {row['worst_release_error']:7.3%})  "
                f"query {row['query_ms_batched']:.3f} ms batched, {row['query_ms_single']:.3f} ms one by one "
                f"({row['qps_batched']:,.0f} q/s)  fit {row['fit_s']:.1f} s"
            )
            print(log[-1], flush=True)
    return rows


def release_times(X: np.ndarray, l1_bound: float, log: list[str]) -> list[dict]:
    out = []
    for f, kw in [
        ("l1", {"bound": l1_bound}),
        ("l2", {"bound": 1.0}),
        ("gaussian", {"bound": 1.0, "bandwidth": 1.0}),
        ("linear", {"bound": 1.0}),
    ]:
        with single_thread():
            t = time.perf_counter()
            PrivateSummary(f, epsilon=1.0, random_state=0, **kw).fit(X)
            took = time.perf_counter() - t
        out.append({"f": f, "rows": len(X), "release_s": took})
        log.append(f"release over all {len(X):,} rows: {f:8s} {took:6.2f} s (one thread)")
        print(log[-1], flush=True)
    return out


def dpsgd(Xtr: np.ndarray, ytr: np.ndarray, Xte: np.ndarray, n_classes: int, eps: float) -> tuple[np.ndarray, float]:
    """Logistic regression by DP-SGD (opacus), (eps, DELTA)-DP: predictions on Xte and fit seconds."""
    import torch
    from opacus import PrivacyEngine

    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = torch.nn.Linear(Xtr.shape[1], n_classes)
    opt = torch.optim.SGD(model.parameters(), lr=2.0, momentum=0.9)
    data = torch.utils.data.TensorDataset(torch.from_numpy(Xtr), torch.from_numpy(ytr.astype(np.int64)))
    loader = torch.utils.data.DataLoader(data, batch_size=1024)
    t = time.perf_counter()
    engine = PrivacyEngine(accountant="rdp")
    model, opt, loader = engine.make_private_with_epsilon(
        module=model, optimizer=opt, data_loader=loader, target_epsilon=eps, target_delta=DELTA, epochs=10, max_grad_norm=1.0
    )
    loss = torch.nn.CrossEntropyLoss()
    for _ in range(10):
        for xb, yb in loader:
            if len(xb) == 0:
                continue
            opt.zero_grad()
            loss(model(xb), yb).backward()
            opt.step()
    took = time.perf_counter() - t
    with torch.no_grad():
        pred = model(torch.from_numpy(Xte)).argmax(1).numpy()
    return pred, took


def classification(data: Path, label_key: str, quick: bool, releases: int, log: list[str]) -> list[dict]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score

    X = read_corpus(data)
    labels = [json.loads(line)[label_key] for line in open(data / "corpus.jsonl", encoding="utf-8")]
    classes, y = np.unique(labels, return_inverse=True)
    tr, te = split(len(X))
    Xtr, ytr, Xte, yte = X[tr], y[tr], X[te], y[te]
    out = []

    def add(method: str, eps: float | None, pred: np.ndarray, fit_s: float, **extra) -> None:
        row = {
            "method": method,
            "epsilon": eps,
            "delta": DELTA if eps is not None else None,
            "accuracy": float(np.mean(pred == yte)),
            "balanced_accuracy": float(balanced_accuracy_score(yte, pred)),
            "fit_s": fit_s,
            **extra,
        }
        out.append(row)
        log.append(
            f"lexname {method:28s} eps={'-' if eps is None else f'{eps:g}':<4s} accuracy {row['accuracy']:.3f}  "
            f"balanced {row['balanced_accuracy']:.3f}  fit {fit_s:8.3f} s"
        )
        print(log[-1], flush=True)

    with single_thread():
        t = time.perf_counter()
        sums = np.stack([Xtr[ytr == c].sum(0) for c in range(len(classes))])
        pred = np.argmax(Xte @ (sums / np.linalg.norm(sums, axis=1, keepdims=True)).T, 1)
        add("class mean (not private)", None, pred, time.perf_counter() - t)
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lr = LogisticRegression(max_iter=300).fit(Xtr, ytr)
        add("logistic regr. (not private)", None, lr.predict(Xte), time.perf_counter() - t)
    for eps in (0.3, 1.0, 3.0, 10.0):
        for method, f, kw in [
            ("private class mean", "linear", {}),
            ("private gaussian mean-embed.", "gaussian", {"bandwidth": 1.0, "n_components": 512}),
        ]:
            accs, bals, fits = [], [], []
            for r in range(releases):
                with single_thread():
                    t = time.perf_counter()
                    clf = PrivateClassifier(f, epsilon=eps, delta=DELTA, bound=1.0, random_state=r, **kw).fit(Xtr, ytr)
                    fits.append(time.perf_counter() - t)
                    pred = clf.predict(Xte)
                accs.append(float(np.mean(pred == yte)))
                bals.append(float(balanced_accuracy_score(yte, pred)))
            mid = int(np.argsort(bals)[len(bals) // 2])
            row = {
                "method": method,
                "epsilon": eps,
                "delta": DELTA,
                "accuracy": accs[mid],
                "balanced_accuracy": bals[mid],
                "fit_s": float(np.median(fits)),
                "releases": releases,
            }
            out.append(row)
            log.append(
                f"lexname {method:28s} eps={eps:<4g} accuracy {row['accuracy']:.3f}  balanced {row['balanced_accuracy']:.3f}  "
                f"fit {row['fit_s']:8.3f} s  (median of {releases} releases)"
            )
            print(log[-1], flush=True)
        if quick and eps != 1.0:
            continue
        pred, took = dpsgd(Xtr, ytr, Xte, len(classes), eps)
        add("DP-SGD (opacus, logistic)", eps, pred, took)
    return out


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for name in sorted({r["data"] for r in result["sums"]}):
        for f in ("l1", "l2", "gaussian"):
            rows = [
                r
                for r in result["sums"]
                if r["data"] == name and r["f"] == f and not r.get("delta") and r.get("bandwidth") in (None, 1.0)
            ]
            if rows:
                a.plot(
                    [r["epsilon"] for r in rows],
                    [100 * r["median_rel_error"] for r in rows],
                    "s--" if name == "ood" else "o-",
                    label=f"{f} ({name})",
                )
    a.set(xscale="log", yscale="log", xlabel="epsilon", ylabel="median relative error (%)", title="private sums (pure DP)")
    a.axhline(3, color="grey", lw=0.5)
    a.axhline(0.5, color="grey", lw=0.5)
    a.legend(fontsize=7)
    for method in ("private class mean", "private gaussian mean-embed.", "DP-SGD (opacus, logistic)"):
        rows = [r for r in result["classification"] if r["method"] == method]
        if rows:
            b.plot([r["epsilon"] for r in rows], [r["balanced_accuracy"] for r in rows], "o-", label=method)
    for r in result["classification"]:
        if r["epsilon"] is None:
            b.axhline(r["balanced_accuracy"], ls=":", lw=1, color="grey")
    b.set(xscale="log", xlabel="epsilon (delta = 1e-5)", ylabel="balanced accuracy", title="lexname, 45 classes")
    b.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def read_corpus(folder: Path) -> np.ndarray:
    """A data-set folder's corpus: ``corpus.f16.npy`` or ``corpus.npy`` (wordnet-minilm's layout), float32."""
    for name in ("corpus.f16.npy", "corpus.npy", "old_corpus.f16.npy"):
        if (folder / name).is_file():
            return to_float32(np.load(folder / name, mmap_mode="r"))
    raise SystemExit(f"{folder}: no corpus.f16.npy or corpus.npy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one release per setting, DP-SGD at epsilon 1 only")
    parser.add_argument("--queries", type=int, default=500, help="queries for the sums (held-out rows)")
    parser.add_argument(
        "--data",
        type=Path,
        default=DATA / "wordnet-minilm",
        help="data-set folder: corpus(.f16).npy, queries.npy (public rows for the l1 bound), corpus.jsonl (labels)",
    )
    parser.add_argument("--label-key", default="lexname", help="the label field of corpus.jsonl")
    parser.add_argument(
        "--ood",
        type=Path,
        default=DATA / "wordnet-compat",
        help="second data set (old_corpus.f16.npy, old_queries.npy); 'none' to skip",
    )
    parser.add_argument("--out", type=Path, default=OUT, help="results path without suffix")
    args = parser.parse_args()
    releases = 1 if args.quick else 3
    log: list[str] = []
    X = read_corpus(args.data)
    tr, te = split(len(X))
    rng = np.random.default_rng(1)
    Q = X[np.sort(rng.choice(te, args.queries, replace=False))]
    # the l1 bound from the data set's public query vectors (never from the private rows)
    l1_bound = public_bound(np.load(args.data / "queries.npy"), "l1")
    result: dict = {"machine": platform.platform(), "data": str(args.data), "l1_bound": l1_bound, "delta": DELTA}
    result["sums"] = sums_table(args.data.name, X[tr], Q, l1_bound, releases, log)
    if str(args.ood) != "none":
        O = read_corpus(args.ood)
        otr, ote = split(len(O))
        OQ = O[np.sort(rng.choice(ote, min(args.queries, len(ote)), replace=False))]
        public = args.ood / ("old_queries.npy" if (args.ood / "old_queries.npy").is_file() else "queries.npy")
        ood_bound = public_bound(np.load(public), "l1")
        result["ood_l1_bound"] = ood_bound
        result["sums"] += sums_table("ood", O[otr], OQ, ood_bound, releases, log)
    result["release"] = release_times(X, l1_bound, log)
    result["classification"] = classification(args.data, args.label_key, args.quick, releases, log)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    plot(result, args.out.with_suffix(".png"))
    print("\n".join(["", *log]))
    print(f"\nwrote {args.out.with_suffix('.json')} and {args.out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
