"""The nearest settings of other engines for a lowdim spec: FAISS, Qdrant, pgvector.

A plan is useful to people who keep their current database. :func:`export_settings`
turns a spec such as ``pq48x8+rerank4`` into

- **faiss**: a runnable Python snippet around an ``index_factory`` string with
  ``RFlat`` refinement and its ``k_factor``, plus the code size FAISS reports;
- **qdrant**: a JSON document with the collection's ``quantization_config`` and the
  search-time ``quantization`` parameters (``rescore``, ``oversampling``);
- **pgvector**: SQL with an HNSW expression index over ``binary_quantize`` (sign
  codes) or ``halfvec`` (everything else) and a re-rank query over the full vectors.

Where an engine has no exact counterpart the output says so in a note (e.g. Qdrant
has no 4-bit scalar quantizer, pgvector no PQ, and only lowdim centres sign codes).
The plan measured lowdim's exhaustive scan: an engine's HNSW graph adds its own loss.

:func:`export_config` gives the same settings as data (:class:`EngineSettings`): what
:func:`~lowdim.plan.verify_export` builds in the engine, and whose search-time knobs
(``k_factor``, ``oversampling``, ``ef_search`` ...) it raises and prints back.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from ..codecs import Quantizer, Transform
from ..exceptions import ParameterError
from ..spec import Spec, SpecLike, StageSpec, parse_spec
from ..validation import check_choice, check_k, check_metric, check_positive_int

__all__ = [
    "ENGINES",
    "EngineSettings",
    "export_config",
    "export_settings",
    "faiss_factory",
    "pgvector_scan",
    "pgvector_sql",
    "PG_MAX_EF_SEARCH",
]

#: engines :func:`export_settings` knows
ENGINES = ("faiss", "qdrant", "pgvector")


@dataclass(frozen=True)
class EngineSettings:
    """An engine's nearest settings for a spec, as data; :attr:`text` prints them as :func:`export_settings` does.

    Attributes
    ----------
    engine : {"faiss", "qdrant", "pgvector"}
    spec : str
        The lowdim spec the settings stand for.
    d, metric, k
        Input width, metric and results per query the settings were made for.
    width : int
        Width of the vectors the engine indexes (after a truncation or projection).
    client_transforms : tuple of str
        lowdim transforms (spec pieces, in order) the client applies before the engine
        sees the vectors (``mrl`` for FAISS, projections for Qdrant and pgvector); empty
        when the engine takes the vectors as they are.
    config : dict
        Build settings: faiss ``{"factory", "code_size"}``; qdrant ``{"create_collection"}``;
        pgvector ``{"setup", "code_col", "code_query", "code_op", "op"}`` (SQL pieces).
    knobs : dict
        Search-time values: faiss ``k_factor`` (None without ``RFlat``); qdrant ``rescore``,
        ``oversampling`` (only with quantization), ``hnsw_ef`` (None: Qdrant's default),
        ``exact``; pgvector ``candidates`` (the re-rank subquery's LIMIT, 0: no re-rank),
        ``ef_search`` and ``iterative_scan`` (None: pgvector's default).
    notes : tuple of str

    Examples
    --------
    >>> s = export_config("binary+rerank4", "qdrant", d=384)
    >>> s.knobs["oversampling"], s.with_knobs(oversampling=8.0).knobs["oversampling"]
    (4.0, 8.0)
    """

    engine: str
    spec: str
    d: int
    metric: str
    k: int
    width: int
    client_transforms: tuple[str, ...]
    config: dict[str, Any]
    knobs: dict[str, Any]
    notes: tuple[str, ...]

    @property
    def text(self) -> str:
        """The settings as text to paste (what :func:`export_settings` returns)."""
        return _RENDER[self.engine](self)

    def with_knobs(self, **values: Any) -> EngineSettings:
        """A copy with some search-time knobs changed (FAISS also takes ``ParameterSpace`` names such as ``efSearch``).

        pgvector's ``ef_search`` and ``iterative_scan`` follow a raised ``candidates`` (see :func:`pgvector_scan`).
        """
        unknown = sorted(set(values) - set(self.knobs))
        if unknown and self.engine != "faiss":
            raise ParameterError(
                f"{self.engine} has no knob {unknown[0]!r} for '{self.spec}'; its knobs are {', '.join(sorted(self.knobs))}"
            )
        knobs = {**self.knobs, **values}
        if self.engine == "pgvector" and knobs.get("candidates"):  # the index must be able to return the LIMIT
            knobs.update(pgvector_scan(int(knobs["candidates"]), knobs.get("ef_search")))
        return dataclasses.replace(self, knobs=knobs)


def faiss_factory(spec: SpecLike, d: int) -> tuple[str, list[str]]:
    """FAISS ``index_factory`` string nearest to ``spec`` and notes on what differs.

    ``+rerank<N>`` becomes ``,RFlat`` (set ``k_factor = N`` on the ``IndexRefineFlat``).
    ``mrl<p>`` has no FAISS transform: the string is for the truncated vectors.
    ``hamming`` has no factory string either: FAISS's own binary index is ``IndexBinaryFlat``.

    Examples
    --------
    >>> faiss_factory("opq48/pq48x8+rerank4", 384)[0]
    'OPQ48,PQ48np,RFlat'
    >>> faiss_factory("pca128/rbq2", 384)[0]
    'PCA128,RaBitQ2'
    """
    s = parse_spec(spec)
    s.check(d)
    notes: list[str] = []
    pre: list[str] = []
    for t in s.transforms:  # each codec declares its FAISS counterpart and what differs
        eq = t.faiss_equivalent()
        if eq is None:
            notes.append(f"FAISS has no counterpart of lowdim's {t.to_spec()}; it is left out")
            continue
        if eq.piece:
            pre.append(eq.piece)
        notes += eq.notes
    q = s.quantizer.faiss_equivalent()
    if q is None:
        base = "Flat"
        notes.append(f"FAISS has no counterpart of lowdim's {s.quantizer.to_spec()} codes; Flat keeps float32")
    else:
        base = q.deploy or q.piece  # the fastest kernel over the same codes (PQ fast scan)
        notes += q.notes
    factory = ",".join([*pre, base]) + (",RFlat" if s.rerank else "")
    return factory, notes


def _faiss(spec: Spec, d: int, metric: str, k: int) -> EngineSettings:
    import faiss

    factory, notes = faiss_factory(spec, d)
    width = d
    client: list[str] = []
    for t in spec.transforms:
        eq = t.faiss_equivalent()
        if eq is not None and not eq.piece:  # done on the vectors before FAISS sees them (mrl)
            width = t.output_dim(width)
            client.append(t.to_spec())
    index = faiss.index_factory(width, factory, faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT)
    refine = faiss.downcast_index(index) if spec.rerank else None
    base = refine.base_index if isinstance(refine, faiss.IndexRefine) else index
    config = {"factory": factory, "code_size": int(base.sa_code_size())}
    return EngineSettings(
        "faiss", spec.to_spec(), d, metric, k, width, tuple(client), config, {"k_factor": spec.rerank or None}, tuple(notes)
    )


def _faiss_text(s: EngineSettings) -> str:
    factory, code_size, width = s.config["factory"], s.config["code_size"], s.width
    k_factor = s.knobs.get("k_factor")
    fmetric = "faiss.METRIC_L2" if s.metric == "l2" else "faiss.METRIC_INNER_PRODUCT"
    lines = [
        f"# FAISS nearest to lowdim spec '{s.spec}' (d={s.d}, metric={s.metric})",
        "import faiss",
        f'index = faiss.index_factory({width}, "{factory}", {fmetric})',
    ]
    if s.metric == "cosine":
        lines.append("faiss.normalize_L2(x_train); faiss.normalize_L2(x); faiss.normalize_L2(q)  # cosine = IP of unit vectors")
    lines += ["index.train(x_train)", "index.add(x)"]
    if k_factor:
        lines.append(f"faiss.downcast_index(index).k_factor = {k_factor}  # rescore {k_factor} x k candidates exactly")
    for name, value in s.knobs.items():  # other ParameterSpace knobs (efSearch, nprobe) where the factory has them
        if name != "k_factor" and value is not None:
            lines.append(f'faiss.ParameterSpace().set_index_parameter(index, "{name}", {value})')
    lines.append(f"D, I = index.search(q, {s.k})")
    ram = f"# RAM: {code_size} B/vector of codes (sa_code_size)"
    if ",RFlat" in factory:
        ram += (
            f" + {4 * width} B/vector of float32 that IndexRefineFlat keeps in RAM for refinement; "
            "lowdim reads those full vectors from disk instead"
        )
    lines.append(ram)
    lines += [f"# note: {n}" for n in s.notes]
    return "\n".join(lines) + "\n"


def _map_kind(t: StageSpec) -> str:
    """How the transform changes the vectors as its codec declares it ("projection", "truncation", "rotation")."""
    return t.codec.map_kind if issubclass(t.codec, Transform) else ""


def _family(q: StageSpec) -> str:
    """The quantizer's family as its codec declares it ("float", "scalar", "sign", "pq")."""
    return q.codec.family if issubclass(q.codec, Quantizer) else ""


def _binary_query(q: StageSpec) -> bool:
    """True where the codec's scan binarises the query too (Hamming distance, as ``hamming``)."""
    return issubclass(q.codec, Quantizer) and q.codec.binary_query


def _times(ratio: float) -> str:
    return "twice" if ratio == 2 else f"{ratio:g} times"


_QDRANT_DISTANCE = {"cosine": "Cosine", "ip": "Dot", "l2": "Euclid"}
_QDRANT_PQ_RATIOS = (4, 8, 16, 32, 64)


def _qdrant(spec: Spec, d: int, metric: str, k: int) -> EngineSettings:
    notes: list[str] = []
    size = d
    client: list[str] = []  # lowdim computes truncations and projections before the upload
    for t in spec.transforms:
        map_kind = _map_kind(t)
        if map_kind == "projection":
            size = t.output_dim(size)
            client.append(t.to_spec())
            notes.append(
                f"Qdrant cannot project vectors: upload lowdim's {t.to_spec()} projection (Pipeline.transform) as a "
                f"{size}-d vector; rescoring then uses the projected vectors, not the originals"
            )
        elif map_kind == "truncation":
            size = t.output_dim(size)
            client.append(t.to_spec())
            notes.append(f"upload the first {size} dims of each vector, L2-normalised (Matryoshka truncation)")
        else:
            notes.append(f"Qdrant has no {t.to_spec()} rotation; it is dropped (expect slightly lower recall)")
    vectors: dict = {"size": size, "distance": _QDRANT_DISTANCE[metric], "on_disk": True}
    q = spec.quantizer
    family = _family(q)
    bits = q.bits_per_dim
    quant: dict | None
    if family == "float":
        quant, vectors["on_disk"] = None, False
        if bits is not None and bits <= 16:
            vectors["datatype"] = "float16"
    elif family == "scalar":
        quant = {"scalar": {"type": "int8", "quantile": 0.99, "always_ram": True}}
        if bits is not None and bits < 8:
            notes.append(
                f"Qdrant's scalar quantization is 8-bit only: int8 takes {_times(8 / bits)} the bytes of lowdim's {q.to_spec()}"
            )
    elif family == "sign":
        nbits = int(bits or 1)
        encoding = "one_bit" if nbits == 1 else "two_bits"
        query_encoding = "binary" if _binary_query(q) else "scalar8bits"
        quant = {"binary": {"encoding": encoding, "query_encoding": query_encoding, "always_ram": True}}
        if nbits > 2:
            notes.append(
                f"Qdrant's binary quantization stores at most 2 bits per dimension; lowdim's {q.to_spec()} keeps {nbits}"
            )
        notes.append(
            "Qdrant binarises at 0 without centring; lowdim's sign codes are centred (see the plan's mean-share warning)"
        )
    else:  # pq and any other codebook code: Qdrant's product quantization at the nearest ratio
        ratio = 4 * size / q.code_size(size)
        best = min(_QDRANT_PQ_RATIOS, key=lambda r: abs(r - ratio))
        quant = {"product": {"compression": f"x{best}", "always_ram": True}}
        notes.append(f"lowdim's {q.to_spec()} compresses float32 {ratio:g}x; Qdrant offers x4..x64 and picks its own sub-vectors")
    collection: dict = {"vectors": vectors}
    knobs: dict[str, Any] = {}
    if quant is not None:
        collection["quantization_config"] = quant
        knobs = {"rescore": bool(spec.rerank), "oversampling": float(spec.rerank or 1)}
    knobs.update(hnsw_ef=None, exact=False)
    return EngineSettings(
        "qdrant", spec.to_spec(), d, metric, k, size, tuple(client), {"create_collection": collection}, knobs, tuple(notes)
    )


def _qdrant_params(s: EngineSettings) -> dict[str, Any]:
    """The search ``params`` of the Qdrant document under the settings' knobs."""
    params: dict[str, Any] = {}
    if s.knobs.get("hnsw_ef") is not None:
        params["hnsw_ef"] = int(s.knobs["hnsw_ef"])
    if s.knobs.get("exact"):
        params["exact"] = True
    if "oversampling" in s.knobs:
        params["quantization"] = {
            "ignore": False,
            "rescore": bool(s.knobs["rescore"]),
            "oversampling": float(s.knobs["oversampling"]),
        }
    return params


def _qdrant_text(s: EngineSettings) -> str:
    out = {
        "lowdim_spec": s.spec,
        "create_collection": s.config["create_collection"],
        "search": {"limit": s.k, "params": _qdrant_params(s)},
        "notes": list(s.notes),
    }
    return json.dumps(out, indent=2) + "\n"


_PG_OPS = {"cosine": ("<=>", "cosine_ops"), "ip": ("<#>", "ip_ops"), "l2": ("<->", "l2_ops")}


def _pgvector(spec: Spec, d: int, metric: str, k: int) -> EngineSettings:
    op, ops = _PG_OPS[metric]
    notes: list[str] = []
    width = d
    column, query = "embedding", f"$1::vector({d})"
    pre_sql: list[str] = []
    kept: list[str] = []  # transforms lowdim applies (truncations and projections), for a client-side projection
    client: list[str] = []
    for t in spec.transforms:
        map_kind = _map_kind(t)
        if map_kind == "truncation":
            kept.append(t.to_spec())
            width = t.output_dim(width)
            column = f"subvector(embedding, 1, {width})"
            query = f"subvector({query}, 1, {width})"
            if metric == "cosine":
                column, query = f"l2_normalize({column})", f"l2_normalize({query})"
        elif map_kind == "projection":
            kept.append(t.to_spec())
            client = list(kept)  # embedding_reduced holds every kept transform up to this projection
            width = t.output_dim(width)
            pre_sql.append(
                f"ALTER TABLE items ADD COLUMN embedding_reduced vector({width});  -- lowdim {t.to_spec()} projection, computed client-side"
            )
            column, query = "embedding_reduced", f"$2::vector({width})"
            notes.append(
                f"pgvector cannot project: fill embedding_reduced (and $2 for the query) with lowdim's {t.to_spec()} transform"
            )
        else:
            notes.append(f"pgvector has no {t.to_spec()} rotation; it is dropped")
    q = spec.quantizer
    family = _family(q)
    if family == "sign":
        code_col = f"(binary_quantize({column})::bit({width}))"
        code_query = f"binary_quantize({query})::bit({width})"
        index = f"CREATE INDEX ON items USING hnsw ({code_col} bit_hamming_ops);"
        code_op = "<~>"
        notes.append(
            "binary_quantize keeps the sign at 0 (no centring) and ranks by Hamming distance; lowdim centres and "
            "scores the float query against the codes, so pgvector needs the same or a larger re-rank"
        )
        bits = q.bits_per_dim or 1
        if bits > 1:
            notes.append(f"pgvector's bit codes are 1 bit per dimension; lowdim's {q.to_spec()} keeps {bits:g}")
    elif family == "float" and (q.bits_per_dim or 0) >= 32 and column == "embedding":
        code_col, code_query, code_op = "embedding", f"$1::vector({d})", op
        index = f"CREATE INDEX ON items USING hnsw (embedding vector_{ops});"
    else:
        code_col = f"(({column})::halfvec({width}))"
        code_query = f"({query})::halfvec({width})"
        index = f"CREATE INDEX ON items USING hnsw ({code_col} halfvec_{ops});"
        code_op = op
        if family != "float":
            notes.append(
                f"pgvector has no {q.to_spec()} codes; halfvec ({2 * width} B/vector) is its nearest compact type; "
                f"for fewer bytes, index binary_quantize ({(width + 7) // 8} B/vector) and re-rank more candidates"
            )
    n_cand = (spec.rerank or 0) * k
    config = {"setup": [*pre_sql, index], "code_col": code_col, "code_query": code_query, "code_op": code_op, "op": op}
    knobs = {"candidates": n_cand, "ef_search": None, "iterative_scan": None}
    if n_cand:
        knobs.update(pgvector_scan(n_cand, None))
        if n_cand > PG_MAX_EF_SEARCH:
            notes.append(
                f"hnsw.ef_search stops at {PG_MAX_EF_SEARCH}: the iterative scan (pgvector >= 0.8) lets the index return all {n_cand} candidates"
            )
    return EngineSettings("pgvector", spec.to_spec(), d, metric, k, width, tuple(client), config, knobs, tuple(notes))


#: the largest ``hnsw.ef_search`` pgvector accepts
PG_MAX_EF_SEARCH = 1000


def pgvector_scan(candidates: int, ef_search: int | None) -> dict[str, Any]:
    """``hnsw.ef_search`` and ``hnsw.iterative_scan`` that let the HNSW index return ``candidates`` rows.

    Without an iterative scan the index returns at most ``ef_search`` rows, so the
    candidate LIMIT needs ``ef_search >= candidates`` (at least pgvector's default 40);
    past its cap of 1000, the iterative scan (``relaxed_order``: the re-rank re-sorts the
    candidates anyway) keeps the scan going.

    >>> pgvector_scan(40, None), pgvector_scan(2000, 200)
    ({'ef_search': 40, 'iterative_scan': None}, {'ef_search': 1000, 'iterative_scan': 'relaxed_order'})
    """
    ef = max(40, ef_search or 40, min(candidates, PG_MAX_EF_SEARCH))
    return {"ef_search": ef, "iterative_scan": "relaxed_order" if candidates > ef else None}


def pgvector_sql(settings: EngineSettings) -> tuple[list[str], list[str], str]:
    """The SQL of pgvector settings: ``(setup statements, session SET statements, the query)``.

    The setup adds the projected column (if any) and creates the HNSW index on a table
    ``items(id, embedding vector(d))``; the query takes ``$1`` (the query vector) and,
    with a projection, ``$2`` (the projected query vector).

    Examples
    --------
    >>> setup, session, query = pgvector_sql(export_config("binary+rerank4", "pgvector", d=384))
    >>> session
    ['SET hnsw.ef_search = 40;']
    """
    s = settings
    c, knobs, k, d = s.config, s.knobs, s.k, s.d
    session = []
    if knobs.get("ef_search") is not None:
        session.append(f"SET hnsw.ef_search = {int(knobs['ef_search'])};")
    if knobs.get("iterative_scan") is not None:
        session.append(f"SET hnsw.iterative_scan = {knobs['iterative_scan']};")
    n_cand = int(knobs.get("candidates") or 0)
    if n_cand:
        query = "\n".join(
            [
                "SELECT id FROM (",
                "    SELECT id, embedding FROM items",
                f"    ORDER BY {c['code_col']} {c['code_op']} {c['code_query']}",
                f"    LIMIT {n_cand}",
                ") AS candidates",
                f"ORDER BY embedding {c['op']} $1::vector({d})  -- exact re-rank of {n_cand / k:g} x k candidates",
                f"LIMIT {k};",
            ]
        )
    else:
        query = f"SELECT id FROM items ORDER BY {c['code_col']} {c['code_op']} {c['code_query']} LIMIT {k};"
    return list(c["setup"]), session, query


def _pgvector_text(s: EngineSettings) -> str:
    setup, session, query = pgvector_sql(s)
    lines = [f"-- pgvector nearest to lowdim spec '{s.spec}' (table items(id, embedding vector({s.d})), metric={s.metric})"]
    lines += setup + session + [query]
    lines += [f"-- note: {n}" for n in s.notes]
    return "\n".join(lines) + "\n"


_RENDER = {"faiss": _faiss_text, "qdrant": _qdrant_text, "pgvector": _pgvector_text}
_BUILD = {"faiss": _faiss, "qdrant": _qdrant, "pgvector": _pgvector}


def export_config(spec: SpecLike, engine: str, *, d: int, metric: str = "cosine", k: int = 10) -> EngineSettings:
    """The nearest equivalent of ``spec`` in ``engine``, as data (see :class:`EngineSettings`).

    Takes the arguments of :func:`export_settings`; ``export_config(...).text`` is its text.

    Examples
    --------
    >>> s = export_config("pq96x4+rerank4", "faiss", d=384)
    >>> s.config["factory"], s.knobs
    ('PQ96x4fs,RFlat', {'k_factor': 4})
    """
    engine = check_choice(engine, ENGINES, "engine", owner="export")
    metric = check_metric(metric, owner="export")
    d = check_positive_int(d, "d", owner="export")
    k = check_k(k)
    s = parse_spec(spec)
    try:
        s.check(d)
    except ParameterError as exc:
        raise ParameterError(f"cannot export '{s.to_spec()}' for d={d}: {exc}") from None
    return _BUILD[engine](s, d, metric, k)


def export_settings(spec: SpecLike, engine: str, *, d: int, metric: str = "cosine", k: int = 10) -> str:
    """The nearest equivalent of ``spec`` in ``engine``, as text to paste.

    Parameters
    ----------
    spec : str or Spec
        e.g. ``"pq48x8+rerank4"``.
    engine : {"faiss", "qdrant", "pgvector"}
    d : int
        Vector width.
    metric : {"cosine", "ip", "l2"}
    k : int
        Results per query (sets the re-rank candidate counts).

    Returns
    -------
    str: a Python snippet (faiss), a JSON document (qdrant) or SQL (pgvector).

    Examples
    --------
    >>> print(export_settings("binary+rerank4", "pgvector", d=384).splitlines()[1])
    CREATE INDEX ON items USING hnsw ((binary_quantize(embedding)::bit(384)) bit_hamming_ops);
    >>> import json
    >>> json.loads(export_settings("int8+rerank2", "qdrant", d=384))["search"]["params"]["quantization"]["oversampling"]
    2.0
    """
    return export_config(spec, engine, d=d, metric=metric, k=k).text
