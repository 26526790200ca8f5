""":class:`~lowdim.store.Collection`'s text methods: a collection created with ``encoder=`` embeds (and keeps) texts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..exceptions import ParameterError
from ._maps import encoder_for
from ._records import IdLike
from ._results import CollectionResult

__all__ = ["Texts"]

_Ids = Sequence[IdLike] | None
_Meta = Sequence[dict | None] | None


class Texts:
    """The text methods of :class:`~lowdim.store.Collection` (a mixin over its search and writer)."""

    _mutex: Any
    _settings: Any

    if TYPE_CHECKING:  # Collection's own parts, declared for the type checker only
        from ._writer import Writer

        _writer: Writer

        def _check_open(self) -> None: ...
        def _search(
            self, queries: Any, k: int, model: str | None, opts: dict[str, Any], *, stacklevel: int
        ) -> CollectionResult: ...
        def _add(
            self, X: Any, ids: Any, metadata: Any, *, model: str | None, replace: bool, batch_size: int | None, texts: Any
        ) -> list[IdLike]: ...

    @property
    def encoder(self) -> Any:
        """The :class:`~lowdim.encoders.TextEncoder` of a text collection (shared by the process; loaded on first use)."""
        name = self._settings.encoder
        if name is None:
            raise ParameterError(
                f"{self._settings.describe()} has no text encoder; create it with "
                f"Collection.create(path, encoder='all-MiniLM-L6-v2', spec=...) to add and search texts"
            )
        from ..encoders import shared_encoder

        return shared_encoder(name)

    def add_texts(
        self,
        texts: Sequence[str],
        ids: _Ids = None,
        metadata: _Meta = None,
        *,
        progress: bool = False,
        batch_size: int | None = None,
    ) -> list[IdLike]:
        """Embed ``texts`` with the collection's encoder and :meth:`add` them (the texts are kept: :meth:`texts`); returns their ids.

        Examples
        --------
        >>> import tempfile, os
        >>> from lowdim.store import Collection
        >>> c = Collection.create(os.path.join(tempfile.mkdtemp(), "t"), encoder="all-MiniLM-L6-v2", spec="f16")
        >>> c.add_texts(["a large wild cat", "a small boat"])
        [0, 1]
        >>> c.search_text("tiger", 1).ids.tolist(), c.texts([1])
        ([[0]], ['a small boat'])
        """
        enc = self.encoder
        X = enc.encode(texts, progress=progress, allow_empty=False)  # the encoder checks the texts
        return self._add(X, ids, metadata, model=enc.name, replace=False, batch_size=batch_size, texts=list(texts))

    def upsert_texts(
        self, texts: Sequence[str], ids: _Ids, metadata: _Meta = None, *, progress: bool = False, batch_size: int | None = None
    ) -> list[IdLike]:
        """Embed ``texts`` with the collection's encoder and :meth:`upsert` them under ``ids``."""
        if ids is None:
            raise ParameterError("upsert_texts needs ids: the ids of the items to insert or replace")
        enc = self.encoder
        X = enc.encode(texts, progress=progress, allow_empty=False)
        return self._add(X, ids, metadata, model=enc.name, replace=True, batch_size=batch_size, texts=list(texts))

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
        """:meth:`search` with query text(s) embedded by the collection's encoder, or by ``model``'s and mapped (:meth:`add_map`)."""
        enc = self.encoder if model is None else encoder_for(model)
        Q = enc.encode([text] if isinstance(text, str) else text, allow_empty=False)  # outside the lock: the slow part
        opts: dict[str, Any] = {"filter": filter, "rerank": rerank, "ef": ef, "nprobe": nprobe, "with_metadata": with_metadata}
        return self._search(Q, k, enc.name, opts, stacklevel=4)
