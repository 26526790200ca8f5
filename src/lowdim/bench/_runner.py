"""``run_bench``: each spec's recall, bytes, throughput and QPS, next to FAISS in the same run.

Protocol (design.md): ground truth is exact top-k on float32; QPS is single-threaded
(FAISS's OpenMP and the BLAS pool limited to one thread while timing), measured with
all queries in one batch and with queries one at a time; FAISS's nearest equivalent
runs on the same data, in the same process, right after lowdim's, and the table
reports the ratio because timings on shared machines drift.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .._progress import ProgressBar
from ..arrays import prepare_rows, sample_indices, single_thread, to_float32
from ..codecs import quiet_native_stderr
from ..eval import Dataset, exact_knn, ndcg_at_k, recall_at_k
from ..exceptions import ParameterError
from ..search import CodeIndex
from ..spec import Pipeline, parse_spec
from ..validation import check_embeddings, check_k
from ._faiss import faiss_equivalent

__all__ = ["BenchResult", "BenchReport", "run_bench", "bundled_sample", "DEFAULT_SPECS"]

#: the specs ``lowdim bench`` measures when none are given: one of each family
DEFAULT_SPECS = (
    "f32",
    "f16",
    "int8",
    "int4",
    "binary+rerank10",
    "hamming+rerank10",
    "rbq2+rerank4",
    "pca128/int8",
    "pq48x8+rerank4",
)


def bundled_sample() -> Path:
    """Folder of the real 5,000-vector WordNet sample shipped inside the package (corpus, queries, gt, qrels)."""
    return Path(str(resources.files("lowdim") / "data" / "wordnet5k"))


@dataclass
class BenchResult:
    """One measured operating point (field names are the JSON schema)."""

    engine: str
    spec: str
    recall: float
    ndcg_at_10: float | None
    ram_bytes_per_vector: float
    disk_bytes_per_vector: float
    qps_batch: float
    qps_single: float
    fit_seconds: float
    encode_per_second: float
    equivalent: str | None = None
    qps_batch_ratio: float | None = None
    recall_per_query: list[float] | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("recall_per_query")
        return out


@dataclass
class BenchReport:
    """All results of one run."""

    k: int
    n: int
    d: int
    n_queries: int
    metric: str
    dataset: str
    results: list[BenchResult]

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "n": self.n,
            "d": self.d,
            "n_queries": self.n_queries,
            "metric": self.metric,
            "dataset": self.dataset,
            "results": [r.to_dict() for r in self.results],
        }

    def write_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path


def _time_single(fn, Q: np.ndarray, n: int) -> float:
    n = min(n, len(Q))
    t = time.perf_counter()
    for i in range(n):
        fn(Q[i : i + 1])
    return n / max(time.perf_counter() - t, 1e-9)


def run_bench(
    data: Dataset,
    specs: Sequence[str],
    *,
    k: int = 10,
    metric: str = "cosine",
    with_faiss: bool = True,
    n_single: int = 200,
    train_size: int = 100_000,
    random_state: int = 0,
    progress: bool = False,
) -> BenchReport:
    """Measure each spec on ``data`` (and FAISS's equivalent when ``with_faiss``).

    Parameters
    ----------
    data : lowdim.eval.Dataset
        corpus (n, d), queries (nq, d), and optionally gt (nq, >=k) / qrels.
    specs : list of spec strings
    k : int
        recall@k is measured against exact top-k.
    metric : "cosine", "ip" or "l2"
    n_single : int
        Queries timed one at a time for ``qps_single``.
    train_size : int
        Codecs (ours and FAISS's) train on the same seeded sample of this many rows.

    Returns
    -------
    BenchReport whose ``results`` list one BenchResult per (engine, spec).

    Examples
    --------
    >>> import numpy as np
    >>> from lowdim.eval import Dataset
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(2000, 32)).astype(np.float32)
    >>> rep = run_bench(Dataset(corpus=X, queries=X[:20]), ["int8"], k=5, with_faiss=False)
    >>> rep.results[0].recall > 0.9
    True
    """
    k = check_k(k)
    corpus = data.corpus
    # the data first, then the specs: a bad file is the more basic mistake
    if getattr(corpus, "ndim", 0) != 2:
        check_embeddings(corpus, name="corpus")
    n, d = corpus.shape
    check_embeddings(corpus[: min(n, 4096)], name="corpus")
    queries = check_embeddings(data.queries, name="queries", n_features=d, what="the corpus")
    parsed = [parse_spec(s) for s in specs]
    if not parsed:
        raise ParameterError("no specs to benchmark; pass e.g. --specs 'f32,int8,binary+rerank10'")
    for s in parsed:
        s.check(d)
    # ground truth: exact float32 top-k (computed in blocks when not given)
    gt = data.gt
    if gt is None or gt.shape[1] < k:
        _, gt = exact_knn(corpus, queries, k, metric=metric, progress=progress)
    train = to_float32(corpus[sample_indices(n, train_size, random_state)])
    X32: np.ndarray | None = None
    if with_faiss:
        X32 = prepare_rows(corpus, metric)
    Qf = prepare_rows(queries, metric)
    disk_itemsize = corpus.dtype.itemsize
    results: list[BenchResult] = []

    def measure(
        engine: str,
        spec_str: str,
        ids: np.ndarray,
        ram: float,
        disk: float,
        qb: float,
        qs: float,
        fit_s: float,
        enc: float,
        equiv: str | None,
    ) -> BenchResult:
        from ..eval import recall_per_query

        rec = recall_at_k(ids, gt, k)
        nd = ndcg_at_k(ids, data.qrels, 10) if data.qrels is not None else None
        return BenchResult(
            engine,
            spec_str,
            float(rec),
            None if nd is None else float(nd),
            float(ram),
            float(disk),
            float(qb),
            float(qs),
            float(fit_s),
            float(enc),
            equiv,
            None,
            recall_per_query(ids, gt, k).tolist(),
        )

    with ProgressBar(progress, total=len(parsed) * (2 if with_faiss else 1), description="bench", width=40) as bar:
        for spec in parsed:
            name = spec.to_spec()
            bar.update(f"lowdim {name}: fit")
            pipe = Pipeline(spec, metric=metric, random_state=random_state, max_train=train_size)
            t = time.perf_counter()
            pipe.fit(train)
            fit_s = time.perf_counter() - t
            bar.update(f"lowdim {name}: encode")
            t = time.perf_counter()
            codes = pipe.encode(corpus)
            enc = n / max(time.perf_counter() - t, 1e-9)
            index = CodeIndex(pipe, codes, vectors=corpus)
            del codes
            bar.update(f"lowdim {name}: search")
            index.search(queries[:2], k)  # builds lazy kernel structures outside the timing
            with single_thread():
                t = time.perf_counter()
                res = index.search(queries, k)
                qb = len(queries) / max(time.perf_counter() - t, 1e-9)
                qs = _time_single(lambda q, index=index: index.search(q, k), queries, n_single)
            disk = disk_itemsize * d if spec.rerank else 0.0
            ours = measure("lowdim", name, res.ids, pipe.code_size, disk, qb, qs, fit_s, enc, None)
            results.append(ours)
            bar.update(f"lowdim {name}: done", advance=1)
            if X32 is None:  # with_faiss=False
                continue
            cand = faiss_equivalent(spec, d, metric, X32)
            if cand is None:
                bar.update(f"faiss: no equivalent of {name}", advance=1)
                continue
            bar.update(f"faiss {cand.name}: train")
            tr = prepare_rows(train, metric)
            t = time.perf_counter()
            with quiet_native_stderr():
                cand.train(np.ascontiguousarray(tr))
            ffit = time.perf_counter() - t
            t = time.perf_counter()
            cand.add(X32)
            fenc = n / max(time.perf_counter() - t, 1e-9)
            bar.update(f"faiss {cand.name}: search")
            cand.search(Qf[:2], k)
            with single_thread():
                t = time.perf_counter()
                _, fI = cand.search(Qf, k)
                fqb = len(Qf) / max(time.perf_counter() - t, 1e-9)
                fqs = _time_single(lambda q, cand=cand: cand.search(q, k), Qf, n_single)
            theirs = measure(
                "faiss", name, np.asarray(fI, np.int64), cand.ram_bytes_per_vector(), 0.0, fqb, fqs, ffit, fenc, cand.name
            )
            ours.equivalent = cand.name
            ours.qps_batch_ratio = ours.qps_batch / max(theirs.qps_batch, 1e-9)
            results.append(theirs)
            bar.update(f"faiss {cand.name}: done", advance=1)
            del cand
    return BenchReport(k=k, n=n, d=d, n_queries=len(queries), metric=metric, dataset=data.name, results=results)
