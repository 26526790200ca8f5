"""``RemoteSummary`` and ``RemoteClassifier``: private releases served by a lowdim server, read like local ones.

Only numpy and lowdim are imported here (no web stack): :meth:`lowdim.Client.summary` returns a
:class:`RemoteClassifier` for a served :class:`~lowdim.private.PrivateClassifier` and a
:class:`RemoteSummary` for a :class:`~lowdim.private.PrivateSummary` (:func:`remote_release`).

Examples
--------
>>> from lowdim import Client
>>> Client("http://127.0.0.1:8000").summary("kde").query(queries).sums.shape  # doctest: +SKIP
(2000,)
>>> Client("http://127.0.0.1:8000").summary("topics").predict(queries)[:3]  # doctest: +SKIP
array(['noun.animal', 'verb.motion', 'noun.act'], dtype='<U16')
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import numpy as np

from ..exceptions import ParameterError
from ..private import Estimates, PrivacyRecord
from ..validation import check_embeddings

__all__ = ["RemoteSummary", "RemoteClassifier", "remote_release"]


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise ParameterError(f"The 'name' parameter of Client.summary must be a non-empty string. Got {name!r}.")
    return name


def remote_release(client: Any, name: str) -> RemoteSummary | RemoteClassifier:
    """The release ``name`` served at ``client``: a :class:`RemoteClassifier` or a :class:`RemoteSummary`, by its kind."""
    info = client._request("GET", f"/summaries/{quote(_check_name(name), safe='')}")
    if info.get("kind") == "classifier":
        return RemoteClassifier(client, name, info)
    return RemoteSummary(client, name, info)


class _RemoteRelease:
    """What both kinds of served release share: the name, the info the server reports, width and record."""

    kind = "summary"

    def __init__(self, client: Any, name: str, info: dict[str, Any] | None = None) -> None:
        self._client = client
        self.name = _check_name(name)
        self._base = f"/summaries/{quote(name, safe='')}"
        self._info = self.info() if info is None else info

    def info(self) -> dict[str, Any]:
        """Settings, width, released counts and privacy record (and a classifier's classes), as the server reports them."""
        return self._client._request("GET", self._base)

    @property
    def n_features_in_(self) -> int:
        return int(self._info["n_features"])

    @property
    def record_(self) -> PrivacyRecord:
        return PrivacyRecord.from_dict(self._info["record"], f"{self.kind} {self.name!r}")


class RemoteSummary(_RemoteRelease):
    """A summary served by a lowdim server, with the reading methods of :class:`~lowdim.private.PrivateSummary`.

    ``query`` splits batches larger than the server's ``max_batch`` into several requests.
    """

    def query(self, Y: Any) -> Estimates:
        """Estimates of ``Σ_x f(x, y)`` and the mean for each row of ``Y`` (m, width); see :class:`~lowdim.private.Estimates`."""
        Q = check_embeddings(Y, n_features=self.n_features_in_, name="Y", what="this summary")
        step = self._client.limits["max_batch"]
        parts = [
            self._client._request("POST", f"{self._base}/query", {"queries": Q[i : i + step].tolist()})
            for i in range(0, len(Q), step)
        ]
        sums = np.array([v for p in parts for v in p["sums"]], dtype=np.float64)
        means = np.array([np.nan if v is None else v for p in parts for v in p["means"]], dtype=np.float64)
        count = parts[0]["count"] if parts else self._info["count"]
        std = [v for p in parts for v in p.get("noise_std", [])]
        noise = np.array(std, dtype=np.float64) if len(std) == len(sums) else None
        return Estimates(sums, means, float("nan") if count is None else float(count), noise)

    def __repr__(self) -> str:
        return f"RemoteSummary({self._client.url!r}, {self.name!r})"


class RemoteClassifier(_RemoteRelease):
    """A classifier served by a lowdim server, with the reading methods of :class:`~lowdim.private.PrivateClassifier`.

    ``predict`` and ``predict_proba`` split batches larger than the server's ``max_batch`` into several requests.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    record_ : PrivacyRecord
    """

    kind = "classifier"

    def __init__(self, client: Any, name: str, info: dict[str, Any] | None = None) -> None:
        super().__init__(client, name, info)
        self.classes_ = np.asarray(self._info["classes"])

    def _ask(self, X: Any, proba: bool) -> list[dict[str, Any]]:
        Q = check_embeddings(X, n_features=self.n_features_in_, name="X", what="this classifier")
        step = self._client.limits["max_batch"]
        return [
            self._client._request("POST", f"{self._base}/predict", {"queries": Q[i : i + step].tolist(), "proba": proba})
            for i in range(0, len(Q), step)
        ]

    def predict(self, X: Any) -> np.ndarray:
        """The most similar class of each row of ``X`` (n, width): shape (n,), labels from ``classes_``."""
        labels = [v for p in self._ask(X, False) for v in p["labels"]]
        return np.asarray(labels, dtype=self.classes_.dtype)

    def predict_proba(self, X: Any) -> np.ndarray:
        """``softmax(scores / temperature)`` of each row of ``X`` (n, width): float64 (n, n_classes), rows sum to 1."""
        rows = [r for p in self._ask(X, True) for r in p["proba"]]
        return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(self.classes_))

    def __repr__(self) -> str:
        return f"RemoteClassifier({self._client.url!r}, {self.name!r})"
