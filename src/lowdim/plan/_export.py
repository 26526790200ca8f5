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
"""

from __future__ import annotations

import json

from ..codecs import Quantizer, Transform
from ..exceptions import ParameterError
from ..spec import Spec, SpecLike, StageSpec, parse_spec
from ..validation import check_choice, check_k, check_metric, check_positive_int

__all__ = ["ENGINES", "export_settings", "faiss_factory"]

#: engines :func:`export_settings` knows
ENGINES = ("faiss", "qdrant", "pgvector")


def faiss_factory(spec: SpecLike, d: int) -> tuple[str, list[str]]:
    """FAISS ``index_factory`` string nearest to ``spec`` and notes on what differs.

    ``+rerank<N>`` becomes ``,RFlat`` (set ``k_factor = N`` on the ``IndexRefineFlat``).
    ``mrl<p>`` has no FAISS transform: the string is for the truncated vectors.
    ``hamming`` has no factory string either: FAISS's own binary index is ``IndexBinaryFlat``.

    Examples
    --------
    >>> faiss_factory("opq48/pq48x8+rerank4", 384)[0]
    'OPQ48,PQ48,RFlat'
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


def _faiss(spec: Spec, d: int, metric: str, k: int) -> str:
    import faiss

    factory, notes = faiss_factory(spec, d)
    width = d
    for t in spec.transforms:
        eq = t.faiss_equivalent()
        if eq is not None and not eq.piece:  # done on the vectors before FAISS sees them (mrl)
            width = t.output_dim(width)
    index = faiss.index_factory(width, factory, faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT)
    refine = faiss.downcast_index(index) if spec.rerank else None
    base = refine.base_index if isinstance(refine, faiss.IndexRefine) else index
    code_size = int(base.sa_code_size())
    fmetric = "faiss.METRIC_L2" if metric == "l2" else "faiss.METRIC_INNER_PRODUCT"
    lines = [
        f"# FAISS nearest to lowdim spec '{spec.to_spec()}' (d={d}, metric={metric})",
        "import faiss",
        f'index = faiss.index_factory({width}, "{factory}", {fmetric})',
    ]
    if metric == "cosine":
        lines.append("faiss.normalize_L2(x_train); faiss.normalize_L2(x); faiss.normalize_L2(q)  # cosine = IP of unit vectors")
    lines += ["index.train(x_train)", "index.add(x)"]
    if spec.rerank:
        lines.append(f"faiss.downcast_index(index).k_factor = {spec.rerank}  # rescore {spec.rerank} x k candidates exactly")
    lines.append(f"D, I = index.search(q, {k})")
    ram = f"# RAM: {code_size} B/vector of codes (sa_code_size)"
    if spec.rerank:
        ram += (
            f" + {4 * width} B/vector of float32 that IndexRefineFlat keeps in RAM for refinement; "
            "lowdim reads those full vectors from disk instead"
        )
    lines.append(ram)
    lines += [f"# note: {n}" for n in notes]
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


def _qdrant(spec: Spec, d: int, metric: str, k: int) -> str:
    notes: list[str] = []
    size = d
    for t in spec.transforms:
        map_kind = _map_kind(t)
        if map_kind == "projection":
            size = t.output_dim(size)
            notes.append(
                f"Qdrant cannot project vectors: upload lowdim's {t.to_spec()} projection (Pipeline.transform) as a "
                f"{size}-d vector; rescoring then uses the projected vectors, not the originals"
            )
        elif map_kind == "truncation":
            size = t.output_dim(size)
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
    if quant is not None:
        collection["quantization_config"] = quant
    params: dict = {}
    if quant is not None:
        params = {"quantization": {"ignore": False, "rescore": bool(spec.rerank), "oversampling": float(spec.rerank or 1)}}
    out = {
        "lowdim_spec": spec.to_spec(),
        "create_collection": collection,
        "search": {"limit": k, "params": params},
        "notes": notes,
    }
    return json.dumps(out, indent=2) + "\n"


_PG_OPS = {"cosine": ("<=>", "cosine_ops"), "ip": ("<#>", "ip_ops"), "l2": ("<->", "l2_ops")}


def _pgvector(spec: Spec, d: int, metric: str, k: int) -> str:
    op, ops = _PG_OPS[metric]
    notes: list[str] = []
    width = d
    column, query = "embedding", f"$1::vector({d})"
    pre_sql: list[str] = []
    for t in spec.transforms:
        map_kind = _map_kind(t)
        if map_kind == "truncation":
            width = t.output_dim(width)
            column = f"subvector(embedding, 1, {width})"
            query = f"subvector({query}, 1, {width})"
            if metric == "cosine":
                column, query = f"l2_normalize({column})", f"l2_normalize({query})"
        elif map_kind == "projection":
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
    lines = [f"-- pgvector nearest to lowdim spec '{spec.to_spec()}' (table items(id, embedding vector({d})), metric={metric})"]
    lines += pre_sql + [index]
    n_cand = (spec.rerank or 0) * k
    if n_cand:
        lines.append(f"SET hnsw.ef_search = {max(40, n_cand)};")
        lines += [
            "SELECT id FROM (",
            "    SELECT id, embedding FROM items",
            f"    ORDER BY {code_col} {code_op} {code_query}",
            f"    LIMIT {n_cand}",
            ") AS candidates",
            f"ORDER BY embedding {op} $1::vector({d})  -- exact re-rank of {spec.rerank} x k candidates",
            f"LIMIT {k};",
        ]
    else:
        lines += [f"SELECT id FROM items ORDER BY {code_col} {code_op} {code_query} LIMIT {k};"]
    lines += [f"-- note: {n}" for n in notes]
    return "\n".join(lines) + "\n"


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
    engine = check_choice(engine, ENGINES, "engine", owner="export")
    metric = check_metric(metric, owner="export")
    d = check_positive_int(d, "d", owner="export")
    k = check_k(k)
    s = parse_spec(spec)
    try:
        s.check(d)
    except ParameterError as exc:
        raise ParameterError(f"cannot export '{s.to_spec()}' for d={d}: {exc}") from None
    if engine == "faiss":
        return _faiss(s, d, metric, k)
    if engine == "qdrant":
        return _qdrant(s, d, metric, k)
    return _pgvector(s, d, metric, k)
