"""Read vector data sets from disk: .npy, TEXMEX .fvecs/.ivecs/.bvecs, ann-benchmarks HDF5, parquet, jsonl qrels.

Every reader checks the file's size against what its header promises *before*
memory-mapping it, so a truncated download fails with one line naming the file
instead of a ``mmap length is greater than file size`` traceback or, worse, a
silently short array.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Union

import numpy as np

from .._npyheader import read_npy_header
from ..exceptions import DimensionError, DTypeError, FileFormatError, MissingDependencyError, ParameterError

__all__ = [
    "PathLike",
    "SUPPORTED_EXTENSIONS",
    "MissingDependencyError",
    "read_vectors",
    "read_ids",
    "read_qrels_jsonl",
    "iter_jsonl",
]

#: A filesystem path.
PathLike = Union[str, "os.PathLike[str]"]

#: Vector file extensions :func:`read_vectors` understands.
SUPPORTED_EXTENSIONS = (".npy", ".fvecs", ".ivecs", ".bvecs", ".hdf5", ".h5", ".parquet")

# TEXMEX formats: every record is an int32 dimension followed by `dim` components.
_VECS_DTYPES: dict[str, np.dtype[Any]] = {".fvecs": np.dtype("<f4"), ".ivecs": np.dtype("<i4"), ".bvecs": np.dtype("u1")}


def _existing_file(path: PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise FileFormatError(f"{p}: no such file")
    if p.is_dir():
        raise FileFormatError(f"{p} is a directory; expected a file (did you mean load_dataset({str(p)!r})?)")
    return p


def _suffix(p: Path) -> str:
    return p.suffix.lower()


def _unsupported(p: Path, supported: tuple[str, ...]) -> FileFormatError:
    return FileFormatError(f"{p.name}: unsupported extension {p.suffix or '(none)'!r}; supported: {', '.join(supported)}")


# ---------------------------------------------------------------- .npy


def _read_npy(p: Path, *, mmap: bool) -> np.ndarray:
    """Load a .npy file after checking that its data section is as long as its header says."""
    size = p.stat().st_size
    with open(p, "rb") as f:
        try:
            shape, fortran, dtype = read_npy_header(f)
        except (ValueError, OSError, SyntaxError, EOFError) as exc:
            raise FileFormatError(f"{p.name} is not a valid .npy file: {exc}") from None
        offset = f.tell()
    if dtype.hasobject:
        raise FileFormatError(f"{p.name} holds Python objects (dtype {dtype}); expected a numeric array")
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    got = size - offset
    if got < expected:
        raise FileFormatError(f"{p.name} is truncated: expected {expected} bytes of data, got {got}")
    if got > expected:
        raise FileFormatError(
            f"{p.name} has {got - expected} bytes after the data its header describes "
            f"(shape {shape}, dtype {dtype}); the file is corrupt"
        )
    if mmap and expected > 0:
        return np.load(p, mmap_mode="r", allow_pickle=False)
    return np.load(p, allow_pickle=False)


# ---------------------------------------------------------------- TEXMEX .fvecs / .ivecs / .bvecs


def _read_vecs(p: Path, *, mmap: bool) -> np.ndarray:
    dtype = _VECS_DTYPES[_suffix(p)]
    size = p.stat().st_size
    if size < 4:
        raise FileFormatError(f"{p.name} is {size} bytes; expected at least one record (4-byte dimension header)")
    d = int(np.fromfile(p, dtype="<i4", count=1)[0])
    if d <= 0:
        raise FileFormatError(f"{p.name}: first record has dimension {d}; expected a positive int32 header")
    record = 4 + d * dtype.itemsize
    if size % record:
        raise FileFormatError(
            f"{p.name} is truncated or corrupt: size {size} bytes is not a multiple of the record size "
            f"{record} (4-byte header + {d} x {dtype.itemsize}-byte values, d={d} from the first record)"
        )
    n = size // record
    if dtype.itemsize == 4:
        raw = np.memmap(p, dtype=dtype, mode="r", shape=(n, d + 1)) if mmap else np.fromfile(p, dtype).reshape(n, d + 1)
        dims = raw[:, 0].view("<i4")
        data = raw[:, 1:]
    else:  # bvecs: 4 header bytes then d uint8 values per record
        raw = np.memmap(p, dtype="u1", mode="r", shape=(n, record)) if mmap else np.fromfile(p, "u1").reshape(n, record)
        dims = np.ascontiguousarray(raw[:, :4]).view("<i4").ravel()
        data = raw[:, 4:]
    bad = np.flatnonzero(dims != d)
    if bad.size:
        raise FileFormatError(
            f"{p.name}: record {int(bad[0])} has dimension {int(dims[bad[0]])}, expected {d} "
            f"(from the first record); {bad.size} record(s) disagree, the file is corrupt or not {p.suffix}"
        )
    return data if mmap else np.ascontiguousarray(data)


# ---------------------------------------------------------------- ann-benchmarks HDF5


def _import_h5py() -> Any:
    try:
        import h5py
    except ImportError:
        raise MissingDependencyError("reading .hdf5 files needs h5py; install it with: pip install 'lowdim[io]'") from None
    return h5py


def _read_hdf5(p: Path, dataset: str, *, mmap: bool) -> np.ndarray:
    h5py = _import_h5py()
    try:
        f = h5py.File(p, "r")
    except OSError as exc:
        raise FileFormatError(f"{p.name} is not a readable HDF5 file: {exc}") from None
    with f:
        names = sorted(k for k in f.keys() if isinstance(f[k], h5py.Dataset))
        if dataset not in names:
            raise FileFormatError(
                f"{p.name} has no dataset {dataset!r}; datasets: {', '.join(names) or '(none)'} "
                f"(ann-benchmarks files hold train, test, neighbors, distances)"
            )
        ds = f[dataset]
        offset = ds.id.get_offset()
        # Contiguous, unfiltered datasets sit at a fixed offset: map them like a .npy.
        if mmap and ds.chunks is None and offset is not None and ds.size > 0:
            if offset + ds.size * ds.dtype.itemsize > p.stat().st_size:
                raise FileFormatError(f"{p.name} is truncated: dataset {dataset!r} runs past the end of the file")
            return np.memmap(p, dtype=ds.dtype, mode="r", offset=offset, shape=ds.shape)
        try:
            return ds[...]
        except OSError as exc:
            raise FileFormatError(f"{p.name}: dataset {dataset!r} could not be read: {exc}") from None


def _hdf5_info(path: PathLike) -> tuple[dict[str, Any], list[str]]:
    """Root attributes (ann-benchmarks stores ``distance`` there) and dataset names of an HDF5 file."""
    p = _existing_file(path)
    h5py = _import_h5py()
    try:
        with h5py.File(p, "r") as f:
            attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
            return attrs, sorted(k for k in f.keys() if isinstance(f[k], h5py.Dataset))
    except OSError as exc:
        raise FileFormatError(f"{p.name} is not a readable HDF5 file: {exc}") from None


# ---------------------------------------------------------------- parquet


def _read_parquet(p: Path, column: str | None, *, mmap: bool) -> np.ndarray:
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingDependencyError("reading .parquet files needs pyarrow; install it with: pip install 'lowdim[io]'") from None
    try:
        schema = pq.read_schema(p, memory_map=mmap)
    except (pa.ArrowException, OSError) as exc:
        raise FileFormatError(f"{p.name} is not a readable parquet file: {exc}") from None

    def is_vector(t: Any) -> bool:
        return (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)) and (
            pa.types.is_floating(t.value_type) or pa.types.is_integer(t.value_type)
        )

    described = ", ".join(f"{fld.name} ({fld.type})" for fld in schema)
    vector_cols = [fld.name for fld in schema if is_vector(fld.type)]
    if column is None:
        if len(vector_cols) != 1:
            which = "no list<float> column" if not vector_cols else f"{len(vector_cols)} list columns"
            raise FileFormatError(f"{p.name} has {which}; pass column= one of: {described}")
        column = vector_cols[0]
    elif column not in schema.names:
        raise FileFormatError(f"{p.name} has no column {column!r}; columns: {described}")
    elif column not in vector_cols:
        raise FileFormatError(
            f"{p.name}: column {column!r} has type {schema.field(column).type}; expected list<float> or "
            f"fixed_size_list<float>. List columns: {', '.join(vector_cols) or '(none)'}"
        )
    try:
        arr = pq.read_table(p, columns=[column], memory_map=mmap).column(column).combine_chunks()
    except (pa.ArrowException, OSError) as exc:
        raise FileFormatError(f"{p.name}: column {column!r} could not be read: {exc}") from None
    n = len(arr)
    if arr.null_count:
        rows = np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))
        raise FileFormatError(f"{p.name}: column {column!r} has {arr.null_count} null row(s), first at {rows[:5].tolist()}")
    if n == 0:
        raise FileFormatError(f"{p.name}: column {column!r} has no rows")
    lengths = pc.list_value_length(arr).to_numpy(zero_copy_only=False)
    d = int(lengths[0])
    bad = np.flatnonzero(lengths != d)
    if bad.size:
        raise FileFormatError(
            f"{p.name}: column {column!r} row {int(bad[0])} has {int(lengths[bad[0]])} values, expected {d} "
            f"(from row 0); {bad.size} row(s) disagree"
        )
    values = arr.flatten()
    if values.null_count:
        raise FileFormatError(f"{p.name}: column {column!r} has {values.null_count} null value(s) inside its lists")
    return values.to_numpy(zero_copy_only=False).reshape(n, d)


# ---------------------------------------------------------------- public API


def read_vectors(
    path: PathLike,
    *,
    mmap: bool = True,
    dataset: str | None = None,
    column: str | None = None,
) -> np.ndarray:
    """Read a 2-D array of vectors, choosing the reader by the file's extension.

    ============  ======================================================  ===============
    extension     layout                                                  memory-mapped
    ============  ======================================================  ===============
    ``.npy``      numpy; float16 stays float16 (the caller converts)      yes
    ``.fvecs``    TEXMEX: per vector an int32 dim, then dim float32       yes
    ``.ivecs``    same with int32 values                                  yes
    ``.bvecs``    same with uint8 values                                  yes
    ``.hdf5``     ann-benchmarks: datasets train, test, neighbors, ...    if contiguous
    ``.parquet``  one list<float> / fixed_size_list<float> column         no
    ============  ======================================================  ===============

    Parameters
    ----------
    path : str or PathLike
    mmap : bool, default True
        Map the file read-only instead of reading it into memory (TEXMEX maps are
        strided views; ``np.ascontiguousarray`` a block to copy it).
    dataset : str, optional
        HDF5 only: which dataset; default ``"train"``.
    column : str, optional
        Parquet only: which column; default the only list column.

    Returns
    -------
    ndarray of shape (n, d), dtype as stored

    Raises
    ------
    FileFormatError
        Missing, truncated or corrupt file, unknown extension, ambiguous column.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> path = tempfile.mkdtemp() + "/x.npy"
    >>> np.save(path, np.ones((3, 4), dtype=np.float16))
    >>> read_vectors(path).shape
    (3, 4)
    """
    p = _existing_file(path)
    ext = _suffix(p)
    if ext not in SUPPORTED_EXTENSIONS:
        raise _unsupported(p, SUPPORTED_EXTENSIONS)
    if dataset is not None and ext not in (".hdf5", ".h5"):
        raise ParameterError(f"The 'dataset' parameter of read_vectors applies to .hdf5 files only; {p.name} is {ext}")
    if column is not None and ext != ".parquet":
        raise ParameterError(f"The 'column' parameter of read_vectors applies to .parquet files only; {p.name} is {ext}")
    if ext == ".npy":
        arr = _read_npy(p, mmap=mmap)
    elif ext in _VECS_DTYPES:
        arr = _read_vecs(p, mmap=mmap)
    elif ext in (".hdf5", ".h5"):
        arr = _read_hdf5(p, dataset or "train", mmap=mmap)
    else:
        arr = _read_parquet(p, column, mmap=mmap)
    if arr.ndim != 2:
        where = f" dataset {dataset or 'train'!r}" if ext in (".hdf5", ".h5") else ""
        raise DimensionError(f"{p.name}{where} holds an array of shape {arr.shape}; expected 2-D vectors (n, d)")
    return arr


def read_ids(path: PathLike, *, dataset: str | None = None) -> np.ndarray:
    """Read integer ids (typically ground-truth neighbours) from .ivecs, .npy or ann-benchmarks .hdf5.

    Parameters
    ----------
    path : str or PathLike
    dataset : str, optional
        HDF5 only: which dataset; default ``"neighbors"``.

    Returns
    -------
    ndarray of shape (n_queries, k) (or (n_queries,) for a 1-D .npy), integer dtype as stored, in memory

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> path = tempfile.mkdtemp() + "/gt.npy"
    >>> np.save(path, np.array([[0, 2], [1, 0]], dtype=np.int32))
    >>> read_ids(path).tolist()
    [[0, 2], [1, 0]]
    """
    p = _existing_file(path)
    ext = _suffix(p)
    supported = (".ivecs", ".npy", ".hdf5", ".h5")
    if ext not in supported:
        raise _unsupported(p, supported)
    if dataset is not None and ext not in (".hdf5", ".h5"):
        raise ParameterError(f"The 'dataset' parameter of read_ids applies to .hdf5 files only; {p.name} is {ext}")
    if ext == ".npy":
        arr = np.asarray(_read_npy(p, mmap=False))
    elif ext == ".ivecs":
        arr = _read_vecs(p, mmap=False)
    else:
        arr = np.asarray(_read_hdf5(p, dataset or "neighbors", mmap=False))
    if arr.dtype.kind not in "iu":
        raise DTypeError(f"{p.name} holds dtype {arr.dtype}; expected integer ids")
    if arr.ndim not in (1, 2):
        raise DimensionError(f"{p.name} holds an array of shape {arr.shape}; expected ids of shape (n_queries, k)")
    return arr


def iter_jsonl(
    path: Path, *, blank: str | None = None, allow_null: bool = False, encoding: str = "utf-8-sig"
) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """``(line number, object)`` for each line of a JSON-lines file, with one-line errors naming the line.

    Blank lines are skipped, or refused with ``"<file> line <i> is empty; <blank>"`` when
    ``blank`` is given (files whose line i belongs to row i). A line must hold a JSON
    object (or ``null`` when ``allow_null``). ``utf-8-sig`` reads files with or without a BOM.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "m.jsonl"
    >>> _ = path.write_text('{"a": 1}\\n\\nnull\\n')
    >>> list(iter_jsonl(path, allow_null=True))
    [(1, {'a': 1}), (3, None)]
    """
    with open(path, encoding=encoding) as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                if blank is not None:
                    raise FileFormatError(f"{path.name} line {lineno} is empty; {blank}")
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise FileFormatError(f"{path.name} line {lineno} is not valid JSON: {exc.msg}") from None
            if not isinstance(value, dict) and not (allow_null and value is None):
                raise FileFormatError(f"{path.name} line {lineno} is a JSON {type(value).__name__}; expected an object")
            yield lineno, value


def read_qrels_jsonl(path: PathLike, field: str = "relevant_doc_ids") -> list[np.ndarray]:
    """Read per-query relevant doc ids from a JSON-lines file, one query per line in file order.

    Parameters
    ----------
    path : str or PathLike
    field : str, default "relevant_doc_ids"
        Key holding a list of ints (or a single int) on each line.

    Returns
    -------
    list of n_queries int64 arrays (variable length)

    Examples
    --------
    >>> import tempfile
    >>> path = tempfile.mkdtemp() + "/q.jsonl"
    >>> _ = open(path, "w").write('{"relevant_doc_ids": [3, 5]}\\n{"relevant_doc_ids": 1}\\n')
    >>> [a.tolist() for a in read_qrels_jsonl(path)]
    [[3, 5], [1]]
    """
    p = _existing_file(path)
    out = []
    for lineno, rec in iter_jsonl(p):
        if field not in rec:  # type: ignore[operator]
            raise FileFormatError(f"{p.name} line {lineno} has no {field!r} field; it has: {', '.join(rec)}")  # type: ignore[arg-type]
        value = rec[field]  # type: ignore[index]
        value = [value] if isinstance(value, int) and not isinstance(value, bool) else value
        if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise FileFormatError(
                f"{p.name} line {lineno}: {field!r} must be an int or a list of ints; got {json.dumps(value)[:80]}"
            )
        out.append(np.asarray(value, dtype=np.int64))
    return out
