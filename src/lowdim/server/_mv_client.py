"""``RemoteMultiVectorCollection``: a served multi-vector collection with the methods of :class:`MultiVectorCollection`.

``Client(url).collection(name)`` returns one when the server says the collection is
multi-vector; ``search``, ``add``, ``upsert``, ``get`` take and give token sets (a list of
``(n_i, dim)`` arrays, a ``(rows, offsets)`` pair or :class:`~lowdim.multivector.TokenSets`),
checked here as the local collection checks them before anything is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import numpy as np

from ..exceptions import ParameterError
from ..multivector import MultiVectorRecords, TokenSets, check_token_sets
from ..store import CollectionResult
from ..validation import check_positive_int
from ._client import Client, _id_list

__all__ = ["RemoteMultiVectorCollection"]


def _json_sets(ts: TokenSets) -> list[Any]:
    """Token sets as JSON lists: one list of token vectors per set."""
    return [ts[i].tolist() for i in range(len(ts))]


class RemoteMultiVectorCollection:
    """A served :class:`~lowdim.multivector.MultiVectorCollection` (exact Chamfer search over token sets).

    Searches of more than the server's ``max_batch`` query sets are split into several requests;
    a write is one request (one atomic change) unless ``batch_size`` asks for several.

    Examples
    --------
    >>> coll = Client("http://127.0.0.1:8000").collection("passages")  # doctest: +SKIP
    >>> coll.search([query_tokens], k=10).ids.shape  # doctest: +SKIP
    (1, 10)
    """

    def __init__(self, client: Client, name: str, info: dict[str, Any] | None = None) -> None:
        self._client = client
        self.name = name
        self._base = f"/collections/{quote(name, safe='')}"
        self._settings = info if info is not None else self.info()

    def info(self) -> dict[str, Any]:
        """``MultiVectorCollection.info()`` as the server reports it (without file paths)."""
        return dict(self._client._request("GET", self._base))

    def __len__(self) -> int:
        return int(self.info()["count"])

    dim = property(lambda self: int(self._settings["dim"]), doc="Token width.")
    spec = property(lambda self: str(self._settings["spec"]), doc="The first-stage spec.")
    candidates = property(lambda self: int(self._settings["candidates"]), doc="Default documents reranked per query.")

    @property
    def _what(self) -> str:
        return f"multi-vector collection {self.name!r}"

    def close(self) -> None:
        """Nothing to release (the :class:`Client` owns the connection)."""

    def __enter__(self) -> RemoteMultiVectorCollection:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RemoteMultiVectorCollection({self._client.url!r}, {self.name!r}, dim={self.dim}, spec={self.spec!r})"

    # -- reading ----------------------------------------------------------------------------
    def search(
        self,
        query_token_sets: Any,
        k: int = 10,
        *,
        candidates: int | None = None,
        filter: dict[str, Any] | None = None,
        with_metadata: bool = False,
    ) -> CollectionResult:
        """The ``k`` documents of best exact Chamfer score per query token set; see :meth:`MultiVectorCollection.search`.

        Returns
        -------
        CollectionResult
            ``ids`` (nq, k) object (None padding), ``scores`` (nq, k) float32 (-inf padding).
        """
        qs = check_token_sets(query_token_sets, n_features=self.dim, name="queries", what=self._what)
        options: dict[str, Any] = {"k": k}
        if candidates is not None:
            options["candidates"] = candidates
        if filter is not None:
            options["filter"] = filter
        if with_metadata:
            options["with_metadata"] = True
        parts = [
            self._client._request("POST", f"{self._base}/search", {"tokens": _json_sets(qs.slice(a, b)), **options})
            for a, b in self._chunks(qs)
        ]
        rows_ids = [r for p in parts for r in p["ids"]]
        n = len(rows_ids)
        ids = np.empty((n, k), dtype=object)
        for i, row in enumerate(rows_ids):
            ids[i, :] = row
        scores = np.array(
            [[-np.inf if s is None else s for s in row] for p in parts for row in p["scores"]], dtype=np.float32
        ).reshape(n, k)
        meta = [r for p in parts for r in p["metadata"]] if with_metadata else None
        reason = next((p["exact_reason"] for p in parts if p.get("exact_reason") is not None), None)
        return CollectionResult(ids, scores, meta, reason)

    def _chunks(self, ts: TokenSets) -> list[tuple[int, int]]:
        """``(start, stop)`` runs of sets within the server's caps per request: max_batch sets, max_tokens tokens, max_body_bytes."""
        limits = self._client.limits
        most_sets, most_tokens = int(limits["max_batch"]), int(limits.get("max_tokens", ts.n_tokens))
        # and within the body cap: a float32 as JSON takes at most 25 bytes ("-1.2345678901234567e-05,")
        most_tokens = min(most_tokens, max(1, int(limits.get("max_body_bytes", 2**62)) // (25 * ts.dim) - 1))
        out, start = [], 0
        for i in range(1, len(ts) + 1):
            too_many = i - start > most_sets or int(ts.offsets[i] - ts.offsets[start]) > most_tokens
            if too_many and i - 1 > start:  # a single set over the cap goes alone: the server names the cap
                out.append((start, i - 1))
                start = i - 1
        out.append((start, len(ts)))
        return out

    def get(self, ids: Any) -> MultiVectorRecords:
        """The stored token sets and metadata of these ids, in the order given."""
        out = self._client._request("POST", f"{self._base}/get", {"ids": _id_list(ids)})
        sets = [np.asarray(s, dtype=np.float32).reshape(-1, self.dim) for s in out["tokens"]]
        if sets:
            tokens = TokenSets.from_list(sets, n_features=self.dim)
        else:
            tokens = TokenSets(np.zeros((0, self.dim), np.float32), np.zeros(1, np.int64))
        return MultiVectorRecords(list(out["ids"]), tokens, list(out["metadata"]))

    # -- writing ----------------------------------------------------------------------------
    def _write(self, op: str, token_sets: Any, ids: Any, metadata: Any, batch_size: int | None) -> list[Any]:
        ts = check_token_sets(token_sets, n_features=self.dim, name="token sets", what=self._what)
        n = len(ts)
        ids_l = None if ids is None else _id_list(ids)
        meta_l = None if metadata is None else list(metadata)
        step = n if batch_size is None else check_positive_int(batch_size, "batch_size", owner=op)
        out: list[Any] = []
        for a in range(0, n, step):
            b = min(a + step, n)
            payload: dict[str, Any] = {"tokens": _json_sets(ts.slice(a, b))}
            if ids_l is not None:
                payload["ids"] = ids_l[a:b] if len(ids_l) == n else ids_l  # a wrong count: the server says so
            if meta_l is not None:
                payload["metadata"] = meta_l[a:b] if len(meta_l) == n else meta_l
            out += self._client._request("POST", f"{self._base}/{op}", payload)["ids"]
        return out

    def add(
        self,
        token_sets: Any,
        ids: Sequence[Any] | None = None,
        metadata: Sequence[dict | None] | None = None,
        *,
        batch_size: int | None = None,
    ) -> list[Any]:
        """Store documents (token sets); return their ids once they are on the server's disk."""
        return self._write("add", token_sets, ids, metadata, batch_size)

    def upsert(
        self,
        token_sets: Any,
        ids: Sequence[Any],
        metadata: Sequence[dict | None] | None = None,
        *,
        batch_size: int | None = None,
    ) -> list[Any]:
        """Insert documents under ``ids``, atomically replacing those that already have one of these ids."""
        if ids is None:
            raise ParameterError("upsert needs ids: the ids of the documents to insert or replace")
        return self._write("upsert", token_sets, ids, metadata, batch_size)

    def delete(self, ids: Any) -> int:
        """Delete these ids (unknown ones are ignored); return how many were deleted."""
        return int(self._client._request("POST", f"{self._base}/delete", {"ids": _id_list(ids)})["deleted"])
