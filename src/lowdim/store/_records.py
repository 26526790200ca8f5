"""Ids and the files records come in: one rule for ids from JSON, one reader for vectors + ids + metadata.

The CLI (``lowdim add``, ``lowdim delete``) and the HTTP service call these instead of
keeping their own copies.

Examples
--------
>>> normalize_ids([7.0, "a", 3, 1.5])
[7, 'a', 3, 1.5]
>>> parse_id(" 42 "), parse_id("x42")
(42, 'x42')
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import FileFormatError, ParameterError, ValidationError
from ..validation import integral_number
from ._filters import bad_text, too_big_int

__all__ = ["IdLike", "RecordFiles", "read_records", "read_ids", "parse_id", "normalize_ids", "check_ids"]

#: A user id: an ``int`` (64-bit) or a ``str``.
IdLike = int | str


def normalize_ids(values: Sequence[Any]) -> list[Any]:
    """Ids as JSON delivers them, with integral floats within 64 bits turned into ints (JSON has one number type).

    ``7.0`` becomes ``7``; anything else (strings, ``1.5``, ``1e19``, ``True``) is
    returned unchanged for :meth:`Collection.add` to accept or refuse with its message.
    """
    return [integral_number(v) for v in values]


def parse_id(text: str) -> IdLike:
    """An id typed on the command line or read from a text file: integers become ints, the rest stays text."""
    t = text.strip()
    return int(t) if t.lstrip("-").isdigit() else t


def check_ids(ids: Any, n: int | None, *, unique: bool) -> list[IdLike]:
    """Validate ids (one id, or a sequence of ``int``/``str``) and return them as a list.

    ``n``: how many are expected (None: any number); ``unique``: refuse duplicates.
    """
    if isinstance(ids, (str, int, np.integer)) and not isinstance(ids, bool):
        ids = [ids]
    if isinstance(ids, np.ndarray):
        values = ids.ravel().tolist()
    else:
        try:
            values = list(ids)
        except TypeError:
            raise ValidationError(f"ids must be a list of strings or integers; got {type(ids).__name__}") from None
    out: list[IdLike] = []
    for i, v in enumerate(values):
        if isinstance(v, (bool, np.bool_)) or v is None:
            raise ValidationError(f"ids[{i}] is {v!r}; ids must be strings or integers")
        if isinstance(v, (int, np.integer)):
            v = int(v)
            if too_big_int(v):
                raise ValidationError(f"ids[{i}] = {v} does not fit in 64 bits; use a string id")
        elif not isinstance(v, str):
            raise ValidationError(f"ids[{i}] is a {type(v).__name__} ({v!r}); ids must be strings or integers")
        elif bad_text(v):
            raise ValidationError(f"ids[{i}] is not valid Unicode (it has a lone surrogate): {v!r}")
        out.append(v)
    if n is not None and len(out) != n:
        raise ValidationError(f"{len(out)} ids were given for {n} vectors; expected one id per vector")
    if unique and len(set(out)) != len(out):
        seen: set = set()
        dup = next(v for v in out if v in seen or seen.add(v))  # type: ignore[func-returns-value]
        raise ValidationError(f"ids contain duplicates: {dup!r} appears {out.count(dup)} times")
    return out


def read_ids(path: str | os.PathLike[str]) -> list[IdLike]:
    """The ids of a text file, one per line (integers stay integers); an empty line is an error."""
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"ids file {path} does not exist")
    out = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            raise ValidationError(f"{path.name} line {i} is empty; expected one id per line")
        out.append(parse_id(line))
    return out


def _read_metadata(path: Path) -> list[dict | None]:
    from ..eval import iter_jsonl

    if not path.is_file():
        raise FileFormatError(f"metadata file {path} does not exist")
    blank = "expected one JSON object per vector (use {} for none)"
    return [value for _, value in iter_jsonl(path, blank=blank, allow_null=True)]


@dataclass(frozen=True)
class RecordFiles:
    """What :func:`read_records` read: the arguments of :meth:`Collection.add` (or ``add_texts``).

    Attributes
    ----------
    vectors : ndarray (n, dim) or None
        As stored in the file (a read-only memmap for .npy), None when ``texts`` were read.
    texts : list of n str, or None
    ids : list of n ids, or None (the collection then numbers them)
    metadata : list of n dicts (or None), or None
    """

    vectors: np.ndarray | None
    texts: list[str] | None
    ids: list[IdLike] | None
    metadata: list[dict | None] | None

    def __len__(self) -> int:
        return len(self.texts) if self.texts is not None else len(self.vectors)  # type: ignore[arg-type]


def _same_count(path: Path, got: int, unit: str, source: Path, n: int, what: str, expected: str) -> None:
    if got != n:
        raise ValidationError(f"{path.name} has {got} {unit}, but {source.name} holds {n} {what}; expected {expected}")


def read_records(
    vectors: str | os.PathLike[str] | None = None,
    *,
    ids: str | os.PathLike[str] | None = None,
    metadata: str | os.PathLike[str] | None = None,
    id_field: str | None = None,
    texts: str | os.PathLike[str] | None = None,
    field: str | None = None,
    dataset: str | None = None,
    column: str | None = None,
) -> RecordFiles:
    """Read vectors (or texts) with their ids and metadata from files, checking that the counts agree.

    Parameters
    ----------
    vectors : path, optional
        .npy, .fvecs, .hdf5 or .parquet (see :func:`lowdim.eval.read_vectors`); ``dataset``
        (HDF5) and ``column`` (Parquet) pick the array.
    ids : path, optional
        A text file with one id per line (integers stay integers).
    metadata : path, optional
        JSON lines: line i holds the metadata object (or null) of vector i.
    id_field : str, optional
        Take each id from this field of the metadata (integral JSON numbers become ints).
    texts : path, optional
        Instead of ``vectors``: texts to embed (.txt, or .jsonl/.csv/.parquet with ``field``).
        The objects of a .jsonl texts file are also the metadata unless ``metadata`` is given.

    Returns
    -------
    RecordFiles with ``vectors`` (n, dim) or ``texts`` (n), and ``ids`` / ``metadata`` of length n or None.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> np.save(d / "v.npy", np.zeros((2, 4), np.float32))
    >>> _ = (d / "m.jsonl").write_text('{"id": "a"}\\n{"id": 7.0}\\n')
    >>> rec = read_records(d / "v.npy", metadata=d / "m.jsonl", id_field="id")
    >>> rec.vectors.shape, rec.ids
    ((2, 4), ['a', 7])
    """
    if (vectors is None) == (texts is None):
        raise ParameterError("give either a vectors file or a texts file to read records from (not both)")
    if ids is not None and id_field is not None:
        raise ParameterError("give either an ids file or an id field, not both")
    if texts is not None and metadata is None and Path(texts).suffix.lower() == ".jsonl":
        metadata = texts  # each text's JSON object is its metadata (filterable, returned with_metadata)
    if id_field is not None and metadata is None:
        raise ParameterError(f"id field '{id_field}' needs a metadata file (the JSONL file that holds the field)")
    X: np.ndarray | None = None
    text_list: list[str] | None = None
    if texts is not None:
        from ..encoders import read_texts

        source = Path(texts)
        text_list = read_texts(source, field=field)
        n, what = len(text_list), "texts"
    else:
        from ..eval import read_vectors

        source = Path(vectors)  # type: ignore[arg-type]
        X = read_vectors(source, mmap=True, dataset=dataset, column=column)
        n, what = len(X), "vectors"
    meta = None
    if metadata is not None:
        mpath = Path(metadata)
        meta = _read_metadata(mpath)
        _same_count(mpath, len(meta), "line(s)", source, n, what, "one JSON object per vector")
    id_list: list[IdLike] | None = None
    if ids is not None:
        ipath = Path(ids)
        id_list = read_ids(ipath)
        _same_count(ipath, len(id_list), "id(s)", source, n, what, "one id per vector")
    elif id_field is not None:
        raw = []
        for i, m in enumerate(meta or []):
            if not isinstance(m, dict) or id_field not in m:
                raise ValidationError(f"{Path(metadata).name} line {i + 1} has no field '{id_field}'")  # type: ignore[arg-type]
            raw.append(m[id_field])
        id_list = normalize_ids(raw)
    return RecordFiles(X, text_list, id_list, meta)
