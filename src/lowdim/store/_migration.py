"""A live model migration's record, sources, score calibration and merged search (the facade is :mod:`._migrate`).

While a collection migrates to a new embedding model, its items are re-embedded into a
*target* collection in the sub-folder ``migration-<model>/`` (same settings, the new model's
width), batch by batch, each batch one durable commit there: what the target holds is what is
done, so a killed migration resumes where it stopped. The catalog's ``migration`` entry records
the target, the state (``running``, then ``switched``, then ``retired``), the score calibration
and the quality checkpoints.

Searches with the new model's queries meanwhile merge two searches: the target's (new space,
exact for re-embedded items) and the old index's through the query map (old space, for items
not yet re-embedded). Old-space scores are put on the new scale by a linear calibration
``a + b · old`` that matches the top scores' distribution of sample queries in both spaces, so that
one list can be ranked; an item found by both gets its new-space score.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..arrays import prepare_rows
from ..exceptions import FileFormatError, ParameterError, ValidationError
from ._results import CollectionResult

if TYPE_CHECKING:
    from ._collection import Collection

__all__ = [
    "MIGRATION_KEY",
    "MigrationRecord",
    "MigrationRun",
    "target_folder",
    "read_record",
    "make_source",
    "fit_calibration",
    "merge_results",
    "hit_rate",
]

MIGRATION_KEY = "migration"
STATES = ("running", "switched", "retired")
#: top-ranked pairs per calibration query (by each space), whose scores the calibration fits
_CAL_TOP = 20


def target_folder(model: str) -> str:
    """The sub-folder name of a migration to ``model`` (``migration-all-MiniLM-L6-v2``)."""
    return "migration-" + re.sub(r"[^A-Za-z0-9._-]+", "-", model.rstrip("/").split("/")[-1]).strip("-.")


@dataclass
class MigrationRecord:
    """The catalog's ``migration`` entry (JSON): where the target is, how far, how scores merge."""

    to_model: str
    folder: str
    state: str = "running"
    started: float = field(default_factory=time.time)
    #: (a, b): old-space scores become ``a + b · old`` on the new scale; None until fitted
    calibration: list[float] | None = None
    #: {"done", "total", "fraction", "quality", "metric", "seconds"} at each quarter (and the end)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    switched: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Any, where: str) -> MigrationRecord:
        try:
            rec = cls(**d)
            if rec.state not in STATES or not isinstance(rec.folder, str) or "/" in rec.folder or not rec.folder:
                raise ValueError(f"state {rec.state!r}, folder {rec.folder!r}")
            return rec
        except (TypeError, ValueError) as exc:
            raise FileFormatError(
                f"the migration record of collection {where} is corrupt ({exc}); run 'lowdim check {where}'"
            ) from None


@dataclass
class MigrationRun:
    """What a collection holds while it migrates: the record, the open target, the background thread."""

    rec: MigrationRecord
    target: Collection
    thread: threading.Thread | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    error: str | None = None
    rate: float | None = None


def read_record(catalog: Any, where: str) -> MigrationRecord | None:
    """The migration record in ``catalog`` (a :class:`._catalog.Catalog`), or None."""
    raw = catalog.get(MIGRATION_KEY)
    return None if raw is None else MigrationRecord.from_dict(raw, where)


Source = Callable[[list[Any], list[str | None]], np.ndarray]


def make_source(*, to_model: str, vectors: Any, texts: Any, has_texts: bool) -> tuple[Source, str | None]:
    """``(source, encoder name)``: how to get the new model's vectors of items (their ids and stored texts).

    ``vectors``: a callable ``ids -> (n, d_new) array`` (vectors embedded elsewhere); else texts are
    embedded with ``to_model``'s encoder: ``texts`` (a mapping id -> text or a callable ``ids ->
    texts``) or, by default, the texts the collection stored (``add_texts``).
    """
    if vectors is not None:
        if texts is not None:
            raise ParameterError("give migrate either vectors= (new-model vectors) or texts= (texts to embed), not both")
        if not callable(vectors):
            raise ParameterError(
                f"The 'vectors' parameter of migrate must be a callable ids -> (n, dim) array. Got {type(vectors).__name__}."
            )

        def from_vectors(ids: list[Any], stored: list[str | None]) -> np.ndarray:
            out = np.asarray(vectors(ids))
            if out.ndim != 2 or len(out) != len(ids):
                raise ValidationError(f"vectors(ids) returned shape {out.shape} for {len(ids)} ids; expected ({len(ids)}, dim)")
            return out

        return from_vectors, None
    if texts is not None and not (callable(texts) or isinstance(texts, Mapping)):
        raise ParameterError(
            f"The 'texts' parameter of migrate must be a mapping id -> text or a callable ids -> texts. Got {type(texts).__name__}."
        )
    if texts is None and not has_texts:
        raise ParameterError(
            "this collection stores no texts (only text collections filled with add_texts do); give migrate texts= "
            "(a mapping id -> text, or a callable ids -> texts) or vectors= (a callable ids -> new-model vectors)"
        )
    from ..encoders import shared_encoder

    enc = shared_encoder(to_model)

    def from_texts(ids: list[Any], stored: list[str | None]) -> np.ndarray:
        if texts is None:
            got: Sequence[Any] = stored
        elif isinstance(texts, Mapping):
            got = [texts.get(i) for i in ids]
        else:
            got = list(texts(ids))
        missing = [i for i, t in zip(ids, got) if not isinstance(t, str)] if len(got) == len(ids) else ids
        if missing:
            raise ValidationError(
                f"no text for {len(missing)} of the items to re-embed (first: {missing[0]!r}); every item needs one"
            )
        return enc.encode(list(got), allow_empty=False)

    return from_texts, enc.name


def _scores(Q: np.ndarray, X: np.ndarray, metric: str) -> np.ndarray:
    Q, X = prepare_rows(Q, metric), prepare_rows(X, metric)
    if metric == "l2":
        return (Q**2).sum(1)[:, None] - 2 * Q @ X.T + (X**2).sum(1)[None, :]
    return Q @ X.T


def fit_calibration(
    mapped_q: np.ndarray, new_q: np.ndarray, old_docs: np.ndarray, new_docs: np.ndarray, metric: str
) -> list[float]:
    """``[a, b]`` putting old-space scores on the new scale: ``a + b · old`` (distribution matching).

    ``mapped_q`` (m, d_old) are new-model queries ``new_q`` (m, d_new) through the map; ``old_docs``
    (n, d_old) and ``new_docs`` (n, d_new) the same items in both spaces. Each query's top
    :data:`_CAL_TOP` scores in the old space (its mapped query against ``old_docs``) and in the new
    space are pooled, and the line matches the old pool's mean and standard deviation to the new
    pool's: an item at a given rank of the old search gets about the score of an item at that rank
    of the new search. (A regression of new on old scores would not do: within the top ranks the
    two spaces' scores correlate weakly, and the fitted line flattens every old score to one value.)
    """
    so = _scores(mapped_q, old_docs, metric).astype(np.float64)
    sn = _scores(new_q, new_docs, metric).astype(np.float64)
    top = min(_CAL_TOP, so.shape[1])
    sign = 1.0 if metric == "l2" else -1.0
    x = np.take_along_axis(so, np.argsort(sign * so, axis=1)[:, :top], axis=1).ravel()
    y = np.take_along_axis(sn, np.argsort(sign * sn, axis=1)[:, :top], axis=1).ravel()
    if len(x) < 3 or float(np.std(x)) < 1e-9:
        return [0.0, 1.0]
    b = float(np.std(y) / np.std(x))
    return [float(np.mean(y) - b * np.mean(x)), b]


def merge_results(
    old: CollectionResult,
    new: CollectionResult,
    migrated: Callable[[list[Any]], set[Any]],
    rescore: Callable[[np.ndarray], np.ndarray],
    calibration: Sequence[float],
    k: int,
    larger_is_better: bool,
) -> CollectionResult:
    """One (n_queries, k) result from the old index's (through the map) and the target's.

    Old-space scores of items not yet re-embedded are calibrated; an item the old search found
    that is re-embedded gets its new-space score (``rescore`` of an (n_queries, m) id grid, None
    where not needed); each item counts once.
    """
    a, b = float(calibration[0]), float(calibration[1])
    done = migrated([v for v in old.ids.ravel().tolist() if v is not None])
    need = np.full(old.ids.shape, None, dtype=object)  # re-embedded items only the old search found
    for i, (old_row, new_row) in enumerate(zip(old.ids.tolist(), new.ids.tolist())):
        found = set(new_row)
        for j, v in enumerate(old_row):
            if v is not None and v in done and v not in found:
                need[i, j] = v
    asked = need != None  # noqa: E711 - elementwise over an object array
    fresh = rescore(need) if asked.any() else None
    nq = len(old.ids)
    ids = np.full((nq, k), None, dtype=object)
    pad = -np.inf if larger_is_better else np.inf
    scores = np.full((nq, k), pad, np.float32)
    meta: list[list[dict | None]] | None = None if old.metadata is None else [[None] * k for _ in range(nq)]
    for i in range(nq):
        best: dict[Any, tuple[float, Any]] = {}
        for j, v in enumerate(new.ids[i].tolist()):
            if v is not None:
                best[v] = (float(new.scores[i, j]), None if new.metadata is None else new.metadata[i][j])
        for j, v in enumerate(old.ids[i].tolist()):
            if v is None or v in best:
                continue
            # re-embedded: its new-space score; not yet: its calibrated old-space score
            s = float(fresh[i, j]) if asked[i, j] else a + b * float(old.scores[i, j])  # type: ignore[index]
            best[v] = (s, None if old.metadata is None else old.metadata[i][j])
        order = sorted(best.items(), key=lambda kv: -kv[1][0] if larger_is_better else kv[1][0])[:k]
        for j, (v, (s, m)) in enumerate(order):
            ids[i, j], scores[i, j] = v, s
            if meta is not None:
                meta[i][j] = m
    return CollectionResult(ids, scores, meta, exact_reason=new.exact_reason or old.exact_reason)


def hit_rate(result: CollectionResult, relevant: Sequence[Any]) -> float:
    """Fraction of queries whose relevant id is among their results."""
    rows = result.ids.tolist()
    return float(np.mean([rel in row for rel, row in zip(relevant, rows)])) if rows else 0.0
