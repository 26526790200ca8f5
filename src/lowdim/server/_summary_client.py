"""``RemoteSummary``: a private summary served by a lowdim server, read like a local :class:`~lowdim.private.PrivateSummary`.

Only numpy and lowdim are imported here (no web stack): :meth:`lowdim.Client.summary` returns one.

Examples
--------
>>> from lowdim import Client
>>> Client("http://127.0.0.1:8000").summary("kde").query(queries).sums.shape  # doctest: +SKIP
(2000,)
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import numpy as np

from ..exceptions import ParameterError
from ..private import Estimates, PrivacyRecord
from ..validation import check_embeddings

__all__ = ["RemoteSummary"]


class RemoteSummary:
    """A summary served by a lowdim server, with the reading methods of :class:`~lowdim.private.PrivateSummary`.

    ``query`` splits batches larger than the server's ``max_batch`` into several requests.
    """

    def __init__(self, client: Any, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise ParameterError(f"The 'name' parameter of Client.summary must be a non-empty string. Got {name!r}.")
        self._client = client
        self.name = name
        self._base = f"/summaries/{quote(name, safe='')}"
        self._info = self.info()

    def info(self) -> dict[str, Any]:
        """Settings, width, released row count and privacy record, as the server reports them."""
        return self._client._request("GET", self._base)

    @property
    def n_features_in_(self) -> int:
        return int(self._info["n_features"])

    @property
    def record_(self) -> PrivacyRecord:
        return PrivacyRecord.from_dict(self._info["record"], f"summary {self.name!r}")

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
        return Estimates(sums, means, float("nan") if count is None else float(count))

    def __repr__(self) -> str:
        return f"RemoteSummary({self._client.url!r}, {self.name!r})"
