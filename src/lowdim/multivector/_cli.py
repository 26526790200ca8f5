"""``lowdim multivector create | add | search | info``: a thin layer over :class:`MultiVectorCollection`.

Token sets come as two ``.npy`` files (rows (N, d) float16/32 and offsets (n + 1,) int), or,
for search queries, a JSON file holding a list of token sets (each a list of lists of numbers).
Every bad input raises one of lowdim's errors, printed as one line by ``lowdim.cli.main``.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from .._progress import say as _say
from ..exceptions import FileFormatError, ParameterError, UntrainedWarning

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``multivector`` command group to ``app``."""
    group = typer.Typer(help="Multi-vector (token set) collections: MUVERA first stage, exact Chamfer rerank from disk.")
    group.command("create", help="Create an empty multi-vector collection folder.")(create)
    group.command("add", help="Add documents' token sets (rows .npy + offsets .npy) with optional JSONL metadata.")(add)
    group.command("search", help="Search with query token sets (rows .npy + offsets .npy, or a JSON list of token sets).")(search)
    group.command("info", help="Show a multi-vector collection's settings, counts and sizes.")(info)
    app.add_typer(group, name="multivector")


def _load_npy(path: Path, what: str) -> np.ndarray:
    if not path.is_file():
        raise FileFormatError(f"{what} file {path} does not exist")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise FileFormatError(f"cannot read {what} file {path} as .npy: {exc}") from None


def _read_json_sets(path: Path) -> list[Any]:
    if not path.is_file():
        raise FileFormatError(f"queries file {path} does not exist")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise FileFormatError(f"{path} is not JSON: {exc}") from None
    if not isinstance(value, list) or not value or not all(isinstance(s, list) for s in value):
        raise FileFormatError(f"{path} must hold a non-empty list of token sets, each a list of lists of numbers")
    try:
        return [np.asarray(s, dtype=np.float32) for s in value]
    except (ValueError, TypeError) as exc:
        raise FileFormatError(f"{path}: a token set is not a list of equal-length lists of numbers ({exc})") from None


def _read_jsonl(path: Path) -> list[dict | None]:
    """One JSON object (or null) per line; a bad line is a one-line error naming it."""
    if not path.is_file():
        raise FileFormatError(f"metadata file {path} does not exist")
    out: list[dict | None] = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            value = json.loads(line)
        except ValueError:
            raise FileFormatError(f"{path.name} line {i} is not JSON; expected one object per document ({{}} for none)") from None
        if value is not None and not isinstance(value, dict):
            raise FileFormatError(f"{path.name} line {i} holds a {type(value).__name__}; expected a JSON object or null")
        out.append(value)
    return out


def create(
    path: Annotated[Path, typer.Argument(help="New folder for the collection.", show_default=False)],
    dim: Annotated[int, typer.Option("--dim", help="Token width.", show_default=False)],
    spec: Annotated[str | None, typer.Option("--spec", help="Spec of the first-stage vector (default pca512/int8).")] = None,
    k_sim: Annotated[int | None, typer.Option("--k-sim", help="FDE SimHash bits per repetition (default 3).")] = None,
    d_proj: Annotated[
        int | None, typer.Option("--d-proj", help="FDE projection width per bucket (default min(32, dim)).")
    ] = None,
    reps: Annotated[int | None, typer.Option("--reps", help="FDE repetitions (default 20).")] = None,
    fill_empty: Annotated[bool, typer.Option("--fill-empty", help="FDE: fill empty document buckets.")] = False,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the FDE draws (default 0).")] = None,
    pooled_weight: Annotated[
        float | None, typer.Option("--pooled-weight", help="Weight w of the pooled vector (w**2 times its cosine; 0: none).")
    ] = None,
    candidates: Annotated[int | None, typer.Option("--candidates", help="Documents reranked per query by default.")] = None,
    train_size: Annotated[int | None, typer.Option("--train-size", help="Fit the codec on at most N documents.")] = None,
) -> None:
    """Create an empty multi-vector collection at PATH."""
    from ._collection import DEFAULT_CANDIDATES, DEFAULT_POOLED_WEIGHT, DEFAULT_SPEC, MultiVectorCollection, default_fde

    fde = default_fde(max(int(dim), 1), k_sim=k_sim, d_proj=d_proj, reps=reps, fill_empty=fill_empty, seed=seed)
    col = MultiVectorCollection.create(
        path,
        dim=dim,
        spec=spec or DEFAULT_SPEC,
        fde=fde,
        pooled_weight=DEFAULT_POOLED_WEIGHT if pooled_weight is None else pooled_weight,
        candidates=DEFAULT_CANDIDATES if candidates is None else candidates,
        train_size=train_size,
    )
    d = col.info()
    col.close()
    _say(
        f"created {path}: dim {d['dim']}, FDE {d['fde_dim']}-d, pooled weight {d['pooled_weight']}, "
        f"spec {d['spec']} ({d['ram_bytes_per_document']} B per document in RAM), {d['candidates']} candidates"
    )


def add(
    path: Annotated[Path, typer.Argument(help="The collection folder.", show_default=False)],
    rows: Annotated[Path, typer.Argument(help="Token rows (N, dim) .npy.", show_default=False)],
    offsets: Annotated[Path, typer.Argument(help="Offsets (n + 1,) .npy: document i is rows[o[i]:o[i+1]].", show_default=False)],
    metadata: Annotated[Path | None, typer.Option("--metadata", help="JSONL: line i holds document i's metadata.")] = None,
    ids: Annotated[Path | None, typer.Option("--ids", help="Text file with one id per line.")] = None,
) -> None:
    """Add the documents of ROWS + OFFSETS to the collection PATH (without ids: 0, 1, 2, ...)."""
    from ..store import read_ids
    from ._collection import MultiVectorCollection

    sets = (_load_npy(rows, "token rows"), np.asarray(_load_npy(offsets, "offsets")))
    the_ids = read_ids(ids) if ids is not None else None
    meta = _read_jsonl(metadata) if metadata is not None else None
    with MultiVectorCollection.open(path) as col:
        t = time.perf_counter()
        got = col.add(sets, the_ids, meta)
        took = time.perf_counter() - t
        count = len(col)
    _say(f"added {len(got):,} documents to {path} in {took:.1f}s ({count:,} in the collection)")


def search(
    path: Annotated[Path, typer.Argument(help="The collection folder.", show_default=False)],
    queries: Annotated[
        Path, typer.Argument(help="Query token rows .npy (with --offsets) or a JSON list of token sets.", show_default=False)
    ],
    offsets: Annotated[Path | None, typer.Option("--offsets", help="Offsets .npy of the query rows.")] = None,
    k: Annotated[int, typer.Option("--k", help="Results per query.")] = 10,
    candidates: Annotated[int | None, typer.Option("--candidates", help="Documents reranked per query.")] = None,
    filter: Annotated[str | None, typer.Option("--filter", help="Metadata filter as JSON.")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the results as JSON here.", metavar="FILE")] = None,
    show: Annotated[int, typer.Option("--show", help="Queries printed.")] = 5,
) -> None:
    """Search the collection PATH with query token sets; print the top k (exact Chamfer scores)."""
    from ..store import filter_from_json
    from ._collection import MultiVectorCollection

    flt = filter_from_json(filter)
    if json_path is not None and not json_path.absolute().parent.is_dir():
        raise FileFormatError(f"cannot write results {json_path}: folder {json_path.absolute().parent} does not exist")
    if queries.suffix.lower() == ".json":
        if offsets is not None:
            raise ParameterError("--offsets goes with .npy query rows, not with a JSON file of token sets")
        sets: Any = _read_json_sets(queries)
    else:
        if offsets is None:
            raise ParameterError("query rows .npy need --offsets FILE.npy (or give a .json list of token sets)")
        sets = (np.asarray(_load_npy(queries, "query rows")), np.asarray(_load_npy(offsets, "offsets")))
    with MultiVectorCollection.open(path, readonly=True) as col:
        t = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UntrainedWarning)
            res = col.search(sets, k, candidates=candidates, filter=flt)
        took = time.perf_counter() - t
    if json_path is not None:
        json_path.write_text(json.dumps(res.to_dict()) + "\n", encoding="utf-8")
    ids, scores = res.to_lists()
    for i in range(min(show, len(ids))):
        hits = ", ".join(f"{u} ({s:.3f})" for u, s in zip(ids[i], scores[i]) if u is not None)
        _say(f"query {i}: {hits}")
    _say(f"{len(ids)} queries in {took:.2f}s")


def info(path: Annotated[Path, typer.Argument(help="The collection folder.", show_default=False)]) -> None:
    """Print the settings, counts and sizes of the multi-vector collection PATH as JSON."""
    from ._collection import MultiVectorCollection

    with MultiVectorCollection.open(path, readonly=True) as col:
        d = col.info()
    _say(json.dumps(d, indent=1, default=str))
