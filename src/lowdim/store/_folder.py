"""The collection folder before a ``Collection`` object exists: the settings of a new one (from a plan, an
encoder, or arguments where ``None`` means the default), creating it (it appears complete or not at all),
and the checks of opening it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Protocol

from ..exceptions import ConflictError, FileFormatError, NotFoundError, ParameterError
from ..spec import Pipeline, parse_index_spec, parse_spec
from ._catalog import CATALOG_NAME, Catalog, CodecRecord
from ._files import fsync_dir
from ._layout import GRAPH_DIR, SEGMENTS_DIR, creating_dir
from ._manifest import MANIFEST_NAME, Settings, read_manifest, write_manifest
from ._state import State
from ._training import save_codec

__all__ = ["PlanLike", "resolve_settings", "make_folder", "open_folder"]


class _Recommendation(Protocol):
    @property
    def spec(self) -> str: ...


class PlanLike(Protocol):
    """What :meth:`Collection.create` reads from a plan (:class:`lowdim.plan.Plan` has it).

    ``d`` and ``metric`` are the width and metric the plan measured; ``recommended.spec``
    is the full spec (``+rerankN`` included); ``require_feasible()`` raises
    :class:`~lowdim.plan.TargetNotMetError` when nothing met the target; ``codec`` is the
    fitted pipeline the recommendation was measured with, or None (a plan read from JSON
    without its codec file).
    """

    @property
    def d(self) -> int: ...
    @property
    def metric(self) -> str: ...
    @property
    def recommended(self) -> _Recommendation | None: ...
    @property
    def codec(self) -> Pipeline | None: ...

    def require_feasible(self) -> Any: ...


def resolve_settings(
    *,
    plan: PlanLike | None,
    dim: int | None,
    spec: str | None,
    metric: str | None,
    model: str | None,
    encoder: str | None,
    **rest: Any,
) -> tuple[Settings, Pipeline | None]:
    """The validated settings of a new collection, and the fitted codec it starts with (a plan's) or None."""
    codec = None
    if plan is not None:
        if spec is not None:
            raise ParameterError(
                f"give either spec or plan, not both (spec={spec!r}); the plan's recommended spec is the collection's"
            )
        plan.require_feasible()
        spec = plan.recommended.spec  # type: ignore[union-attr]
        ix = getattr(plan, "index", None)
        if ix is not None and ix.nprobe is not None:  # the plan's IVF lists, nprobe and codes
            spec = ix.spec
            rest = {**rest, "nprobe": rest.get("nprobe") or ix.nprobe}
        if dim is not None and dim != plan.d:
            raise ParameterError(
                f"dim={dim} contradicts the plan, which was made for {plan.d}-dimensional vectors; leave dim out"
            )
        if metric is not None and metric != plan.metric:
            raise ParameterError(
                f"metric={metric!r} contradicts the plan, which was measured with metric={plan.metric!r}; "
                f"leave metric out, or plan again with metric={metric!r}"
            )
        dim, metric, codec = plan.d, plan.metric, getattr(plan, "codec", None)
        if codec is not None and ix is not None and ix.nprobe is not None and not ix.spec.endswith("/" + codec.to_spec()):
            codec = None  # the index chose larger codes than the flat recommendation: the collection fits them
    if encoder is not None:
        from ..encoders import shared_encoder

        enc = shared_encoder(encoder)
        if model is not None and model != enc.name:
            raise ParameterError(f"model '{model}' contradicts encoder '{encoder}' (whose model is {enc.name}); give one of them")
        if dim is not None and dim != enc.dim:
            raise ParameterError(f"dim={dim} contradicts encoder '{encoder}', whose vectors have {enc.dim} dimensions")
        dim, model = enc.dim, enc.name
    if isinstance(spec, str):
        spec, rest = _split_index(spec, rest)
    if dim is None:
        raise ParameterError("Collection.create needs dim= (the vector width), encoder= for a text collection, or plan=")
    settings = Settings.with_defaults(dim=dim, spec=spec, metric=metric, model=model, encoder=encoder, **rest).validated()
    least = parse_spec(settings.spec).min_fit_rows(settings.dim)
    if settings.train_size < least:
        raise ParameterError(
            f"The 'train_size' parameter of Collection must be >= {least} for spec '{settings.spec}' "
            f"(a fit on fewer vectors cannot run). Got {settings.train_size}."
        )
    if codec is not None:
        got = (codec.to_spec(), codec.metric, getattr(codec, "n_features_in_", None))
        if got != (settings.spec, settings.metric, settings.dim):
            raise ParameterError(
                f"the plan's codec is a {got[0]} codec ({got[1]}, {got[2]} features); "
                f"the plan recommends {settings.spec} ({settings.metric}, {settings.dim} features)"
            )
    return settings, codec


def make_folder(root: Path, settings: Settings, codec: Pipeline | None) -> None:
    """Create the collection folder ``root`` (absent or empty), with ``codec`` as its codec (source "plan") if given.

    Everything is written into a temporary sibling folder that is renamed into place last.
    """
    if root.exists():
        if (root / MANIFEST_NAME).exists() or (root / CATALOG_NAME).exists():
            raise ConflictError(f"a collection already exists at {root}; open it with Collection.open({str(root)!r})")
        if not root.is_dir() or any(root.iterdir()):
            raise ConflictError(f"{root} exists and is not an empty folder; choose a new path for the collection")
    parent = root.absolute().parent
    if not parent.is_dir():
        raise FileFormatError(f"cannot create collection {root}: folder {parent} does not exist")
    tmp = creating_dir(root)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        (tmp / SEGMENTS_DIR).mkdir()
        (tmp / GRAPH_DIR).mkdir()
        state = State(tmp, settings)
        state.generation = 0
        if codec is not None:
            num = state.reserve()
            state.codec, state.codec_rec = codec, CodecRecord(save_codec(tmp, num, codec), num, None, "plan")
        cat = Catalog(tmp, create=True)
        try:
            with cat.write() as tx:
                rec = state.codec_rec.to_dict() if state.codec_rec is not None else None
                tx.put(
                    settings=settings.to_dict(), generation=0, next_rowid=0, next_file=state.next_file, next_auto_id=0, codec=rec
                )
        finally:
            cat.close()
        write_manifest(tmp, settings, state.summary())
        fsync_dir(tmp)
        if root.exists():
            root.rmdir()
        os.rename(tmp, root)  # the collection appears complete or not at all
        fsync_dir(parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def open_folder(root: Path) -> tuple[Settings, Catalog]:
    """The settings and an open catalog of the collection folder ``root``; one-line errors for anything else."""
    if not root.exists():
        raise NotFoundError(
            f"no collection at {root}; create one with 'lowdim create {root} --dim D' or Collection.create(path, dim=D)"
        )
    if not root.is_dir():
        raise FileFormatError(f"{root} is a file, not a collection folder")
    if not (root / MANIFEST_NAME).exists() and not (root / CATALOG_NAME).exists():
        raise FileFormatError(f"{root} is not a lowdim collection (it has no {MANIFEST_NAME})")
    settings = Settings.from_dict(read_manifest(root)["settings"], f"{MANIFEST_NAME} in collection {root}")
    catalog = Catalog(root)
    try:
        stored = catalog.get("settings")
        if not isinstance(stored, dict):
            raise FileFormatError(f"{CATALOG_NAME} in collection {root} has no settings; run 'lowdim check {root}'")
        if Settings.from_dict(stored, CATALOG_NAME) != settings:
            raise FileFormatError(
                f"{MANIFEST_NAME} and {CATALOG_NAME} of collection {root} disagree on the settings; "
                f"run 'lowdim check {root}' to rebuild the manifest"
            )
    except BaseException:
        catalog.close()
        raise
    return settings, catalog


def _split_index(spec: str, rest: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``ivf1024/pq96x4+rerank10`` -> the codec spec, with ``index="ivf"`` and ``nlist=1024`` in the settings."""
    parsed = parse_index_spec(spec)
    if parsed.kind == "flat":
        return spec, rest
    if parsed.kind == "hnsw":  # a collection's graph is over fp16 vectors, not over the codes
        raise ParameterError(
            f"spec '{spec}': the hnsw<M>/ prefix (a graph over the codes) is for lowdim bench; "
            f"a collection takes spec '{parsed.codec.to_spec()}' with index='hnsw'"
        )
    index, nlist = rest.get("index"), rest.get("nlist")
    if index is not None and index != parsed.kind:
        raise ParameterError(f"spec '{spec}' asks for an {parsed.kind} index, but index={index!r}; give one of them")
    if nlist is not None and nlist != parsed.params["nlist"]:
        raise ParameterError(f"spec '{spec}' asks for nlist {parsed.params['nlist']}, but nlist={nlist}; give one of them")
    return parsed.codec.to_spec(), {**rest, "index": parsed.kind, "nlist": parsed.params["nlist"]}
