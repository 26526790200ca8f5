"""Read a column of texts from .txt / .jsonl / .csv / .parquet files."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from ..exceptions import DTypeError, FileFormatError, ParameterError

__all__ = ["read_texts", "TEXT_FORMATS"]

#: File suffixes :func:`read_texts` understands.
TEXT_FORMATS = (".txt", ".jsonl", ".csv", ".parquet")


def _fields_hint(fields: list[str]) -> str:
    return ", ".join(repr(f) for f in fields) if fields else "(none)"


def _missing_field(path: Path, field: str | None, fields: list[str]) -> ParameterError:
    if field is None:
        return ParameterError(
            f"{path.name} is a {path.suffix} file, so pass the field that holds the texts "
            f"(field=..., CLI: --field); available fields: {_fields_hint(fields)}"
        )
    return ParameterError(f"{path.name} has no field {field!r}; available fields: {_fields_hint(fields)}")


def _read_txt(path: Path) -> list[str]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        text = fh.read()
    # One text per line: split on "\n" only (str.splitlines would also split inside a line at form
    # feeds or U+2028). Blank lines stay, so row i is line i+1; a final newline ends the last line.
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _read_jsonl(path: Path, field: str | None) -> list[str]:
    from ..eval import iter_jsonl

    texts: list[str] = []
    first_fields: list[str] | None = None
    for lineno, record in iter_jsonl(path):
        assert record is not None  # iter_jsonl refuses null lines unless allowed
        if first_fields is None:
            first_fields = list(record)
            if field is None or field not in record:
                raise _missing_field(path, field, first_fields)
        if field not in record:
            raise FileFormatError(f"{path.name} line {lineno} has no field {field!r} (fields: {_fields_hint(list(record))})")
        value = record[field]
        if not isinstance(value, str):
            raise DTypeError(f"{path.name} line {lineno}: field {field!r} is a {type(value).__name__}, expected a string")
        texts.append(value)
    if first_fields is None and field is None:
        raise _missing_field(path, field, [])
    return texts


def _read_csv(path: Path, field: str | None) -> list[str]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        fields = list(reader.fieldnames or [])
        if field is None or field not in fields:
            raise _missing_field(path, field, fields)
        texts: list[str] = []
        for row in reader:
            value = row[field]
            if value is None:  # a short row
                raise FileFormatError(f"{path.name} line {reader.line_num} has no value for field {field!r}")
            texts.append(value)
    return texts


def _read_parquet(path: Path, field: str | None) -> list[str]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise FileFormatError("reading .parquet needs pyarrow; install it with: pip install 'lowdim[io]'") from None
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowException) as exc:
        raise FileFormatError(f"{path} is not a readable parquet file: {exc}") from None
    fields = list(schema.names)
    if field is None or field not in fields:
        raise _missing_field(path, field, fields)
    kind = schema.field(field).type
    is_view = getattr(pa.types, "is_string_view", lambda _: False)  # pyarrow >= 16
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or is_view(kind)):
        raise DTypeError(f"{path.name}: field {field!r} has type {kind}, expected a string column")
    column = pq.read_table(path, columns=[field]).column(field)
    if column.null_count:
        raise FileFormatError(f"{path.name}: field {field!r} has {column.null_count} null value(s); expected a text in every row")
    return column.to_pylist()


def read_texts(path: str | os.PathLike[str], *, field: str | None = None) -> list[str]:
    """Read the texts of a file, one per row.

    Parameters
    ----------
    path : path
        ``.txt`` (one text per line, blank lines kept as empty texts), or
        ``.jsonl`` / ``.csv`` / ``.parquet`` with one record per row.
    field : str, optional
        The column holding the texts; required for, and only for, the
        structured formats. A missing or wrong field lists the available ones.

    Returns
    -------
    list of str, one per row in file order

    Examples
    --------
    >>> from lowdim.encoders import bundled_texts
    >>> len(read_texts(bundled_texts() / "corpus.jsonl", field="text"))
    10000
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TEXT_FORMATS:
        raise FileFormatError(
            f"{path.name}: unsupported text file type {path.suffix or '(no suffix)'!r}; expected one of {', '.join(TEXT_FORMATS)}"
        )
    if not path.is_file():
        raise FileFormatError(f"input file not found: {path}")
    if suffix == ".txt" and field is not None:
        raise ParameterError(
            f"The 'field' parameter applies to .jsonl, .csv and .parquet files; {path.name} is plain text "
            f"(one text per line), so leave it out. Got {field!r}."
        )
    if field is not None and not isinstance(field, str):
        raise ParameterError(f"The 'field' parameter must be a column name (str). Got {field!r}.")
    try:
        if suffix == ".txt":
            return _read_txt(path)
        if suffix == ".jsonl":
            return _read_jsonl(path, field)
        if suffix == ".csv":
            return _read_csv(path, field)
    except UnicodeDecodeError as exc:
        raise FileFormatError(f"{path.name} is not UTF-8 text: {exc}") from None
    except csv.Error as exc:
        raise FileFormatError(f"{path.name} is not a readable CSV file: {exc}") from None
    return _read_parquet(path, field)
