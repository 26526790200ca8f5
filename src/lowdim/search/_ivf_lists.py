"""Inverted lists over lowdim's codes: one FAISS IVF kernel per scanner layout, and a generic fallback.

:class:`lowdim.search.IVFIndex` owns the coarse partition; the lists here only hold codes
(exactly as the codec wrote them, never re-encoded) with their int64 ids, and score the
lists a coarse search picked. The coarse assignment is always passed in
(``search_preassigned``), so the coarse space (the input vectors as the metric prepares
them) may differ from the code space (after ``pca128``, a tiled sign query, ...). Every
FAISS IVF kernel runs with ``by_residual=False``: codes are those of the flat scanner.

==========================  ======================================  ======================
scanner (flat kernel)       IVF kernel                              route name
==========================  ======================================  ======================
IndexFlat (f32)             IndexIVFFlat                            ``"ivf-flat"``
IndexScalarQuantizer        IndexIVFScalarQuantizer                 ``"ivf-sq"``
IndexRaBitQ                 IndexIVFRaBitQ (every list centred on   ``"ivf-rabitq"``
                            the codec's centre)
PQScanner, 8-bit            IndexIVFPQ                              ``"ivf-pq"``
PQScanner, 4-bit; sign      IndexIVFPQFastScan (codes packed into   ``"ivf-pq-fastscan"``
codes (SignFastScanScanner) its 32-row blocks here)
HammingScanner              IndexBinaryIVF                          ``"ivf-binary"``
anything else               lists as row ranges, flat subset scan   ``"generic"``
==========================  ======================================  ======================
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import faiss
import numpy as np

from ._scanners import FaissCodesScanner, HammingScanner, PQScanner, Scanner
from ._topk import pad_value

__all__ = ["InvertedCodes", "make_lists", "lists_from_state"]


def _ptr(a: np.ndarray) -> Any:
    return faiss.swig_ptr(a)


class InvertedCodes(ABC):
    """``nlist`` lists of (code, id) pairs of one scanner's layout."""

    route: str = ""

    def __init__(self, scanner: Scanner, nlist: int) -> None:
        self.scanner = scanner
        self.nlist = nlist

    @property
    def largest(self) -> bool:
        return self.scanner.largest

    @abstractmethod
    def add(self, lists: np.ndarray, codes: np.ndarray, ids: np.ndarray) -> None:
        """Append ``codes`` (n, code_size) uint8 with ``ids`` (n,) int64 to ``lists`` (n,) int64."""

    @abstractmethod
    def search(self, Qt: np.ndarray, assign: np.ndarray, k: int, allowed: Any) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` (scores, ids) of (nq, d_code) queries over the lists ``assign`` (nq, nprobe) int64 (-1: none).

        ``allowed`` is None or an :class:`IdFilter`: ``.selector`` (a ``faiss.IDSelector``) and
        ``.allows(ids) -> bool array``.
        """

    @abstractmethod
    def list_sizes(self) -> np.ndarray:
        """(nlist,) int64 number of entries per list."""

    @abstractmethod
    def remove(self, ids: np.ndarray) -> int:
        """Drop the entries whose id is in ``ids``; returns how many went."""

    @abstractmethod
    def state(self) -> dict[str, np.ndarray]:
        """Arrays that :func:`lists_from_state` turns back into equal lists."""

    def _empty(self, nq: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        return np.full((nq, k), pad_value(self.largest), np.float32), np.full((nq, k), -1, np.int64)


class FaissIVFLists(InvertedCodes):
    """Lists held by a FAISS ``IndexIVF`` (or ``IndexBinaryIVF``) built for ``by_residual=False``."""

    def __init__(self, scanner: Scanner, nlist: int, index: Any, route: str) -> None:
        super().__init__(scanner, nlist)
        self.index = index
        self.route = route
        self.binary = isinstance(index, faiss.IndexBinaryIVF)
        self.packer: Any = index.get_CodePacker() if route == "ivf-pq-fastscan" else None

    # -- adding -------------------------------------------------------------------------
    def add(self, lists, codes, ids):
        order = np.argsort(lists, kind="stable")
        lists, codes, ids = lists[order], codes[order], ids[order]
        bounds = np.flatnonzero(np.diff(lists)) + 1
        for start, stop in zip(np.r_[0, bounds], np.r_[bounds, len(lists)], strict=True):
            if stop > start:
                self._add_list(int(lists[start]), np.ascontiguousarray(codes[start:stop]), np.ascontiguousarray(ids[start:stop]))
        self.index.ntotal = int(self.index.ntotal) + len(ids)

    def _add_list(self, list_no: int, codes: np.ndarray, ids: np.ndarray) -> None:
        il = faiss.downcast_InvertedLists(self.index.invlists) if self.packer is not None else self.index.invlists
        if self.packer is None:
            il.add_entries(list_no, len(ids), _ptr(ids), _ptr(codes))
            return
        # BlockInvertedLists takes codes already packed in 32-row blocks; and when the list's
        # length is a multiple of its block size in bytes it copies whole blocks from the wrong
        # offset (FAISS 1.15), so such a list is rebuilt from scratch with the new rows
        o = int(il.list_size(list_no))
        if o and o % int(il.block_size) == 0:
            old_codes, old_ids = self._list_contents(list_no)
            codes = np.concatenate([old_codes, codes])
            ids = np.concatenate([old_ids, ids])
            il.resize(list_no, 0)
        packed = self._pack(codes)
        il.add_entries(list_no, len(ids), _ptr(ids), _ptr(packed))

    def _pack(self, codes: np.ndarray) -> np.ndarray:
        p = self.packer
        nvec, bs, cs = int(p.nvec), int(p.block_size), int(p.code_size)
        nb = -(-len(codes) // nvec)
        flat = np.zeros((nb * nvec, cs), np.uint8)
        flat[: len(codes)] = codes
        out = np.zeros(nb * bs, np.uint8)
        for b in range(nb):
            p.pack_all(_ptr(flat[b * nvec : (b + 1) * nvec]), _ptr(out[b * bs : (b + 1) * bs]))
        return out

    def _list_contents(self, list_no: int) -> tuple[np.ndarray, np.ndarray]:
        """(codes (m, code_size) unpacked, ids (m,)) of one list."""
        il = faiss.downcast_InvertedLists(self.index.invlists) if self.packer is not None else self.index.invlists
        m = int(il.list_size(list_no))
        ids = faiss.rev_swig_ptr(il.get_ids(list_no), m).copy() if m else np.zeros(0, np.int64)
        if self.packer is None:
            cs = int(il.code_size)
            codes = faiss.rev_swig_ptr(il.get_codes(list_no), m * cs).reshape(m, cs).copy() if m else np.zeros((0, cs), np.uint8)
            return codes, ids
        p = self.packer
        nvec, bs, cs = int(p.nvec), int(p.block_size), int(p.code_size)
        nb = -(-m // nvec)
        blocks = faiss.rev_swig_ptr(il.get_codes(list_no), nb * bs).copy() if m else np.zeros(0, np.uint8)
        flat = np.zeros((nb * nvec, cs), np.uint8)
        for b in range(nb):
            p.unpack_all(_ptr(blocks[b * bs : (b + 1) * bs]), _ptr(flat[b * nvec : (b + 1) * nvec]))
        return flat[:m], ids

    # -- searching ----------------------------------------------------------------------
    def search(self, Qt, assign, k, allowed):
        nq, nprobe = assign.shape
        if self.index.ntotal == 0:
            return self._empty(nq, k)
        params = faiss.SearchParametersIVF()
        params.nprobe = nprobe
        if allowed is not None:
            params.sel = allowed.selector
        assign = np.ascontiguousarray(assign, dtype=np.int64)
        I = np.empty((nq, k), np.int64)
        if self.binary:
            q = np.ascontiguousarray(self.scanner.binarize(Qt), dtype=np.uint8)  # type: ignore[attr-defined]
            Dq = np.zeros(assign.shape, np.int32)
            Di = np.empty((nq, k), np.int32)
            self.index.search_preassigned_c(nq, _ptr(q), k, _ptr(assign), _ptr(Dq), _ptr(Di), _ptr(I), False, params)
            D = Di.astype(np.float32)
            if self.largest:
                D = -D
        else:
            prepare = getattr(self.scanner, "prepare", None)
            q = np.ascontiguousarray(prepare(Qt) if prepare is not None else Qt, dtype=np.float32)
            Dq = np.zeros(assign.shape, np.float32)
            D = np.empty((nq, k), np.float32)
            self.index.search_preassigned_c(nq, _ptr(q), k, _ptr(assign), _ptr(Dq), _ptr(D), _ptr(I), False, params)
            offset = getattr(self.scanner, "offset", None)
            if offset is not None:
                D = np.where(I >= 0, D + offset(Qt).astype(np.float32)[:, None], D)
        D[I < 0] = pad_value(self.largest)
        return D.astype(np.float32, copy=False), I

    # -- bookkeeping --------------------------------------------------------------------
    def list_sizes(self):
        il = faiss.downcast_InvertedLists(self.index.invlists) if self.packer is not None else self.index.invlists
        return np.array([il.list_size(i) for i in range(self.nlist)], np.int64)

    def remove(self, ids):
        if self.packer is None:  # FAISS removes from plain lists itself
            batch = np.ascontiguousarray(ids, dtype=np.int64)
            return int(self.index.remove_ids(faiss.IDSelectorBatch(len(batch), _ptr(batch))))
        removed = 0
        il = faiss.downcast_InvertedLists(self.index.invlists) if self.packer is not None else self.index.invlists
        gone = np.asarray(ids, np.int64)
        for list_no in range(self.nlist):
            if il.list_size(list_no) == 0:
                continue
            codes, lids = self._list_contents(list_no)
            drop = np.isin(lids, gone)
            if drop.any():
                il.resize(list_no, 0)
                keep = ~drop
                if keep.any():
                    self._add_list(list_no, np.ascontiguousarray(codes[keep]), np.ascontiguousarray(lids[keep]))
                removed += int(drop.sum())
        self.index.ntotal = int(self.index.ntotal) - removed
        return removed

    def state(self):
        writer = faiss.serialize_index_binary if self.binary else faiss.serialize_index
        return {"faiss_index": writer(self.index)}


class GenericLists(InvertedCodes):
    """Lists as contiguous row ranges of one code array, scored by the flat scanner on the probed rows.

    For codecs with no FAISS IVF kernel (:class:`DecodeScanner` ones). New rows wait in
    a pending buffer; the first search after an add sorts everything by list again.
    """

    route = "generic"

    def __init__(self, scanner: Scanner, nlist: int, code_size: int) -> None:
        super().__init__(scanner, nlist)
        self.code_size = code_size
        self.codes = np.zeros((0, code_size), np.uint8)
        self.ids = np.zeros(0, np.int64)
        self.offsets = np.zeros(nlist + 1, np.int64)
        self._pending: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def add(self, lists, codes, ids):
        self._pending.append((lists.astype(np.int64), np.ascontiguousarray(codes), ids.astype(np.int64)))

    def _compact(self) -> None:
        if not self._pending:
            return
        sizes = np.diff(self.offsets)
        lists = np.concatenate([np.repeat(np.arange(self.nlist), sizes), *(p[0] for p in self._pending)])
        codes = np.concatenate([self.codes, *(p[1] for p in self._pending)])
        ids = np.concatenate([self.ids, *(p[2] for p in self._pending)])
        order = np.argsort(lists, kind="stable")
        self.codes, self.ids = codes[order], ids[order]
        self.offsets = np.r_[0, np.cumsum(np.bincount(lists, minlength=self.nlist))].astype(np.int64)
        self._pending = []

    def search(self, Qt, assign, k, allowed):
        self._compact()
        nq = len(Qt)
        D, I = self._empty(nq, k)
        for qi in range(nq):
            probed = [p for p in assign[qi] if p >= 0]
            rows = np.concatenate([np.arange(self.offsets[p], self.offsets[p + 1]) for p in probed] or [np.zeros(0, np.int64)])
            if allowed is not None and len(rows):
                rows = rows[allowed.allows(self.ids[rows])]
            if len(rows) == 0:
                continue
            sub = self.scanner.spawn()
            sub.add(self.codes[rows])
            d, i = sub.search(Qt[qi : qi + 1], k)
            valid = i >= 0
            D[qi] = d[0]
            I[qi] = np.where(valid, self.ids[rows][np.where(valid, i, 0)], -1)[0]
        return D, I

    def list_sizes(self):
        self._compact()
        return np.diff(self.offsets)

    def remove(self, ids):
        self._compact()
        drop = np.isin(self.ids, np.asarray(ids, np.int64))
        if drop.any():
            lists = np.repeat(np.arange(self.nlist), np.diff(self.offsets))[~drop]
            self.codes, self.ids = self.codes[~drop], self.ids[~drop]
            self.offsets = np.r_[0, np.cumsum(np.bincount(lists, minlength=self.nlist))].astype(np.int64)
        return int(drop.sum())

    def state(self):
        self._compact()
        return {"codes": self.codes, "ids": self.ids, "offsets": self.offsets}


# -- construction -----------------------------------------------------------------------


def _placeholder(d: int, metric: int) -> faiss.Index:
    # by_residual=False and preassigned searches never ask the IVF's own quantizer: an empty one will do
    return faiss.IndexFlat(d, metric)


def _build_index(scanner: Scanner, nlist: int) -> tuple[Any, str] | None:
    """An empty FAISS IVF index whose lists take ``scanner``'s codes as they are, or None."""
    if isinstance(scanner, HammingScanner):
        bits = scanner.code_size * 8
        index = faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(bits), bits, nlist)
        index.is_trained = True
        return index, "ivf-binary"
    if isinstance(scanner, PQScanner):
        M, ksub, dsub = scanner.centroids.shape
        metric = faiss.METRIC_INNER_PRODUCT if scanner.metric == "ip" else faiss.METRIC_L2
        d = M * dsub
        if scanner.nbits == 4:
            index = faiss.IndexIVFPQFastScan(_placeholder(d, metric), d, nlist, M, 4, metric)
            route = "ivf-pq-fastscan"
        elif scanner.nbits == 8 and type(scanner) is PQScanner:
            index = faiss.IndexIVFPQ(_placeholder(d, metric), d, nlist, M, 8, metric)
            route = "ivf-pq"
        else:
            return None
        index.by_residual = False
        faiss.copy_array_to_vector(scanner.centroids.ravel(), index.pq.centroids)
        index.is_trained = True
        return index, route
    if isinstance(scanner, FaissCodesScanner):
        flat = scanner._make_index()  # a typed proxy that owns its index (a downcast copy would not)
        d, metric = flat.d, flat.metric_type
        if isinstance(flat, faiss.IndexFlat):
            index = faiss.IndexIVFFlat(_placeholder(d, metric), d, nlist, metric)
            route = "ivf-flat"
        elif isinstance(flat, faiss.IndexScalarQuantizer):
            index = faiss.IndexIVFScalarQuantizer(_placeholder(d, metric), d, nlist, flat.sq.qtype, metric, False)
            faiss.copy_array_to_vector(faiss.vector_to_array(flat.sq.trained), index.sq.trained)
            route = "ivf-sq"
        elif isinstance(flat, faiss.IndexRaBitQ):
            # RaBitQ codes are relative to a centre: every list gets the flat codec's centre, so the
            # IVF kernel decodes exactly what the flat one does
            centre = faiss.vector_to_array(flat.center).astype(np.float32)
            quantizer = faiss.IndexFlat(d, metric)
            quantizer.add(np.tile(centre, (nlist, 1)))
            index = faiss.IndexIVFRaBitQ(quantizer, d, nlist, metric, True, int(flat.rabitq.nb_bits))
            index.qb = flat.qb
            index.by_residual = True
            route = "ivf-rabitq"
        else:
            return None
        index.is_trained = True
        return index, route
    return None


def make_lists(scanner: Scanner, nlist: int, code_size: int) -> InvertedCodes:
    """Empty lists for ``scanner``'s codes: a FAISS IVF kernel where one matches its layout."""
    built = _build_index(scanner, nlist)
    if built is None:
        return GenericLists(scanner, nlist, code_size)
    index, route = built
    if index.code_size != code_size:  # a layout we do not know: never score codes misread
        return GenericLists(scanner, nlist, code_size)
    return FaissIVFLists(scanner, nlist, index, route)


def lists_from_state(scanner: Scanner, nlist: int, code_size: int, route: str, arrays: dict[str, np.ndarray]) -> InvertedCodes:
    """Lists saved by :meth:`InvertedCodes.state` (raises KeyError/RuntimeError when the arrays are not theirs)."""
    if route == "generic":
        lists = GenericLists(scanner, nlist, code_size)
        lists.codes = np.ascontiguousarray(arrays["codes"], dtype=np.uint8).reshape(-1, code_size)
        lists.ids = np.asarray(arrays["ids"], np.int64)
        lists.offsets = np.asarray(arrays["offsets"], np.int64)
        if len(lists.offsets) != nlist + 1 or lists.offsets[-1] != len(lists.ids) or len(lists.ids) != len(lists.codes):
            raise KeyError("list offsets do not match the codes")
        return lists
    data = np.ascontiguousarray(arrays["faiss_index"], dtype=np.uint8)
    reader = faiss.deserialize_index_binary if route == "ivf-binary" else faiss.deserialize_index
    index = reader(data)  # already the concrete type (a downcast copy would not own it)
    if index.nlist != nlist or index.code_size != code_size:
        raise KeyError(f"the saved FAISS index has nlist={index.nlist}, code_size={index.code_size}")
    return FaissIVFLists(scanner, nlist, index, route)
