"""``Client``: a lowdim server's collections as objects that behave like local :class:`~lowdim.store.Collection` s.

Moving code between a local collection and a served one changes one line::

    coll = Collection.open("wordnet")                        # local
    coll = Client("http://127.0.0.1:8000").collection("wordnet")  # remote

and ``coll.search(queries, k=10, filter=...)``, ``coll.add(vectors, ids=, metadata=)``,
``coll.upsert``, ``coll.delete(ids)``, ``coll.get(ids)``, the text methods (``search_text``,
``add_texts``, ``upsert_texts``), ``coll.info()`` and ``len(coll)`` return the same types
(:class:`~lowdim.store.CollectionResult` with its ``exact_reason``, :class:`~lowdim.store.Records`),
raise the same error classes and warn the same :class:`~lowdim.exceptions.UntrainedWarning`.
Only httpx is imported, and only when a Client is made.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import numpy as np

from .. import exceptions as _exc
from ..encoders import check_texts
from ..exceptions import ConflictError, LowdimError, NotFoundError, ParameterError, UntrainedWarning, ValidationError
from ..store import CollectionResult, Records, Settings
from ..validation import check_embeddings, check_positive_int

if TYPE_CHECKING:
    from ._mv_client import RemoteMultiVectorCollection

__all__ = ["Client", "RemoteCollection", "ServerError"]

#: lowdim's error classes by name: a server error names one, and the client raises it
_ERROR_CLASSES: dict[str, type[LowdimError]] = {
    name: obj for name in _exc.__all__ if isinstance(obj := getattr(_exc, name), type) and issubclass(obj, LowdimError)
}


class ServerError(LowdimError, RuntimeError):
    """The server refused a request for a reason of its own (auth, body size, an internal error), or could not be reached.

    Attributes
    ----------
    status : int or None
        The HTTP status (None when the server could not be reached).
    detail : object
        The ``detail`` of the server's error body.
    """

    def __init__(self, message: str, *, status: int | None = None, detail: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


def _raise_for(response: Any) -> None:
    status = response.status_code
    try:
        body = response.json()
        message, detail = str(body.get("error") or response.reason_phrase), body.get("detail")
    except (ValueError, AttributeError):
        message, detail = f"HTTP {status} {response.reason_phrase}", None
    kind = detail.get("type") if isinstance(detail, dict) else None
    cls = _ERROR_CLASSES.get(kind) if isinstance(kind, str) else None
    if cls is None and status in (400, 422):
        cls = ParameterError if kind == "ParameterError" else ValidationError
    if cls is None and status == 404 and isinstance(detail, dict):
        cls = NotFoundError
    if cls is None and status == 409:
        cls = ConflictError
    if cls is not None and status < 500:
        raise cls(message)
    raise ServerError(f"{message} (HTTP {status})", status=status, detail=detail)


class Client:
    """A connection to a lowdim server (``lowdim serve``).

    Parameters
    ----------
    url : str
        The server's base URL, e.g. ``"http://127.0.0.1:8000"``.
    api_key : str, optional
        Sent as ``Authorization: Bearer <key>``; needed for writes. Defaults to the
        ``LOWDIM_API_KEY`` environment variable.
    timeout : float
        Seconds per request.
    http : httpx.Client, optional
        A ready client to send requests through (e.g. FastAPI's ``TestClient``); ``url`` is then ignored.

    Examples
    --------
    >>> client = Client("http://127.0.0.1:8000")  # doctest: +SKIP
    >>> coll = client.collection("wordnet")  # doctest: +SKIP
    >>> coll.search(queries, k=10, filter={"pos": "n"}).ids.shape  # doctest: +SKIP
    (2000, 10)
    """

    def __init__(
        self, url: str = "http://127.0.0.1:8000", *, api_key: str | None = None, timeout: float = 60.0, http: Any = None
    ) -> None:
        key = api_key if api_key is not None else (os.environ.get("LOWDIM_API_KEY") or None)
        self.url = str(getattr(http, "base_url", "") or url).rstrip("/")
        self._headers = {"content-type": "application/json"}
        if key:
            self._headers["authorization"] = f"Bearer {key}"
        if http is None:
            import httpx

            http = httpx.Client(base_url=self.url, timeout=timeout)
            self._owns = True
        else:
            self._owns = False
        self._http = http
        self._health: dict[str, Any] | None = None

    def _request(self, method: str, path: str, payload: Any = None) -> Any:
        import httpx

        content = None if payload is None else json.dumps(payload, allow_nan=False, separators=(",", ":")).encode()
        try:
            response = self._http.request(method, path, content=content, headers=self._headers)
        except httpx.TransportError as exc:
            raise ServerError(f"cannot reach the lowdim server at {self.url}: {exc}") from None
        if response.status_code >= 400:
            _raise_for(response)
        return response.json()

    def health(self) -> dict[str, Any]:
        """The server's ``/health``: status, version, collection names, write mode and caps."""
        self._health = self._request("GET", "/health")
        return self._health

    @property
    def limits(self) -> dict[str, int]:
        """The server's caps (``max_batch``, ``max_k``, ...), fetched once."""
        if self._health is None:
            self.health()
        return dict(self._health["limits"])  # type: ignore[index]

    def collections(self) -> list[str]:
        """Names of the served collections."""
        return list(self.health()["collections"])

    def collection(self, name: str) -> RemoteCollection | RemoteMultiVectorCollection:
        """The served collection ``name`` (raises :class:`NotFoundError` if the server has none by that name).

        A multi-vector collection comes as a :class:`~lowdim.server._mv_client.RemoteMultiVectorCollection`
        (token sets in, exact Chamfer results out).
        """
        remote = RemoteCollection(self, name)
        if remote._settings.get("kind") == "multivector":
            from ._mv_client import RemoteMultiVectorCollection  # lazily: it imports this module

            return RemoteMultiVectorCollection(self, name, remote._settings)
        return remote

    def summary(self, name: str) -> Any:
        """The served private release ``name``: a :class:`~lowdim.server._summary_client.RemoteSummary` (``query``,
        ``info``) or, for a classifier, a ``RemoteClassifier`` (``predict``, ``predict_proba``, ``info``, ``classes_``)."""
        from ._summary_client import remote_release  # lazily: lowdim.private loads only when summaries are used

        return remote_release(self, name)

    def close(self) -> None:
        if self._owns:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.url!r})"


class RemoteCollection:
    """A served collection with the methods of :class:`~lowdim.store.Collection`.

    Searches larger than the server's ``max_batch`` are split into several requests
    (reads are safe to split); writes are one request, so one atomic change, unless
    ``batch_size`` asks for several.
    """

    def __init__(self, client: Client, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise ParameterError(f"The 'name' parameter of Client.collection must be a non-empty string. Got {name!r}.")
        self._client = client
        self.name = name
        self._base = f"/collections/{quote(name, safe='')}"
        self._settings = self.info()
        self._warned = False

    # -- description ------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """``Collection.info()`` as the server reports it (without the server's file path)."""
        return self._client._request("GET", self._base)

    def __len__(self) -> int:
        return int(self.info()["count"])

    @property
    def settings(self) -> Settings:
        """The collection's :class:`~lowdim.store.Settings` (fixed at creation), as the server reports them."""
        return Settings.from_dict(self._settings["settings"], f"collection {self.name!r} on {self._client.url}")

    @property
    def is_trained(self) -> bool:
        """Whether the codec is fitted now (until then searches are exact scans; see ``info()["untrained_reason"]``)."""
        return bool(self.info()["trained"])

    @property
    def dim(self) -> int:
        return int(self._settings["dim"])

    @property
    def metric(self) -> str:
        return str(self._settings["metric"])

    @property
    def spec(self) -> str:
        return str(self._settings["spec"])

    @property
    def model(self) -> str | None:
        return self._settings.get("model")

    @property
    def _what(self) -> str:
        # how the local store names the collection in messages (Settings.describe)
        return f"this collection (model {self.model})" if self.model else "this collection"

    def refresh(self) -> RemoteCollection:
        """Nothing to do: every request sees the server's latest committed state."""
        return self

    def close(self) -> None:
        """Nothing to release (the :class:`Client` owns the connection)."""

    def __enter__(self) -> RemoteCollection:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RemoteCollection({self._client.url!r}, {self.name!r}, dim={self.dim}, spec={self.spec!r})"

    # -- reading ----------------------------------------------------------------------------
    def _result(self, parts: list[dict[str, Any]], k: int) -> CollectionResult:
        rows_ids = [r for p in parts for r in p["ids"]]
        rows_scores = [r for p in parts for r in p["scores"]]
        n = len(rows_ids)
        ids = np.empty((n, k), dtype=object)
        for i, row in enumerate(rows_ids):
            ids[i, :] = row
        pad = np.inf if self.metric == "l2" else -np.inf
        scores = np.array([[pad if s is None else s for s in row] for row in rows_scores], dtype=np.float32).reshape(n, k)
        meta = None
        if all("metadata" in p for p in parts):
            meta = [r for p in parts for r in p["metadata"]]
        reason = next((p["exact_reason"] for p in parts if p.get("exact_reason") is not None), None)
        return CollectionResult(ids, scores, meta, reason)

    def _search(self, key: str, items: list[Any], k: int, extra: dict[str, Any]) -> CollectionResult:
        step = self._client.limits["max_batch"]
        options = {a: b for a, b in extra.items() if b is not None and b is not False}  # unset: the server's default
        parts = [
            self._client._request("POST", f"{self._base}/search", {key: items[i : i + step], "k": k, **options})
            for i in range(0, len(items), step)
        ]
        res = self._result(parts, k)
        if res.exact_reason is not None and not self._warned:  # as Collection.search: told once per object
            self._warned = True
            warnings.warn(UntrainedWarning(f"collection {self.name!r} {res.exact_reason}"), stacklevel=3)
        return res

    def search(
        self,
        queries: Any,
        k: int = 10,
        *,
        filter: dict[str, Any] | None = None,
        rerank: int | None = None,
        ef: int | None = None,
        nprobe: int | None = None,
        model: str | None = None,
        with_metadata: bool = False,
    ) -> CollectionResult:
        """The ``k`` best items for each query; see :meth:`lowdim.store.Collection.search`.

        Parameters
        ----------
        queries : array-like (n_queries, dim)

        Returns
        -------
        CollectionResult with ``ids`` (n_queries, k) object array (None where fewer than k
        items match), ``scores`` (n_queries, k) float32 and ``exact_reason`` (set, with one
        :class:`~lowdim.exceptions.UntrainedWarning` per object, while the codec is not trained).
        """
        own = model is None or model == self.model  # another model's queries have its width (the server's map checks it)
        Q = check_embeddings(queries, n_features=self.dim if own else None, name="queries", what=self._what)
        extra = {"filter": filter, "rerank": rerank, "ef": ef, "nprobe": nprobe, "model": model, "with_metadata": with_metadata}
        return self._search("queries", Q.tolist(), k, extra)

    def search_text(
        self,
        text: str | Sequence[str],
        k: int = 10,
        *,
        filter: dict[str, Any] | None = None,
        rerank: int | None = None,
        ef: int | None = None,
        nprobe: int | None = None,
        with_metadata: bool = False,
        model: str | None = None,
    ) -> CollectionResult:
        """:meth:`search` with query text(s) embedded by the collection's encoder on the server; one row per text.

        See :meth:`lowdim.store.Collection.search_text`; texts are checked here as there. ``model``:
        embed them with that model's encoder instead and map them (a query map or a migration to it).
        """
        texts = check_texts([text] if isinstance(text, str) else text, allow_empty=False)
        extra = {"filter": filter, "rerank": rerank, "ef": ef, "nprobe": nprobe, "with_metadata": with_metadata, "model": model}
        return self._search("text", texts, k, extra)

    def get(self, ids: Any) -> Records:
        """The stored vectors and metadata of these ids, in the order given."""
        out = self._client._request("POST", f"{self._base}/get", {"ids": _id_list(ids)})
        vectors = np.asarray(out["vectors"], dtype=np.float32).reshape(len(out["ids"]), self.dim)
        return Records(list(out["ids"]), vectors, list(out["metadata"]))

    # -- writing ----------------------------------------------------------------------------
    def _write(
        self, op: str, key: str, items: list[Any], ids: Any, metadata: Any, model: str | None, batch_size: int | None
    ) -> list[Any]:
        ids_l = None if ids is None else _id_list(ids)
        meta_l = None if metadata is None else list(metadata)
        n = len(items)
        step = n if batch_size is None else check_positive_int(batch_size, "batch_size", owner=op)
        out: list[Any] = []
        for i in range(0, max(n, 1), max(step, 1)):
            payload: dict[str, Any] = {key: items[i : i + step]}
            if ids_l is not None:
                payload["ids"] = ids_l[i : i + step]
            if meta_l is not None:
                payload["metadata"] = meta_l[i : i + step]
            if model is not None:
                payload["model"] = model
            out += self._client._request("POST", f"{self._base}/{op}", payload)["ids"]
        return out

    def add(
        self,
        vectors: Any,
        ids: Sequence[Any] | None = None,
        metadata: Sequence[dict | None] | None = None,
        *,
        model: str | None = None,
        batch_size: int | None = None,
    ) -> list[Any]:
        """Store ``vectors`` (n, dim); return their ids once they are on the server's disk.

        One request (one atomic add) unless ``batch_size`` splits it into several; each
        is atomic, and those before a failing one stay added.
        """
        X = check_embeddings(vectors, n_features=self.dim, name="X", what=self._what)
        return self._write("add", "vectors", X.tolist(), ids, metadata, model, batch_size)

    def upsert(
        self,
        vectors: Any,
        ids: Sequence[Any],
        metadata: Sequence[dict | None] | None = None,
        *,
        model: str | None = None,
        batch_size: int | None = None,
    ) -> list[Any]:
        """Insert ``vectors`` under ``ids``, atomically replacing the items that already have one of these ids."""
        if ids is None:
            raise ParameterError("upsert needs ids: the ids of the items to insert or replace")
        X = check_embeddings(vectors, n_features=self.dim, name="X", what=self._what)
        return self._write("upsert", "vectors", X.tolist(), ids, metadata, model, batch_size)

    def add_texts(
        self,
        texts: Sequence[str],
        ids: Sequence[Any] | None = None,
        metadata: Sequence[dict | None] | None = None,
        *,
        batch_size: int | None = None,
    ) -> list[Any]:
        """Embed ``texts`` with the collection's encoder (on the server) and :meth:`add` them; returns their ids."""
        return self._write("add", "texts", check_texts(texts, allow_empty=False), ids, metadata, None, batch_size)

    def upsert_texts(
        self,
        texts: Sequence[str],
        ids: Sequence[Any],
        metadata: Sequence[dict | None] | None = None,
        *,
        batch_size: int | None = None,
    ) -> list[Any]:
        """Embed ``texts`` with the collection's encoder (on the server) and :meth:`upsert` them under ``ids``."""
        if ids is None:
            raise ParameterError("upsert_texts needs ids: the ids of the items to insert or replace")
        return self._write("upsert", "texts", check_texts(texts, allow_empty=False), ids, metadata, None, batch_size)

    def delete(self, ids: Any) -> int:
        """Delete these ids (unknown ones are ignored); return how many were deleted."""
        return int(self._client._request("POST", f"{self._base}/delete", {"ids": _id_list(ids)})["deleted"])

    def migrate(
        self, to_model: str, *, fit_texts: Sequence[str] | None = None, fit_size: int = 2000, batch_size: int = 1024
    ) -> dict[str, Any]:
        """Start re-embedding this text collection's stored texts with ``to_model`` on the server (see
        :meth:`lowdim.store.Collection.migrate`); returns at once with the status (poll :meth:`migration`)."""
        payload: dict[str, Any] = {"to_model": to_model, "fit_size": fit_size, "batch_size": batch_size}
        if fit_texts is not None:
            payload["fit_texts"] = check_texts(fit_texts, allow_empty=False)
        return dict(self._client._request("POST", f"{self._base}/migrate", payload))

    def migration(self) -> dict[str, Any] | None:
        """The server's :attr:`lowdim.store.Collection.migration` of this collection (None when none is in progress)."""
        out = self._client._request("GET", f"{self._base}/migration")["migration"]
        return None if out is None else dict(out)


def _id_list(ids: Any) -> list[Any]:
    """Ids as a JSON-ready list (numpy integers become ints); one id becomes a list of one, as in the store."""
    if isinstance(ids, (str, int, np.integer)) and not isinstance(ids, bool):
        ids = [ids]
    if isinstance(ids, np.ndarray):
        return ids.ravel().tolist()
    try:
        return [int(v) if isinstance(v, np.integer) else v for v in ids]
    except TypeError:
        raise ValidationError(f"ids must be a list of strings or integers; got {type(ids).__name__}") from None
