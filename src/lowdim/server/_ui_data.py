"""What the ``/ui`` pages show, computed with the Python API: a collection's facts, side-by-side search, a recall probe.

Every number here comes from :class:`~lowdim.store.Collection` calls: ``info()``, ``search``
with ``rerank=0`` (codes only) and ``rerank=N``, and the exact answer from the full vectors.
The exact answer uses the store's own rule that a search with no more matching rows than
candidates (``k * rerank``) scores every one of them from the full vectors
(:mod:`lowdim.store._query`), so it is the very arithmetic of a rerank, on every row. It
reads every stored vector once per query, so the pages refuse it above
:data:`EXACT_MAX_ROWS` rows.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..diagnose import diagnose
from ..exceptions import ParameterError, ValidationError
from ..store import Collection, CollectionResult, parse_id
from ..validation import check_embeddings

__all__ = [
    "EXACT_MAX_ROWS",
    "EXACT_ROW_BUDGET",
    "DIAGNOSIS_SAMPLE",
    "DiagnosisCache",
    "exact_search",
    "compare",
    "probe",
    "parse_vector",
    "facts",
]

#: above this many live rows the pages do not run an exact search (it reads every stored vector per query)
EXACT_MAX_ROWS = 300_000
#: most stored rows one recall probe may read for its exact answers (queries x live rows): seconds of work
EXACT_ROW_BUDGET = 10_000_000
#: rows sampled (seeded) for the diagnosis summary of a collection page
DIAGNOSIS_SAMPLE = 2_000
#: queries an exact search handles at once: the store rescores up to 4 queries one at a time,
#: a larger batch gathers every row once per query into one array
_EXACT_BATCH = 4


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000.0, 2)


def facts(info: dict[str, Any]) -> dict[str, Any]:
    """The numbers of a collection's card from its ``info()`` dict: RAM vs disk bytes and the compression ratio.

    ``ram_codes``: bytes of codes in RAM; ``ram_total``: every RAM part the store counts;
    ``disk_vectors``: the full vectors on disk; ``ratio``: disk vectors / RAM codes (None when empty).

    Examples
    --------
    >>> f = facts({"ram_bytes": {"codes": 100, "rowids": 20}, "disk_bytes": {"vectors": 1600}})
    >>> f["ratio"], f["ram_total"]
    (16.0, 120)
    """
    ram = {k: int(v) for k, v in (info.get("ram_bytes") or {}).items() if isinstance(v, (int, float))}
    disk = {k: int(v) for k, v in (info.get("disk_bytes") or {}).items() if isinstance(v, (int, float))}
    codes, vectors = ram.get("codes", 0), disk.get("vectors", 0)
    return {
        "ram_codes": codes,
        "ram_total": sum(ram.values()),
        "disk_vectors": vectors,
        "disk_total": sum(disk.values()),
        "ratio": round(vectors / codes, 2) if codes else None,
    }


@dataclass
class DiagnosisCache:
    """The diagnosis summary of each served collection, per generation (recomputed after a write)."""

    _done: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, name: str, generation: int, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        with self._lock:
            hit = self._done.get(name)
        if hit is not None and hit[0] == generation:
            return hit[1]
        value = compute()
        with self._lock:
            self._done[name] = (generation, value)
        return value


def diagnosis_summary(col: Collection, *, sample: int = DIAGNOSIS_SAMPLE, seed: int = 0) -> dict[str, Any]:
    """Intrinsic dimension, cumulative PCA spectrum and hubness of a seeded sample of ``col``'s stored vectors.

    Returns a dict with ``sample``, ``id_twonn``, ``id_mle``, ``dims_95``, ``spectrum`` (cumulative
    explained variance, list of d floats), ``hubness_skewness``, ``antihub_share`` and ``warnings``;
    or ``{"error": ...}`` when the collection is too small to diagnose.
    """
    ids = col.ids()
    if len(ids) < 50:
        return {"error": f"{len(ids)} stored vectors: too few to diagnose (50 at least)"}
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(ids), size=min(sample, len(ids)), replace=False))
    X = col.get([ids[i] for i in pick]).vectors
    t0 = time.perf_counter()
    d = diagnose(X, sample=len(X), k=min(20, len(X) - 2), hubness_k=min(10, len(X) - 2), seed=seed)
    evr = np.asarray(d.explained_variance_ratio, dtype=np.float64)
    return {
        "sample": len(X),
        "id_twonn": round(float(d.id_twonn), 2),
        "id_mle": round(float(d.id_mle), 2),
        "dims_95": int(d.dims_95),
        "spectrum": np.cumsum(evr).round(4).tolist(),
        "hubness_skewness": round(float(d.hubness_skewness), 3),
        "antihub_share": round(float(d.antihub_share), 4),
        "normalized": bool(d.normalized),
        "warnings": list(d.warnings),
        "ms": _ms(t0),
    }


def exact_search(col: Collection, Q: np.ndarray, k: int, *, filter: dict[str, Any] | None = None) -> Any:
    """The exact top ``k`` of each of the (nq, dim) ``Q`` from the full vectors (a CollectionResult of (nq, k)).

    A search whose rerank factor covers every live row (``k * rerank >= len(col)``) scores all
    rows (all matching rows under ``filter``) from the full vectors: the store's exact path.
    """
    n = len(col)
    if n > EXACT_MAX_ROWS:
        raise ParameterError(
            f"exact search reads every stored vector per query; the pages do it up to {EXACT_MAX_ROWS:,} rows, "
            f"and this collection holds {n:,}"
        )
    factor = max(1, math.ceil(max(n, 1) / k))
    parts = [
        col.search(Q[i : i + _EXACT_BATCH], k, rerank=factor, filter=filter, with_metadata=True)
        for i in range(0, len(Q), _EXACT_BATCH)
    ]
    if len(parts) == 1:
        return parts[0]
    meta: list[Any] = []
    for p in parts:
        meta.extend(p.metadata or [])
    return CollectionResult(
        np.concatenate([p.ids for p in parts]), np.concatenate([p.scores for p in parts]), meta, parts[0].exact_reason
    )


def parse_vector(text: str, dim: int) -> np.ndarray:
    """A pasted vector (JSON array, or numbers separated by commas or spaces) as a (1, dim) float32 array.

    Examples
    --------
    >>> parse_vector("[1, 0.5]", 2).tolist()
    [[1.0, 0.5]]
    """
    s = text.strip()
    try:
        values = json.loads(s) if s.startswith("[") else [float(t) for t in s.replace(",", " ").split()]
    except (ValueError, TypeError):
        raise ValidationError(f"the pasted vector must be {dim} numbers (a JSON array, or separated by commas)") from None
    if isinstance(values, list) and len(values) == 1 and isinstance(values[0], list):
        values = values[0]
    if not isinstance(values, list) or len(values) != dim or not all(isinstance(v, (int, float)) for v in values):
        got = len(values) if isinstance(values, list) else type(values).__name__
        raise ValidationError(f"the pasted vector must be {dim} numbers; got {got}")
    return check_embeddings(np.asarray([values], dtype=np.float32), n_features=dim, name="vector")


def query_vector(col: Collection, mode: str, value: str) -> tuple[np.ndarray, str | None, float]:
    """``(Q (1, dim) float32, model or None, embed ms)`` of a query given as ``text``, a stored ``id`` or a ``vector``."""
    if not isinstance(value, str) or not value.strip():
        raise ParameterError("type a query first")
    t0 = time.perf_counter()
    if mode == "text":
        enc = col.encoder  # a collection without an encoder says so in one line
        return enc.encode([value], allow_empty=False), enc.name, _ms(t0)
    if mode == "id":
        rec = col.get([parse_id(value.strip())])
        return np.asarray(rec.vectors, dtype=np.float32), None, _ms(t0)
    if mode == "vector":
        return parse_vector(value, col.settings.dim), None, _ms(t0)
    raise ParameterError(f"the query mode must be one of 'text', 'id', 'vector'. Got {mode!r}.")


def _hits(ids: np.ndarray, scores: np.ndarray, meta: list[Any] | None) -> list[dict[str, Any]]:
    out = []
    for j, (i, s) in enumerate(zip(ids.tolist(), scores.tolist(), strict=True)):
        if i is None:
            continue
        m = meta[j] if meta is not None else None
        out.append({"id": i, "score": float(s), "meta": "" if m is None else json.dumps(m, ensure_ascii=False)[:300]})
    return out


def compare(
    col: Collection,
    Q: np.ndarray,
    k: int,
    rerank: int,
    *,
    filter: dict[str, Any] | None = None,
    model: str | None = None,
    embed_ms: float = 0.0,
) -> dict[str, Any]:
    """The compressed top ``k`` of one query (``rerank`` factor, 0 = codes only) beside the exact one.

    Returns ``codes`` and ``exact`` (lists of hits ``{id, score, meta, rank, shift}``: ``rank`` is the
    hit's rank in the other list, None when absent), ``lost`` (exact hits the codes missed),
    ``overlap`` (|codes ∩ exact| / |exact|), ``timings`` in ms (embed, codes scan, codes + rerank,
    exact) and ``exact_reason`` (set while the codec is untrained: then both sides are exact).
    """
    t0 = time.perf_counter()
    col.search(Q, k, rerank=0, filter=filter, model=model)
    scan_ms = _ms(t0)
    t0 = time.perf_counter()
    res = col.search(Q, k, rerank=rerank, filter=filter, model=model, with_metadata=True)
    search_ms = _ms(t0)
    t0 = time.perf_counter()
    ex = exact_search(col, Q, k, filter=filter)
    exact_ms = _ms(t0)
    codes = _hits(res.ids[0], res.scores[0], res.metadata[0] if res.metadata else None)
    exact = _hits(ex.ids[0], ex.scores[0], ex.metadata[0] if ex.metadata else None)
    pos_exact = {h["id"]: r for r, h in enumerate(exact)}
    pos_codes = {h["id"]: r for r, h in enumerate(codes)}
    for r, h in enumerate(codes):
        h["rank"] = pos_exact.get(h["id"])
        h["shift"] = None if h["rank"] is None else h["rank"] - r
    for r, h in enumerate(exact):
        h["rank"] = pos_codes.get(h["id"])
        h["shift"] = None if h["rank"] is None else h["rank"] - r
    hit = sum(1 for h in exact if h["rank"] is not None)
    return {
        "k": k,
        "rerank": rerank,
        "codes": codes,
        "exact": exact,
        "lost": [h for h in exact if h["rank"] is None],
        "overlap": hit / len(exact) if exact else 1.0,
        "hit": hit,
        "timings": {"embed": embed_ms, "codes": scan_ms, "codes_rerank": search_ms, "exact": exact_ms},
        "exact_reason": res.exact_reason,
    }


def _recall_rows(found: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-query |found ∩ truth| / |truth| of (nq, k) object id arrays (None: padding)."""
    out = np.ones(len(truth))
    for i, (f, t) in enumerate(zip(found.tolist(), truth.tolist(), strict=True)):
        want = {x for x in t if x is not None}
        if want:
            out[i] = len(want & {x for x in f if x is not None}) / len(want)
    return out


def probe(
    col: Collection, k: int, rerank: int, *, m: int = 50, seed: int = 0, queries: np.ndarray | None = None
) -> dict[str, Any]:
    """Recall@k of codes only and with ``rerank`` against exact, over ``m`` seeded stored items (or ``queries``).

    Returns ``recall_codes`` / ``recall_rerank`` (per query, lists of m floats), their means,
    ``queries`` (the stored ids used, or None for uploaded vectors), the ``worst`` queries (index,
    id, both recalls; lowest rerank recall first, at most 10) and ``timings`` (ms).
    """
    ids: list[Any] | None = None
    n_queries = m if queries is None else len(queries)
    if n_queries * len(col) > EXACT_ROW_BUDGET:
        raise ParameterError(
            f"the probe's exact answers would read {n_queries:,} x {len(col):,} stored vectors; "
            f"ask for at most {max(1, EXACT_ROW_BUDGET // max(len(col), 1)):,} queries on this collection"
        )
    if queries is None:
        live = col.ids()
        if not live:
            raise ParameterError("the collection is empty: nothing to probe")
        rng = np.random.default_rng(seed)
        pick = np.sort(rng.choice(len(live), size=min(m, len(live)), replace=False))
        ids = [live[i] for i in pick]
        Q = np.asarray(col.get(ids).vectors, dtype=np.float32)
    else:
        Q = check_embeddings(queries, n_features=col.settings.dim, name="queries", dtype=np.float32)
    t0 = time.perf_counter()
    codes = col.search(Q, k, rerank=0)
    codes_ms = _ms(t0)
    t0 = time.perf_counter()
    rer = col.search(Q, k, rerank=rerank)
    rerank_ms = _ms(t0)
    t0 = time.perf_counter()
    ex = exact_search(col, Q, k)
    exact_ms = _ms(t0)
    rc, rr = _recall_rows(codes.ids, ex.ids), _recall_rows(rer.ids, ex.ids)
    order = np.lexsort((rc, rr))[:10]
    worst = [
        {
            "index": int(i),
            "id": None if ids is None else ids[i],
            "vector": None if ids is not None else json.dumps([round(float(v), 6) for v in Q[i]]),
            "recall_codes": float(rc[i]),
            "recall_rerank": float(rr[i]),
        }
        for i in order
    ]
    return {
        "k": k,
        "rerank": rerank,
        "n_queries": len(Q),
        "queries": ids,
        "recall_codes": rc.tolist(),
        "recall_rerank": rr.tolist(),
        "mean_codes": float(rc.mean()),
        "mean_rerank": float(rr.mean()),
        "worst": worst,
        "timings": {"codes": codes_ms, "codes_rerank": rerank_ms, "exact": exact_ms},
        "exact_reason": codes.exact_reason,
    }
