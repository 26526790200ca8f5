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

from ..exceptions import ParameterError
from ..spec import Spec, SpecLike, parse_spec
from ..validation import check_choice, check_k, check_metric, check_positive_int

__all__ = ["ENGINES", "export_settings", "faiss_factory"]

#: engines :func:`export_settings` knows
ENGINES = ("faiss", "qdrant", "pgvector")

_SIGN = ("binary", "hamming", "rbq", "rabitq")


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
    for t in s.transforms:
        k, a = t.keyword, t.args
        if k == "pca":
            pre.append(f"PCA{a[0]}")
        elif k == "opq":
            pre.append(f"OPQ{a[0]}")
        elif k == "itq":
            pre.append("ITQ")
        elif k == "rp":
            pre.append(f"RR{a[0]}")
            notes.append(f"RR{a[0]} is a dense random rotation, in place of lowdim's sparse random projection rp{a[0]}")
        elif k == "mrl":
            notes.append(
                f"FAISS has no Matryoshka truncation: keep the first {a[0]} dims of every vector "
                "(and L2-normalise them) before train, add and search"
            )
    q = s.quantizer
    if q.keyword == "pq":
        m, nbits = q.args
        base = f"PQ{m}" if nbits == 8 else f"PQ{m}x4fs"
    elif q.keyword == "rabitq":
        base = "RaBitQ" if q.args[0] == 1 else f"RaBitQ{q.args[0]}"  # the same codes: lowdim wraps FAISS's RaBitQ
    elif q.keyword in ("binary", "hamming", "rbq"):
        bits = q.args[0] if q.keyword == "rbq" else 1
        base = "RaBitQ" if bits == 1 else f"RaBitQ{bits}"
        notes.append(
            f"lowdim's {q.to_spec()} is a centred sign code with learned per-dimension scales, scored against the "
            f"float query; FAISS's nearest is {base} (centred, randomly rotated, asymmetric estimator, "
            "plus a few bytes of per-vector factors)"
        )
        if q.keyword == "hamming":
            notes.append("for FAISS's symmetric Hamming scan use IndexBinaryFlat over sign codes instead")
    else:
        base = {"f32": "Flat", "f16": "SQfp16", "int8": "SQ8", "int4": "SQ4"}[q.keyword]
    factory = ",".join(pre + [base]) + (",RFlat" if s.rerank else "")
    return factory, notes


def _faiss(spec: Spec, d: int, metric: str, k: int) -> str:
    import faiss

    factory, notes = faiss_factory(spec, d)
    width = d
    for t in spec.transforms:
        if t.keyword == "mrl":
            width = t.args[0]
    index = faiss.index_factory(width, factory, faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT)
    base = faiss.downcast_index(index).base_index if spec.rerank else index
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


_QDRANT_DISTANCE = {"cosine": "Cosine", "ip": "Dot", "l2": "Euclid"}
_QDRANT_PQ_RATIOS = (4, 8, 16, 32, 64)


def _qdrant(spec: Spec, d: int, metric: str, k: int) -> str:
    notes: list[str] = []
    size = d
    for t in spec.transforms:
        kw, a = t.keyword, t.args
        if kw in ("pca", "rp"):
            size = a[0]
            notes.append(
                f"Qdrant cannot project vectors: upload lowdim's {t.to_spec()} projection (Pipeline.transform) as a "
                f"{size}-d vector; rescoring then uses the projected vectors, not the originals"
            )
        elif kw == "mrl":
            size = a[0]
            notes.append(f"upload the first {size} dims of each vector, L2-normalised (Matryoshka truncation)")
        else:
            notes.append(f"Qdrant has no {t.to_spec()} rotation; it is dropped (expect slightly lower recall)")
    vectors: dict = {"size": size, "distance": _QDRANT_DISTANCE[metric], "on_disk": True}
    q = spec.quantizer
    quant: dict | None
    if q.keyword == "f32":
        quant, vectors["on_disk"] = None, False
    elif q.keyword == "f16":
        quant, vectors["on_disk"] = None, False
        vectors["datatype"] = "float16"
    elif q.keyword in ("int8", "int4"):
        quant = {"scalar": {"type": "int8", "quantile": 0.99, "always_ram": True}}
        if q.keyword == "int4":
            notes.append("Qdrant's scalar quantization is 8-bit only: int8 takes twice the bytes of lowdim's int4")
    elif q.keyword in _SIGN:
        bits = q.args[0] if q.keyword in ("rbq", "rabitq") else 1
        encoding = "one_bit" if bits == 1 else "two_bits"
        query_encoding = "binary" if q.keyword == "hamming" else "scalar8bits"
        quant = {"binary": {"encoding": encoding, "query_encoding": query_encoding, "always_ram": True}}
        if bits > 2:
            notes.append(f"Qdrant's binary quantization stores at most 2 bits per dimension; lowdim's {q.to_spec()} keeps {bits}")
        notes.append(
            "Qdrant binarises at 0 without centring; lowdim's sign codes are centred (see the plan's mean-share warning)"
        )
    else:  # pq
        ratio = 4 * size / spec.quantizer.code_size(size)
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
        kw, a = t.keyword, t.args
        if kw == "mrl":
            width = a[0]
            column = f"subvector(embedding, 1, {width})"
            query = f"subvector({query}, 1, {width})"
            if metric == "cosine":
                column, query = f"l2_normalize({column})", f"l2_normalize({query})"
        elif kw in ("pca", "rp"):
            width = a[0]
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
    if q.keyword in _SIGN:
        code_col = f"(binary_quantize({column})::bit({width}))"
        code_query = f"binary_quantize({query})::bit({width})"
        index = f"CREATE INDEX ON items USING hnsw ({code_col} bit_hamming_ops);"
        code_op = "<~>"
        notes.append(
            "binary_quantize keeps the sign at 0 (no centring) and ranks by Hamming distance; lowdim centres and "
            "scores the float query against the codes, so pgvector needs the same or a larger re-rank"
        )
        if q.keyword in ("rbq", "rabitq") and q.args[0] > 1:
            notes.append(f"pgvector's bit codes are 1 bit per dimension; lowdim's {q.to_spec()} keeps {q.args[0]}")
    elif q.keyword == "f32" and column == "embedding":
        code_col, code_query, code_op = "embedding", f"$1::vector({d})", op
        index = f"CREATE INDEX ON items USING hnsw (embedding vector_{ops});"
    else:
        code_col = f"(({column})::halfvec({width}))"
        code_query = f"({query})::halfvec({width})"
        index = f"CREATE INDEX ON items USING hnsw ({code_col} halfvec_{ops});"
        code_op = op
        if q.keyword not in ("f16", "f32"):
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
