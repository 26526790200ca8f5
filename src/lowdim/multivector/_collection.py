"""``MultiVectorCollection``: token sets on disk, one fused first-stage vector per document in an ordinary collection.

Folder layout (``PATH``)::

    multivector.json      settings (FDE parameters, pooled weight, candidates, spec), written once at create
    fde.npz               the FDE's seeded draws (FDE.save)
    index/                a lowdim.store.Collection (metric "ip"): one vector per document,
                          [FDE(doc) / sqrt(reps), w * pooled(doc)], the user's ids and metadata
    tokens/SSSSSSSS.npy   float16 token rows, one file per add batch

Durability: a batch's token file is written and fsynced BEFORE the inner add, and each
document's token location ``[segment, start, n]`` is stored inside its inner metadata under
the reserved key ``"_tokens"``, so the inner collection's commit is the only commit. A
process killed during an add loses nothing acknowledged and leaves at most an unreferenced
token file, which :meth:`MultiVectorCollection.compact` deletes.

Scores: queries are encoded as ``[FDE_q(query) / (n_q * sqrt(reps)), w * pooled(query)]``, so the
inner product is the FDE's estimate of the mean MaxSim per query token plus ``w**2`` times the
pooled cosine: a fused first stage in one atomic index; the candidates it finds are then
reranked with exact Chamfer over the stored tokens.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import fsync_dir, write_atomic
from ..exceptions import ConflictError, FileFormatError, ParameterError, ValidationError
from ..spec import bytes_per_vector, parse_spec
from ..store import Collection, CollectionResult, IdLike
from ..validation import check_k, check_positive_int
from ._baselines import pooled_vectors
from ._chamfer import chamfer_rerank
from ._fde import FDE
from ._token_files import TokenFiles
from ._tokens import TokenSets, check_token_sets

__all__ = ["MultiVectorCollection", "MultiVectorRecords", "TOKENS_KEY", "default_fde", "first_stage_parts", "join_first_stage"]

FORMAT_VERSION = 1
SETTINGS_NAME = "multivector.json"
FDE_NAME = "fde.npz"
INDEX_DIR = "index"
TOKENS_DIR = "tokens"
#: the reserved metadata key holding a document's token location [segment, start, n]
TOKENS_KEY = "_tokens"
#: measured on wordnet-minilm/tokens (see the README): k_sim 3, d_proj 32, reps 20, spec pca512/int8
DEFAULT_FDE: dict[str, Any] = {"k_sim": 3, "d_proj": 32, "reps": 20, "fill_empty": False, "seed": 0}
DEFAULT_SPEC = "pca512/int8"
DEFAULT_POOLED_WEIGHT = 1.35
DEFAULT_CANDIDATES = 100


def default_fde(dim: int, **changes: Any) -> FDE:
    """The default :class:`FDE` for tokens of width ``dim``, with ``changes`` (None values ignored).

    ``k_sim=3, d_proj=min(32, dim), reps=20, fill_empty=False, seed=0``: the setting measured
    best at <= 1 KB per document on wordnet-minilm/tokens (see the README).

    Examples
    --------
    >>> default_fde(16, reps=4)
    FDE(k_sim=3, d_proj=16, reps=4, fill_empty=False, final_dim=None, seed=0)
    """
    params = DEFAULT_FDE | {"d_proj": min(int(DEFAULT_FDE["d_proj"]), int(dim))}
    return FDE(**(params | {k: v for k, v in changes.items() if v is not None}))


@dataclass(frozen=True)
class MultiVectorRecords:
    """Documents fetched by id, in the order asked for.

    Attributes
    ----------
    ids : list of int or str
    tokens : TokenSets
        The documents' token sets (float32 rows, CSR), ``tokens[i]`` is document ``ids[i]``.
    metadata : list of dict or None
        The user's metadata (the reserved ``"_tokens"`` key removed).
    """

    ids: list[Any]
    tokens: TokenSets
    metadata: list[dict | None]

    def __len__(self) -> int:
        return len(self.ids)


def _strip(meta: dict | None) -> dict | None:
    """The user's metadata without the reserved key (None when nothing else was stored)."""
    if meta is None:
        return None
    out = {k: v for k, v in meta.items() if k != TOKENS_KEY}
    return out if out or TOKENS_KEY not in meta else None


class MultiVectorCollection:
    """A durable collection of multi-vector (token set) documents searched with exact Chamfer.

    An ordinary :class:`lowdim.store.Collection` (``PATH/index``) holds one compressed
    vector per document, the concatenation of its MUVERA encoding and its weighted pooled
    vector; it finds ``candidates`` documents per query (filters, ids and metadata work as in
    any collection), which are reranked with exact Chamfer (MaxSim) over the float16 token
    rows kept on disk (``PATH/tokens``). See the module docstring for the files and the
    durability rule.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> from lowdim.multivector import MultiVectorCollection
    >>> rng = np.random.default_rng(0)
    >>> docs = [rng.normal(size=(int(n), 16)).astype(np.float32) for n in rng.integers(2, 6, 50)]
    >>> path = tempfile.mkdtemp() + "/mv"
    >>> with MultiVectorCollection.create(path, dim=16, spec="f32", fde=FDE(k_sim=2, d_proj=8, reps=4)) as col:
    ...     ids = col.add(docs, metadata=[{"even": i % 2 == 0} for i in range(50)])
    ...     res = col.search([docs[4]], k=3, candidates=50, filter={"even": True})
    >>> res.ids[0, 0], len(MultiVectorCollection.open(path, readonly=True))
    (4, 50)
    """

    def __init__(self, root: Path, settings: dict[str, Any], fde: FDE, inner: Collection, files: TokenFiles) -> None:
        self._root = root
        self._settings = settings
        self._fde = fde
        self._inner = inner
        self._weight = float(settings["pooled_weight"])
        self._candidates = int(settings["candidates"])
        self._files = files

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        *,
        dim: int | None = None,
        spec: str | None = None,
        fde: FDE | None = None,
        pooled_weight: float | None = None,
        candidates: int | None = None,
        train_size: int | None = None,
        plan: Any = None,
    ) -> MultiVectorCollection:
        """Create an empty multi-vector collection in the new folder ``path`` (absent or empty; its parent must exist).

        Parameters
        ----------
        dim : int
            Token width d (optional with ``plan``, which knows it).
        spec : str
            Default ``"pca512/int8"``. The lowdim spec compressing each document's first-stage vector (e.g. ``"pca512/int8"``,
            ``"binary"``, ``"pq688x8"``); no ``+rerank``: the exact Chamfer rerank is the second stage.
        fde : FDE, optional
            Its parameters and seed (fitted here on the width); default :func:`default_fde`
            (``k_sim=3, d_proj=min(32, dim), reps=20, fill_empty=False, seed=0``).
        pooled_weight : float
            ``w >= 0``: the pooled cosine enters the first-stage score with weight ``w**2``; 0 leaves it out.
            The default 1.35 was measured best with ``pca512/int8`` on wordnet-minilm/tokens (73 candidates
            for Chamfer recall@10 0.95, against 169 without the pooled part); ``binary`` preferred 0.75.
        candidates : int
            Documents reranked per query by default (``search(candidates=)`` overrides); the default 100
            gave recall@10 0.964 there.
        train_size : int, optional
            The inner collection's codec is fitted on at most this many documents (its default otherwise).
        plan : MultiVectorPlan, its ``to_dict()`` or the path of its JSON, optional
            Take ``spec``, ``fde``, ``pooled_weight`` and ``candidates`` from the plan's recommendation
            (:func:`~lowdim.multivector.plan_multivector`); giving any of them as well is a ParameterError,
            and a plan without a recommendation raises its one-line reason.
        """
        if plan is not None:
            dim, spec, fde, pooled_weight, candidates = _from_plan(plan, dim, spec, fde, pooled_weight, candidates)
        if dim is None:
            raise ParameterError("MultiVectorCollection.create needs dim= (the token width) or plan=")
        spec = DEFAULT_SPEC if spec is None else spec
        pooled_weight = DEFAULT_POOLED_WEIGHT if pooled_weight is None else pooled_weight
        candidates = DEFAULT_CANDIDATES if candidates is None else candidates
        d = check_positive_int(dim, "dim", owner="MultiVectorCollection")
        cand = check_positive_int(candidates, "candidates", owner="MultiVectorCollection")
        w = float(pooled_weight)
        if not np.isfinite(w) or w < 0:
            raise ParameterError(
                f"The 'pooled_weight' parameter of MultiVectorCollection must be a number >= 0. Got {pooled_weight!r}"
            )
        if parse_spec(spec).rerank:
            raise ParameterError(
                f"spec {spec!r} has a +rerank factor; a multi-vector collection reranks its candidates with exact Chamfer: "
                "drop +rerank and set candidates instead"
            )
        if fde is None:
            fde = default_fde(d)
        elif not isinstance(fde, FDE):
            raise ParameterError(f"fde must be an FDE(...) or None; got {type(fde).__name__}")
        fde = FDE(**fde.get_params()).fit_width(d)  # a fresh fit: the draws depend only on the seed and the width
        root = Path(path)
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise ConflictError(f"cannot create a collection in {root}: it exists and is not an empty folder")
        if not root.absolute().parent.is_dir():
            raise FileFormatError(f"cannot create {root}: folder {root.absolute().parent} does not exist")
        inner_dim = fde.output_dim + (d if w > 0 else 0)
        settings = {
            "format_version": FORMAT_VERSION,
            "kind": "lowdim.MultiVectorCollection",
            "dim": d,
            "spec": spec,
            "fde": fde.get_params(),
            "pooled_weight": w,
            "candidates": cand,
            "inner_dim": inner_dim,
        }
        made = not root.exists()
        root.mkdir(exist_ok=True)
        try:
            fde.save(root / FDE_NAME)
            Collection.create(
                root / INDEX_DIR, dim=inner_dim, spec=spec, metric="ip", vector_dtype="float16", train_size=train_size
            ).close()
            (root / TOKENS_DIR).mkdir()
            # written last: its presence says the folder is complete
            write_atomic(root / SETTINGS_NAME, lambda fh: fh.write(json.dumps(settings, indent=1).encode()))
            fsync_dir(root)
        except BaseException:
            _remove_tree(root, keep_root=not made)
            raise
        return cls.open(root)

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, readonly: bool = False) -> MultiVectorCollection:
        """Open the multi-vector collection in folder ``path`` (``readonly=True``: refuse writes, take no lock)."""
        root = Path(path)
        file = root / SETTINGS_NAME
        if not file.is_file():
            raise FileFormatError(f"{root} is not a multi-vector collection (no {SETTINGS_NAME})")
        try:
            settings = json.loads(file.read_text())
            bad = settings.get("kind") != "lowdim.MultiVectorCollection" or settings.get("format_version") != FORMAT_VERSION
        except (OSError, ValueError):
            bad = True
        if bad:
            raise FileFormatError(f"{file} is damaged or of another format version (expected {FORMAT_VERSION})")
        fde = FDE.load(root / FDE_NAME)
        # token files are mapped BEFORE the inner snapshot is taken: a later compact may delete a file this
        # snapshot still references, and a mapped file stays readable after it is unlinked
        files = TokenFiles(root / TOKENS_DIR, int(settings["dim"])).map_all()
        inner = Collection.open(root / INDEX_DIR, readonly=readonly)
        return cls(root, settings, fde, inner, files)

    def close(self) -> None:
        """Release the inner collection (its writer lock) and the token files."""
        self._files.clear()
        self._inner.close()

    def __enter__(self) -> MultiVectorCollection:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self._inner)

    def __repr__(self) -> str:
        s = self._settings
        return f"MultiVectorCollection({str(self._root)!r}, dim={s['dim']}, spec={s['spec']!r}, {len(self):,} documents)"

    path = property(lambda self: self._root, doc="The collection folder.")
    dim = property(lambda self: int(self._settings["dim"]), doc="Token width.")
    spec = property(lambda self: self._settings["spec"], doc="The first-stage spec.")
    fde = property(lambda self: self._fde, doc="The fitted :class:`FDE`.")
    pooled_weight = property(lambda self: self._weight, doc="Weight w of the pooled vector (its cosine counts w**2).")
    candidates = property(lambda self: self._candidates, doc="Default documents reranked per query.")
    index = property(lambda self: self._inner, doc="The inner :class:`lowdim.store.Collection` (one vector per document).")

    # ------------------------------------------------------------------ encoding
    def encode_documents(self, tokens: Any) -> np.ndarray:
        """First-stage vectors (n, inner_dim) float32 of documents: ``[FDE(doc) / sqrt(reps), w * pooled(doc)]``."""
        ts = check_token_sets(tokens, n_features=self.dim, name="documents", what="this collection")
        return join_first_stage(first_stage_parts(self._fde, ts, queries=False), self._weight)

    def encode_queries(self, tokens: Any) -> np.ndarray:
        """First-stage vectors (nq, inner_dim) float32 of queries: ``[FDE_q / (n_q sqrt(reps)), w * pooled(query)]``."""
        ts = check_token_sets(tokens, n_features=self.dim, name="queries", what="this collection")
        return join_first_stage(first_stage_parts(self._fde, ts, queries=True), self._weight)

    # ------------------------------------------------------------------ writing
    def add(
        self,
        token_sets: Any,
        ids: Sequence[IdLike] | None = None,
        metadata: Sequence[dict | None] | None = None,
        *,
        batch_size: int | None = None,
    ) -> list[IdLike]:
        """Store documents durably; return their ids, in order.

        Parameters
        ----------
        token_sets : list of (n_i, dim) float arrays, ``(rows (N, dim), offsets (n + 1,))`` or TokenSets
        ids : n unique ints or strs not yet stored, optional (default 0, 1, 2, ... continuing)
        metadata : n JSON objects (or None), optional; filterable in :meth:`search`; the key ``"_tokens"`` is reserved
            (an empty object comes back as None)
        batch_size : int, optional
            Store in durable batches of this many documents (one token file and one commit each; bounds
            the memory of the encodings); by default all in one.
        """
        return self._write(token_sets, ids, metadata, replace=False, batch_size=batch_size)

    def upsert(
        self,
        token_sets: Any,
        ids: Sequence[IdLike],
        metadata: Sequence[dict | None] | None = None,
        *,
        batch_size: int | None = None,
    ) -> list[IdLike]:
        """Insert documents under ``ids``, atomically replacing those that already have one of these ids."""
        if ids is None:
            raise ParameterError("upsert needs ids: the ids of the documents to insert or replace")
        return self._write(token_sets, ids, metadata, replace=True, batch_size=batch_size)

    def _write(self, token_sets: Any, ids: Any, metadata: Any, *, replace: bool, batch_size: int | None) -> list[IdLike]:
        if self._inner.readonly:
            raise ConflictError(
                f"multi-vector collection {self._root} was opened readonly; open it without readonly=True to write"
            )
        ts = check_token_sets(token_sets, n_features=self.dim, name="token sets", what="this collection")
        n = len(ts)
        if ids is not None and len(ids) != n:
            raise ValidationError(f"got {len(ids)} ids for {n} token sets; give one id per document")
        if metadata is not None:
            if len(metadata) != n:
                raise ValidationError(f"got {len(metadata)} metadata entries for {n} token sets; give one per document (or None)")
            for i, m in enumerate(metadata):
                if m is not None and not isinstance(m, dict):
                    raise ValidationError(f"metadata[{i}] is a {type(m).__name__}; expected a JSON object (dict) or None")
                if m is not None and TOKENS_KEY in m:
                    raise ValidationError(f"metadata[{i}] uses the reserved key {TOKENS_KEY!r} (the token location); rename it")
        step = n if batch_size is None else check_positive_int(batch_size, "batch_size", owner="add")
        out: list[IdLike] = []
        for a in range(0, n, step):
            b = min(a + step, n)
            part_ids = None if ids is None else list(ids[a:b])
            part_meta = None if metadata is None else list(metadata[a:b])
            out += self._write_batch(ts.slice(a, b), part_ids, part_meta, replace=replace)
        return out

    def _write_batch(self, ts: TokenSets, ids: Any, metadata: Any, *, replace: bool) -> list[IdLike]:
        """One durable batch: its token file first, then the inner add, the only commit."""
        n = len(ts)
        X = self.encode_documents(ts)
        seg, file = self._files.write(ts)
        starts = ts.offsets[:-1].tolist()
        lengths = ts.lengths.tolist()
        meta = [
            {**((metadata[i] or {}) if metadata is not None else {}), TOKENS_KEY: [seg, starts[i], lengths[i]]} for i in range(n)
        ]
        try:
            if replace:
                return self._inner.upsert(X, ids, meta)
            return self._inner.add(X, ids, meta)
        except BaseException:
            file.unlink(missing_ok=True)  # never referenced: the inner commit did not happen
            raise

    def delete(self, ids: IdLike | Sequence[IdLike]) -> int:
        """Delete the documents with these ids (others are ignored); return how many were deleted."""
        return self._inner.delete(ids)

    def compact(self) -> int:
        """Compact the inner collection and delete token files no live document references; return files deleted."""
        self._inner.compact()
        return self._files.delete_except(self._referenced_segments())

    def _referenced_segments(self, block: int = 4096) -> set[int]:
        ids = self._inner.ids()
        used: set[int] = set()
        for start in range(0, len(ids), block):
            for m in self._inner.get(ids[start : start + block]).metadata:
                used.add(int(self._location(m)[0]))
        return used

    # ------------------------------------------------------------------ reading
    def _location(self, meta: dict | None) -> tuple[int, int, int]:
        loc = (meta or {}).get(TOKENS_KEY)
        if not isinstance(loc, list) or len(loc) != 3:
            raise FileFormatError(
                f"a document of {self._root} has no token location; run 'lowdim check {self._root / INDEX_DIR}'"
            )
        return int(loc[0]), int(loc[1]), int(loc[2])

    def get(self, ids: IdLike | Sequence[IdLike]) -> MultiVectorRecords:
        """The token sets and metadata of these ids, in order (NotFoundError names missing ones)."""
        rec = self._inner.get(ids)
        tokens = self._files.gather([self._location(m) for m in rec.metadata])
        return MultiVectorRecords(rec.ids, tokens, [_strip(m) for m in rec.metadata])

    def ids(self) -> list[IdLike]:
        """Every live id, in insertion order."""
        return self._inner.ids()

    def refresh(self) -> MultiVectorCollection:
        """Move a reader to the latest committed state (see :meth:`lowdim.store.Collection.refresh`)."""
        self._files.map_all()
        self._inner.refresh()
        return self

    def search(
        self,
        query_token_sets: Any,
        k: int = 10,
        *,
        candidates: int | None = None,
        filter: dict[str, Any] | None = None,
        with_metadata: bool = False,
    ) -> CollectionResult:
        """The ``k`` documents of best exact Chamfer score for each query token set.

        Parameters
        ----------
        query_token_sets : list of (m_i, dim) arrays, ``(rows, offsets)`` or TokenSets (nq sets; one query: ``[q]``)
        k : int
        candidates : int, optional
            Documents the first stage finds per query and Chamfer reranks (default the collection's; at least k).
        filter : dict, optional
            Metadata conditions as in :meth:`lowdim.store.Collection.search`; k are returned whenever k documents match.
        with_metadata : bool
            Also return each hit's metadata.

        Returns
        -------
        CollectionResult
            ``ids`` (nq, k) object (None padding), ``scores`` (nq, k) float32 exact Chamfer (-inf padding).
        """
        k = check_k(k)
        c = self._candidates if candidates is None else check_positive_int(candidates, "candidates", owner="search")
        c = max(c, k)
        qs = check_token_sets(query_token_sets, n_features=self.dim, name="queries", what="this collection")
        Q = self.encode_queries(qs)
        first = self._inner.search(Q, c, filter=filter, rerank=0, with_metadata=True)
        meta = first.metadata or []
        # one local CSR of every distinct candidate of the batch, numbered in order of first appearance
        where: dict[Any, int] = {}
        locs: list[tuple[int, int, int]] = []
        user_meta: list[dict | None] = []
        local = np.full(first.ids.shape, -1, np.int64)
        for i, row in enumerate(first.ids.tolist()):
            for j, uid in enumerate(row):
                if uid is None:
                    continue
                if uid not in where:
                    where[uid] = len(locs)
                    locs.append(self._location(meta[i][j]))
                    user_meta.append(_strip(meta[i][j]))
                local[i, j] = where[uid]
        scores = np.full((len(qs), k), -np.inf, np.float32)
        ids = np.full((len(qs), k), None, dtype=object)
        out_meta: list[list[dict | None]] | None = [[None] * k for _ in range(len(qs))] if with_metadata else None
        if locs:
            s, rows = chamfer_rerank(qs, self._files.gather(locs), local, k)
            uids = list(where)
            for i in range(len(qs)):
                for j in range(k):
                    r = int(rows[i, j])
                    if r >= 0:
                        ids[i, j] = uids[r]
                        if out_meta is not None:
                            out_meta[i][j] = user_meta[r]
            scores = np.where(rows >= 0, s, -np.inf).astype(np.float32)
        return CollectionResult(ids, scores, out_meta, exact_reason=first.exact_reason)

    def info(self) -> dict[str, Any]:
        """Settings, counts and bytes (a JSON-ready dict).

        ``ram_bytes_per_document``: the inner codes per document (the spec on the first-stage
        vector); ``tokens_disk_bytes``: the token files; ``index``: the inner collection's info.
        """
        inner = self._inner.info()
        n_files, disk = self._files.disk_bytes()
        return {
            "path": str(self._root),
            "dim": self.dim,
            "count": len(self),
            "spec": self.spec,
            "fde": self._fde.get_params(),
            "fde_dim": self._fde.output_dim,
            "pooled_weight": self._weight,
            "candidates": self._candidates,
            "first_stage_dim": int(self._settings["inner_dim"]),
            "ram_bytes_per_document": bytes_per_vector(int(self._settings["inner_dim"]), self.spec),
            "token_files": n_files,
            "tokens_disk_bytes": disk,
            "trained": inner["trained"],
            "untrained_reason": inner["untrained_reason"],
            "index": inner,
        }


def _from_plan(plan: Any, dim: int | None, *given: Any) -> tuple[int, str, FDE, float, int]:
    """``(dim, spec, fde, pooled_weight, candidates)`` of a plan's recommendation (see :meth:`MultiVectorCollection.create`)."""
    from ._plan import MultiVectorPlan

    names = ("spec", "fde", "pooled_weight", "candidates")
    clash = [n for n, v in zip(names, given) if v is not None]
    if clash:
        raise ParameterError(f"create(plan=...) takes {', '.join(clash)} from the plan; drop {', '.join(clash)}= or drop plan=")
    p = MultiVectorPlan.load(plan) if isinstance(plan, (str, os.PathLike)) else plan
    if isinstance(p, dict):
        p = MultiVectorPlan.from_dict(p)
    if not isinstance(p, MultiVectorPlan):
        raise ParameterError(f"plan must be a MultiVectorPlan, its to_dict() or a JSON path; got {type(plan).__name__}")
    rec = p.require_feasible()
    if dim is not None and int(dim) != p.dim:
        raise ParameterError(f"dim={dim} contradicts the plan, made on tokens of width {p.dim}")
    return p.dim, rec.spec, FDE(**rec.fde), rec.pooled_weight, int(rec.candidates or DEFAULT_CANDIDATES)


def first_stage_parts(fde: FDE, ts: TokenSets, *, queries: bool) -> tuple[np.ndarray, np.ndarray]:
    """The two parts of first-stage vectors before weighting: the scaled FDE (n, fde_dim) and the pooled vectors (n, d).

    Documents: ``FDE(doc) / sqrt(reps)``; queries: ``FDE_q(query) / (n_q sqrt(reps))``. The
    collection and :func:`~lowdim.multivector.plan_multivector` both encode through here, so
    a plan measures what the collection does.
    """
    if queries:
        scale = 1.0 / (ts.lengths.astype(np.float32) * np.float32(np.sqrt(fde.reps)))
        F = fde.encode_queries(ts) * scale[:, None]
    else:
        F = fde.encode_documents(ts) / np.float32(np.sqrt(fde.reps))
    return np.asarray(F, dtype=np.float32), pooled_vectors(ts)


def join_first_stage(parts: tuple[np.ndarray, np.ndarray], weight: float) -> np.ndarray:
    """``[F, weight * pooled]`` (n, fde_dim + d) float32; just ``F`` when ``weight == 0``."""
    F, P = parts
    if weight == 0:
        return np.ascontiguousarray(F, dtype=np.float32)
    return np.hstack([F, np.float32(weight) * P]).astype(np.float32, copy=False)


def _remove_tree(root: Path, *, keep_root: bool) -> None:
    """Undo a failed create (only what it made)."""
    import shutil

    for p in root.iterdir() if root.exists() else []:
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    if not keep_root and root.exists():
        root.rmdir()
