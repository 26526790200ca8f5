"""``lowdim shard build | info | search``: a thin layer over :func:`build_sharded` and :class:`ShardedCollection`.

Every bad input raises one of lowdim's errors, which ``lowdim.cli.main`` prints as one line (exit code 2).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from .._progress import say as _say

__all__ = ["register"]

_ADDRESS_HELP = "Ray address: local, auto or ray://host:port (default: no Ray, in this process)."


def register(app: typer.Typer) -> None:
    """Add the ``shard`` command group to ``app``."""
    shard = typer.Typer(help="Sharded collections: build (on Ray or here), inspect, search.", no_args_is_help=True)
    shard.command("build", help="Build a sharded collection from a vectors file (codec fitted once, one task per shard).")(build)
    shard.command("info", help="Show a sharded collection's manifest and counts.")(info)
    shard.command("search", help="Search a sharded collection (fan-out to every shard, merged and reranked).")(search)
    app.add_typer(shard, name="shard")


def build(
    vectors: Annotated[
        Path, typer.Argument(help="Vectors: .npy (memory-mapped), .fvecs, .hdf5 or .parquet.", show_default=False)
    ],
    out: Annotated[Path, typer.Argument(help="The sharded collection folder.", show_default=False)],
    shards: Annotated[int, typer.Option("--shards", help="Number of shards.")] = 4,
    spec: Annotated[str, typer.Option("--spec", help="Codec spec, e.g. pq48x4+rerank10.")] = "int8+rerank4",
    metric: Annotated[str, typer.Option("--metric", help="cosine, ip or l2.")] = "cosine",
    ids: Annotated[Path | None, typer.Option("--ids", help="Text file with one id per line (default: row numbers).")] = None,
    metadata: Annotated[Path | None, typer.Option("--metadata", help="JSONL: line i holds the metadata of vector i.")] = None,
    train_size: Annotated[int, typer.Option("--train-size", help="Rows of the seeded sample the codec is fitted on.")] = 20_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sample and the fit.")] = 0,
    index: Annotated[str, typer.Option("--index", help="Each shard's index: flat, hnsw or ivf.")] = "flat",
    vector_dtype: Annotated[str, typer.Option("--vector-dtype", help="Full vectors on disk: float16 or float32.")] = "float16",
    batch_rows: Annotated[
        int, typer.Option("--batch-rows", help="Rows per durable add (a re-run resumes after the last).")
    ] = 10_000,
    address: Annotated[str | None, typer.Option("--address", help=_ADDRESS_HELP)] = None,
) -> None:
    """Build the sharded collection OUT from VECTORS; running it again after a failure resumes it."""
    from ..store import read_records
    from ._shard_build import build_sharded

    rec = read_records(vectors, ids=ids, metadata=metadata)
    source: Any = str(vectors) if vectors.suffix == ".npy" else rec.vectors
    t = time.perf_counter()
    doc = build_sharded(
        out,
        source,
        shards=shards,
        spec=spec,
        ids=rec.ids,
        metadata=rec.metadata,
        metric=metric,
        train_size=train_size,
        seed=seed,
        index=index,
        vector_dtype=vector_dtype,
        batch_rows=batch_rows,
        ray_address=address,
    )
    counts = [s["count"] for s in doc["shards"]]
    _say(f"built {out}: {sum(counts):,} vectors in {len(counts)} shards {counts}, spec {spec}, in {time.perf_counter() - t:.1f}s")


def info(
    path: Annotated[Path, typer.Argument(help="The sharded collection folder.", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print the full info as JSON.")] = False,
) -> None:
    """Show the sharded collection PATH: spec, generation, shards and their counts."""
    from ._sharded import ShardedCollection

    with ShardedCollection.open(path, readonly=True) as sc:
        d = sc.info()
    if as_json:
        print(json.dumps(d, indent=1))
        return
    _say(f"{path}: {d['count']:,} vectors in {d['n_shards']} shards, spec {d['spec']}, metric {d['metric']}, dim {d['dim']}")
    _say(f"generation {d['generation']}, index {d['index']}, ids routed by {d['id_scheme']}, codec {d['codec']['file']}")
    for s in d["shards"]:
        _say(f"  {s['path']}: {s['count']:,}")


def search(
    path: Annotated[Path, typer.Argument(help="The sharded collection folder.", show_default=False)],
    queries: Annotated[
        Path, typer.Option("--queries", help="Query vectors (.npy, .fvecs, .hdf5, .parquet).", show_default=False)
    ],
    k: Annotated[int, typer.Option("--k", help="Results per query.")] = 10,
    filter: Annotated[str | None, typer.Option("--filter", help="Metadata filter as JSON.")] = None,
    rerank: Annotated[int | None, typer.Option("--rerank", help="Rerank factor (default: the spec's; 0 disables).")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the results here as JSON.", metavar="FILE")] = None,
    show: Annotated[int, typer.Option("--show", help="Queries printed.")] = 3,
    address: Annotated[str | None, typer.Option("--address", help=_ADDRESS_HELP)] = None,
) -> None:
    """Search the sharded collection PATH with the vectors of --queries."""
    from ..eval import read_vectors
    from ..store import filter_from_json
    from ._sharded import ShardedCollection

    flt = filter_from_json(filter)
    Q = read_vectors(queries, mmap=False)
    with ShardedCollection.open(path, ray_address=address, readonly=True) as sc:
        t = time.perf_counter()
        res = sc.search(Q, k, filter=flt, rerank=rerank)
        took = time.perf_counter() - t
    if json_path is not None:
        json_path.write_text(json.dumps(res.to_dict()) + "\n", encoding="utf-8")
    ids, scores = res.to_lists()
    for q in range(min(show, len(Q))):
        hits = ", ".join(f"{i} ({s:.4f})" for i, s in zip(ids[q], scores[q], strict=True) if i is not None)
        _say(f"query {q}: {hits}")
    _say(f"{len(Q):,} queries in {took * 1e3:.1f} ms" + (f"; results in {json_path}" if json_path else ""))
