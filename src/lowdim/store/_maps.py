"""Query maps stored in a collection: new-model queries searching an index built by an older model.

:meth:`Collection.add_map` stores a :class:`~lowdim.compat.QueryMap` as the collection file
``map-MMMMMMMM.npz`` (one per mapped model; a new map for the same model replaces the old one),
registered in the catalog's ``maps`` entry with its size and CRC-32 in one commit, like the
codec file. :meth:`Collection.search` with ``model="NAME"`` (another model than the
collection's) maps the queries through NAME's map first; a model with no map is refused with a
one-line error naming the models that have one. Map files are checked (size, CRC-32, contents)
when first used and by ``lowdim check``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..compat import QueryMap
from ..exceptions import DimensionError, NotFoundError, ParameterError, ValidationError
from ._files import FileInfo, check_file, file_crc32, fsync_dir
from ._layout import map_name
from ._manifest import Settings
from ._state import State

__all__ = ["add_query_map", "map_queries", "refuse_model", "encoder_for", "query_map_of"]

_CACHE: dict[tuple[str, str, int], QueryMap] = {}
_CACHE_LOCK = threading.Lock()


def canonical_model(model: str) -> str:
    """A bundled model's short name as its canonical one (``all-MiniLM-L6-v2`` -> ``sentence-transformers/...``).

    Text collections record canonical names, so a map added as ``all-MiniLM-L6-v2`` serves
    ``search_text(..., model="all-MiniLM-L6-v2")``. Other names are kept as they are.
    """
    if "/" in model or Path(model).exists():
        return model
    from ..encoders import resolve_model

    try:
        return resolve_model(model)[1]
    except NotFoundError:
        return model


def add_query_map(writer: Any, query_map: Any, model: Any) -> FileInfo:
    """Store ``query_map`` for queries of ``model`` in the collection of ``writer`` (one file, one commit)."""
    s: Settings = writer.settings
    if not isinstance(query_map, QueryMap):
        raise ParameterError(
            f"add_map needs a lowdim.compat.QueryMap (from fit_map or QueryMap.load). Got {type(query_map).__name__}."
        )
    if not isinstance(model, str) or not model.strip():
        raise ParameterError(f"The 'model' parameter of add_map must be a non-empty model name. Got {model!r}.")
    model = canonical_model(model)
    if s.model is not None and model == s.model:
        raise ParameterError(f"model '{model}' is this collection's own model: its queries need no map")
    if query_map.n_features_out_ != s.dim:
        raise DimensionError(f"the query map outputs {query_map.n_features_out_} features, but {s.describe()} expects {s.dim}")
    writer.begin()
    st: State = writer.state
    num = st.reserve()
    name = map_name(num)
    try:
        path = query_map.save(writer.root / name)
        fsync_dir(writer.root)
        info = FileInfo(name, path.stat().st_size, file_crc32(path))
        maps = {**st.map_recs, model: info}
        with writer.catalog.write() as tx:
            tx.put(
                maps={m: i.to_dict() for m, i in sorted(maps.items())},
                generation=st.generation + 1,
                next_file=st.next_file,
            )
    except BaseException:
        writer.abort([name])
        raise
    writer._committed()
    st.map_recs = maps
    writer.write_manifest()
    writer.collect_garbage()  # the map it replaced, if any
    return info


def refuse_model(settings: Settings, state: State, model: str) -> ValidationError:
    """The one-line refusal of queries from ``model``, naming the models that do have a map."""
    have = ", ".join(f"'{m}'" for m in sorted(state.map_recs)) or "none"
    return ValidationError(
        f"vectors from model '{model}' do not fit {settings.describe()}: embeddings of different models are "
        f"not comparable; models with a query map: {have} (fit one with lowdim.compat.fit_map and store it "
        f"with Collection.add_map or 'lowdim map add')"
    )


def load_map(root: Path, info: FileInfo) -> QueryMap:
    """The map in ``info`` (size and CRC-32 checked once per process and file)."""
    key = (str(root), info.name, info.crc32)
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
    if cached is not None:
        return cached
    check_file(root, info, crc=True)
    qmap = QueryMap.load(root / info.name)
    with _CACHE_LOCK:
        _CACHE[key] = qmap
    return qmap


def query_map_of(settings: Settings, state: State, model: str) -> QueryMap:
    """The stored map of ``model``'s queries (refused, naming the models with one, when there is none)."""
    info = state.map_recs.get(model) or state.map_recs.get(canonical_model(model))
    if info is None:
        raise refuse_model(settings, state, model)
    return load_map(state.root, info)


def map_queries(settings: Settings, state: State, model: str | None, queries: Any) -> tuple[Any, str | None]:
    """``(queries, model)`` to search with: mapped (model None) when ``model`` has a map, else unchanged.

    A model other than the collection's with no map is refused (:func:`refuse_model`).
    """
    if model is None or model == settings.model:
        return queries, model
    info = state.map_recs.get(model) or state.map_recs.get(canonical_model(model))
    if info is None:
        if settings.model is None:
            return queries, model  # a collection that names no model takes any (as before maps)
        raise refuse_model(settings, state, model)
    mapped: np.ndarray = load_map(state.root, info).transform(queries)
    return mapped, None


def encoder_for(model: str) -> Any:
    """The shared :class:`~lowdim.encoders.TextEncoder` of ``model`` (``search_text(..., model=)``), loaded lazily."""
    from ..encoders import shared_encoder

    return shared_encoder(model)
