"""``run_bench``: each spec's recall, bytes, throughput and QPS, next to FAISS in the same run.

Protocol (design.md): ground truth is exact top-k on float32; QPS is single-threaded
(FAISS's OpenMP and the BLAS pool limited to one thread while timing), measured with
all queries in one batch and with queries one at a time; FAISS's nearest equivalent
runs on the same data, in the same process, right after lowdim's, and the table
reports the ratio because timings on shared machines drift.

A spec with an index prefix is built as that index over the fitted codec and measured at
each value of its search knob, one result per value: ``ivf<nlist>/<codec>`` as an
:class:`~lowdim.search.IVFIndex` at each ``nprobe``, next to FAISS's ``IVF<nlist>,<codes>``
at the same ``nprobe``; ``hnsw<M>/<codec>`` as a :class:`~lowdim.search.CodeGraph` at each
``ef``, next to FAISS's ``HNSW<M>,<codes>`` at the same ``efSearch``.
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
from ..search import MIN_ROWS_PER_LIST, CodeGraph, CodeIndex, IVFIndex
from ..spec import IndexSpec, Pipeline, parse_index_spec
from ..validation import check_embeddings, check_k, check_positive_int
from ._faiss import FaissCandidate, faiss_equivalent, faiss_index_equivalent

__all__ = ["BenchResult", "BenchReport", "run_bench", "bundled_sample", "DEFAULT_SPECS", "DEFAULT_NPROBE", "DEFAULT_EF"]

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
#: nprobe values an ``ivf<nlist>/`` spec is measured at when none are given (those above nlist dropped)
DEFAULT_NPROBE = (16, 64)
#: ef values an ``hnsw<M>/`` spec is measured at when none are given
DEFAULT_EF = (32, 64)
#: the search knob of each index kind
_KNOB = {"ivf": "nprobe", "hnsw": "ef"}


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
    #: "flat", "ivf" or "hnsw"; with ``nprobe`` (ivf) or ``ef`` (hnsw) the knob this row was measured at
    index: str = "flat"
    nprobe: int | None = None
    ef: int | None = None
    #: seconds from the data to a searchable index: codec fit + encode (+ coarse training / graph links)
    build_seconds: float | None = None
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


def _timed(search, Q: np.ndarray, n_single: int) -> tuple[np.ndarray, float, float]:
    """``search(Q) -> ids`` run warm and single-threaded: (ids, QPS of one batch, QPS one query at a time)."""
    search(Q[:2])  # builds lazy kernel structures outside the timing
    with single_thread():
        t = time.perf_counter()
        ids = search(Q)
        qb = len(Q) / max(time.perf_counter() - t, 1e-9)
        qs = _time_single(search, Q, n_single)
    return np.asarray(ids, np.int64), qb, qs


def _knob_values(values: Sequence[int] | int | None, name: str) -> tuple[int, ...] | None:
    if values is None:
        return None
    if isinstance(values, (int, np.integer)):  # one value (a bool is refused by check_positive_int)
        values = [values]
    if not isinstance(values, Sequence):
        raise ParameterError(f"The '{name}' parameter of bench must be a list of integers >= 1. Got {values!r}.")
    out = tuple(check_positive_int(v, name, owner="bench") for v in values)
    if not out:
        raise ParameterError(f"The '{name}' parameter of bench needs at least one value, e.g. {name}=[64, 128].")
    return tuple(dict.fromkeys(out))


def _check_indexes(
    parsed: list[IndexSpec], nprobe: tuple[int, ...] | None, ef: tuple[int, ...] | None, n_train: int, train_size: int
) -> dict[int, tuple[int, ...]]:
    """The knob values each index spec is measured at (by position in ``parsed``), or a one-line error.

    A knob given for a run without any spec of its index kind is refused rather than
    ignored: it would silently measure nothing.
    """
    given = {"ivf": nprobe, "hnsw": ef}
    kinds = {s.kind for s in parsed}
    for kind, example in (("ivf", "ivf1024/pq96x4+rerank10"), ("hnsw", "hnsw32/int8+rerank4")):
        if given[kind] is not None and kind not in kinds:
            raise ParameterError(
                f"The '{_KNOB[kind]}' parameter of bench applies to {kind}<{'nlist' if kind == 'ivf' else 'M'}>/ "
                f"specs, and none of the specs has one: add one (e.g. '{example}') or drop {_KNOB[kind]}."
            )
    knobs: dict[int, tuple[int, ...]] = {}
    for i, s in enumerate(parsed):
        if s.kind == "ivf":
            nlist = s.params["nlist"]
            if n_train < MIN_ROWS_PER_LIST * nlist:
                top = max(1, n_train // MIN_ROWS_PER_LIST)
                raise ParameterError(
                    f"spec '{s.to_spec()}': nlist {nlist:,} needs at least {MIN_ROWS_PER_LIST * nlist:,} training rows "
                    f"({MIN_ROWS_PER_LIST} per list); the data give {n_train:,} (train_size {train_size:,}): "
                    f"use nlist <= {1 << (top.bit_length() - 1):,}"
                )
            if nprobe is None:
                knobs[i] = tuple(dict.fromkeys(min(v, nlist) for v in DEFAULT_NPROBE))
                continue
            if max(nprobe) > nlist:
                raise ParameterError(
                    f"The 'nprobe' parameter of bench must be at most nlist={nlist:,} for spec '{s.to_spec()}'. "
                    f"Got {max(nprobe):,}."
                )
            knobs[i] = nprobe
        elif s.kind == "hnsw":
            knobs[i] = ef if ef is not None else DEFAULT_EF
    return knobs


def run_bench(
    data: Dataset,
    specs: Sequence[str],
    *,
    k: int = 10,
    metric: str = "cosine",
    with_faiss: bool = True,
    n_single: int = 200,
    train_size: int = 100_000,
    nprobe: Sequence[int] | int | None = None,
    ef: Sequence[int] | int | None = None,
    random_state: int = 0,
    progress: bool = False,
) -> BenchReport:
    """Measure each spec on ``data`` (and FAISS's equivalent when ``with_faiss``).

    Parameters
    ----------
    data : lowdim.eval.Dataset
        corpus (n, d), queries (nq, d), and optionally gt (nq, >=k) / qrels.
    specs : list of spec strings
        Codec specs (a flat scan of the codes, e.g. ``"int8+rerank4"``) and index specs:
        ``"ivf1024/pq96x4+rerank10"`` (an :class:`~lowdim.search.IVFIndex` with 1,024 lists)
        or ``"hnsw32/int8+rerank4"`` (a :class:`~lowdim.search.CodeGraph` with M=32).
    k : int
        recall@k is measured against exact top-k.
    metric : "cosine", "ip" or "l2"
    n_single : int
        Queries timed one at a time for ``qps_single``.
    train_size : int
        Codecs and IVF centroids (ours and FAISS's) train on the same seeded sample of this many rows.
    nprobe : list of int, optional
        Lists probed; each ``ivf`` spec gives one result per value (default
        :data:`DEFAULT_NPROBE`, capped at nlist). Refused when no spec is an ``ivf`` one.
    ef : list of int, optional
        Graph beam widths; each ``hnsw`` spec gives one result per value (default
        :data:`DEFAULT_EF`). Refused when no spec is an ``hnsw`` one.

    Returns
    -------
    BenchReport whose ``results`` list one BenchResult per (engine, spec, nprobe or ef).

    Examples
    --------
    >>> import numpy as np
    >>> from lowdim.eval import Dataset
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(2000, 32)).astype(np.float32)
    >>> rep = run_bench(Dataset(corpus=X, queries=X[:20]), ["int8"], k=5, with_faiss=False)
    >>> rep.results[0].recall > 0.9
    True
    >>> rep = run_bench(Dataset(corpus=X, queries=X[:20]), ["ivf16/int8"], k=5, nprobe=[4, 16], with_faiss=False)
    >>> [(r.index, r.nprobe) for r in rep.results]
    [('ivf', 4), ('ivf', 16)]
    """
    k = check_k(k)
    corpus = data.corpus
    # the data first, then the specs: a bad file is the more basic mistake
    if getattr(corpus, "ndim", 0) != 2:
        check_embeddings(corpus, name="corpus")
    n, d = corpus.shape
    check_embeddings(corpus[: min(n, 4096)], name="corpus")
    queries = check_embeddings(data.queries, name="queries", n_features=d, what="the corpus")
    parsed = [parse_index_spec(s) for s in specs]
    if not parsed:
        raise ParameterError("no specs to benchmark; pass e.g. --specs 'f32,int8,binary+rerank10'")
    for s in parsed:
        s.codec.check(d)
    train_size = check_positive_int(train_size, "train_size", owner="bench")
    knobs = _check_indexes(parsed, _knob_values(nprobe, "nprobe"), _knob_values(ef, "ef"), min(n, train_size), train_size)
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

    def measure(engine: str, spec_str: str, ids: np.ndarray, **fields: Any) -> BenchResult:
        from ..eval import recall_per_query

        nd = ndcg_at_k(ids, data.qrels, 10) if data.qrels is not None else None
        plain: dict[str, Any] = {key: (float(v) if isinstance(v, (float, np.floating)) else v) for key, v in fields.items()}
        return BenchResult(
            engine=engine,
            spec=spec_str,
            recall=float(recall_at_k(ids, gt, k)),
            ndcg_at_10=None if nd is None else float(nd),
            recall_per_query=recall_per_query(ids, gt, k).tolist(),
            **plain,
        )

    with ProgressBar(progress, total=len(parsed) * (2 if with_faiss else 1), description="bench", width=40) as bar:
        for i, ispec in enumerate(parsed):
            spec = ispec.codec
            name = ispec.to_spec()
            bar.update(f"lowdim {name}: fit")
            pipe = Pipeline(spec, metric=metric, random_state=random_state, max_train=train_size)
            t0 = time.perf_counter()
            pipe.fit(train)
            fit_s = time.perf_counter() - t0
            bar.update(f"lowdim {name}: encode")
            t = time.perf_counter()
            codes = pipe.encode(corpus)
            enc = n / max(time.perf_counter() - t, 1e-9)
            disk = disk_itemsize * d if spec.rerank else 0.0
            ours: list[BenchResult] = []
            common = dict(disk_bytes_per_vector=disk, fit_seconds=fit_s, encode_per_second=enc, index=ispec.kind)
            bar.update(f"lowdim {name}: build")
            values: list[int | None] = [None]  # a scan of every code: one row, no knob
            if ispec.kind == "flat":
                flat = CodeIndex(pipe, codes, vectors=corpus)
                searcher, ram = (lambda q, k, _v, flat=flat: flat.search(q, k).ids), float(pipe.code_size)
            else:
                searcher, ram = _build_index(ispec, pipe, codes, corpus, train, random_state)
                values = list(knobs[i])
            build_s = time.perf_counter() - t0
            del codes
            bar.update(f"lowdim {name}: search")
            for value in values:
                ids, qb, qs = _timed(lambda q, v=value, s=searcher: s(q, k, v), queries, n_single)
                setting: dict[str, int] = {} if value is None else {_KNOB[ispec.kind]: value}
                ours.append(
                    measure(
                        "lowdim",
                        name,
                        ids,
                        ram_bytes_per_vector=ram,
                        qps_batch=qb,
                        qps_single=qs,
                        build_seconds=build_s,
                        **setting,
                        **common,
                    )
                )
            results.extend(ours)
            bar.update(f"lowdim {name}: done", advance=1)
            if X32 is None:  # with_faiss=False
                continue
            if ispec.kind == "flat":
                cand = faiss_equivalent(spec, d, metric, X32)
            else:
                cand = faiss_index_equivalent(ispec, d, metric)
            if cand is None:
                bar.update(f"faiss: no equivalent of {name}", advance=1)
                continue
            bar.update(f"faiss {cand.name}: train")
            ffit, fbuild, fenc = _build_faiss(cand, prepare_rows(train, metric), X32)
            bar.update(f"faiss {cand.name}: search")
            for row in ours:
                knob = row.nprobe if row.nprobe is not None else row.ef
                if cand.tune is not None and knob is not None:
                    cand.tune(knob)
                fI, fqb, fqs = _timed(lambda q, cand=cand: cand.search(q, k)[1], Qf, n_single)
                theirs = measure(
                    "faiss",
                    name,
                    fI,
                    ram_bytes_per_vector=cand.ram_bytes_per_vector(),
                    disk_bytes_per_vector=0.0,
                    qps_batch=fqb,
                    qps_single=fqs,
                    fit_seconds=ffit,
                    encode_per_second=fenc,
                    equivalent=cand.name,
                    index=ispec.kind,
                    nprobe=row.nprobe,
                    ef=row.ef,
                    build_seconds=fbuild,
                )
                row.equivalent = cand.name
                row.qps_batch_ratio = row.qps_batch / max(theirs.qps_batch, 1e-9)
                results.append(theirs)
            bar.update(f"faiss {cand.name}: done", advance=1)
            del cand
    return BenchReport(k=k, n=n, d=d, n_queries=len(queries), metric=metric, dataset=data.name, results=results)


def _build_index(ispec: IndexSpec, pipe: Pipeline, codes: np.ndarray, corpus: Any, train: np.ndarray, random_state: int):
    """``(search(Q, k, knob) -> ids, RAM bytes per vector)`` of the ``ivf``/``hnsw`` index over ``codes``."""
    if ispec.kind == "ivf":
        ivf = IVFIndex(pipe, nlist=ispec.params["nlist"], vectors=corpus, random_state=random_state).train(train)
        ivf.add(codes, vectors=corpus)  # each row's list is picked from its vector, not its decoded code

        def search_ivf(Q: np.ndarray, k: int, value: int) -> np.ndarray:
            return ivf.search(Q, k, nprobe=value).ids

        return search_ivf, ivf.stats().ram_bytes_per_vector
    graph = CodeGraph(pipe, codes, corpus, vectors=corpus, m=ispec.params["m"], random_state=random_state)

    def search_graph(Q: np.ndarray, k: int, value: int) -> np.ndarray:
        return graph.search(Q, k, ef=value).ids

    return search_graph, graph.bytes_per_vector


def _build_faiss(cand: FaissCandidate, train: np.ndarray, X32: np.ndarray) -> tuple[float, float, float]:
    """Train and fill FAISS's index: (train seconds, train + add seconds, rows added per second)."""
    t = time.perf_counter()
    with quiet_native_stderr():
        cand.train(np.ascontiguousarray(train))
    ffit = time.perf_counter() - t
    t = time.perf_counter()
    cand.add(X32)
    add_s = time.perf_counter() - t
    return ffit, ffit + add_s, len(X32) / max(add_s, 1e-9)
