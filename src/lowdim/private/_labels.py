"""Class labels from files, for ``lowdim private classify | predict``: ``.npy``, ``.txt`` or ``.jsonl`` with a key.

- ``.npy``: a 1-D array of integers or strings (no pickled objects);
- ``.txt``: one label per line (strings; a trailing empty line is ignored);
- ``.jsonl``: one JSON object per line, the label under ``key`` (a string or an integer).

Every problem is a one-line lowdim error naming the file (and the line, for text files).

Examples
--------
>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "y.jsonl"
>>> _ = p.write_text('{"id": 0, "lexname": "noun.Tops"}\\n{"id": 1, "lexname": "verb.body"}\\n')
>>> read_labels(p, key="lexname").tolist()
['noun.Tops', 'verb.body']
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import DimensionError, FileFormatError, ParameterError, ValidationError

__all__ = ["read_labels", "read_classes", "check_count"]

_SUFFIXES = (".npy", ".txt", ".jsonl")


def _lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise FileFormatError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def _from_jsonl(path: Path, key: str) -> np.ndarray:
    out: list[Any] = []
    for i, line in enumerate(_lines(path), 1):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise FileFormatError(f"{path} line {i} is not JSON ({exc.msg})") from None
        if not isinstance(obj, dict) or key not in obj:
            keys = ", ".join(map(str, obj)) if isinstance(obj, dict) else f"a {type(obj).__name__}, not an object"
            raise ValidationError(f"{path} line {i} has no key {key!r} (it has: {keys})")
        value = obj[key]
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ValidationError(f"{path} line {i}: the label {key!r} is {value!r}; labels must be strings or integers")
        out.append(value)
    if out and not all(isinstance(v, type(out[0])) for v in out):
        raise ValidationError(f"{path}: the {key!r} labels mix strings and integers; use one type")
    return np.asarray(out)


def read_labels(path: Path, *, key: str | None = None, name: str = "LABELS") -> np.ndarray:
    """The labels in ``path``: shape (n,), integers or strings (``key``: the field of a ``.jsonl`` file)."""
    path = Path(path)
    if path.suffix not in _SUFFIXES:
        raise ParameterError(f"{name} must be a .npy, .txt or .jsonl file (with --label-key). Got {path.name!r}.")
    if not path.is_file():
        raise FileFormatError(f"{path}: no such file (expected labels: .npy, .txt or .jsonl)")
    if path.suffix == ".jsonl":
        if key is None:
            raise ParameterError(f"{name} {path.name} is a .jsonl file: say which field holds the label with --label-key")
        return _from_jsonl(path, key)
    if key is not None:
        raise ParameterError(f"--label-key is for .jsonl labels; {path.name} is a {path.suffix} file")
    if path.suffix == ".txt":
        return np.asarray(_lines(path), dtype=str)
    try:
        y = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise FileFormatError(f"{path} could not be read as a .npy array of labels ({exc})") from None
    if not isinstance(y, np.ndarray) or y.ndim != 1:
        raise DimensionError(f"{name} {path.name} must hold a 1-D array of labels; got shape {getattr(y, 'shape', '?')}")
    if y.dtype.kind not in "iuU":
        raise ValidationError(f"{name} {path.name} holds {y.dtype} values; labels must be integers or strings")
    return y


def check_count(labels: np.ndarray, n: int, labels_name: str, rows_name: str) -> None:
    """A one-line :class:`DimensionError` unless there is one label per row."""
    if len(labels) != n:
        raise DimensionError(f"{labels_name} has {len(labels):,} labels, but {rows_name} has {n:,} rows: give one label per row")


def read_classes(path: Path, like: np.ndarray) -> list[Any]:
    """The public label set in the text file ``path`` (one per line), typed like the labels ``like`` (ints or strings)."""
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"{path}: no such file (expected the public label set, one label per line)")
    lines = [line for line in _lines(path) if line != ""]
    if not lines:
        raise ValidationError(f"--classes {path} lists no label")
    if like.dtype.kind in "iu":
        out = []
        for i, line in enumerate(lines, 1):
            try:
                out.append(int(line))
            except ValueError:
                raise ValidationError(f"--classes {path} must list integers, like the labels; line {i} is {line!r}") from None
        return out
    return lines
