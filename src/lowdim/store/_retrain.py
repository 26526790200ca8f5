"""An IVF partition retrained in the background while the collection goes on serving and growing.

When an IVF collection has outgrown its partition (``ivf_regrow`` times the rows it was
trained on, or lists ``ivf_imbalance`` times the mean), retraining means k-means on a
sample plus reassigning every row: minutes at 10^7 rows. From
:attr:`Writer.background_from` rows on, the writer starts a :class:`BackgroundRetrain`
instead of doing it inside the ``add`` that noticed: a thread trains the new partition on
a snapshot (the rows alive when it started) and fills its lists from the stored vectors and
codes, while adds keep extending the old lists and searches keep using them. The writer
adopts the result at its next change once the thread is done (or at once when
``build_index``, ``compact`` or a segment merge needs it): the rows added meanwhile go into
the new lists, which are then written and committed like any other index change, so the swap
is one catalog transaction. Nothing is written before that: a process killed mid-retrain
leaves the old lists committed, and the next writer starts over.

The thread reads through a frozen view of the segments and a code reader bound to them;
segment rewrites (merges, compaction) wait for it first, so row numbers stay valid.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np

from ._ivf import IVFGraph
from ._segments import SegmentedVectors
from ._state import State

__all__ = ["BackgroundRetrain"]


class BackgroundRetrain:
    """Train and fill a new IVF partition from ``rows`` of ``state`` in a daemon thread.

    ``train(rows, vectors)`` returns an empty trained :class:`IVFGraph` (the writer's rule for
    nlist and the sample). After :meth:`join`, ``graph`` holds the filled index (or ``error``
    the exception that stopped it), and ``last_rowid`` is the largest rowid it covers.
    """

    def __init__(self, state: State, rows: np.ndarray, train: Callable[[np.ndarray, SegmentedVectors], IVFGraph]) -> None:
        v = state.vectors
        self.vectors = SegmentedVectors(list(v.parts), v.dim, v.dtype)  # frozen: later segments are not seen
        self.read_codes = state.code_reader()
        self.rows = np.asarray(rows, np.int64)
        self.rowids = state.rowids.values[self.rows].copy()
        self.last_rowid = int(self.rowids.max()) if len(self.rowids) else -1
        self.train = train
        self.graph: IVFGraph | None = None
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="lowdim-ivf-retrain", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            g = self.train(self.rows, self.vectors)
            if not g.add_rows(self.rows, self.vectors, self.rowids, self.read_codes, stop=self._stop):
                return
            g.settle()
            self.graph = g
        except BaseException as exc:  # handed to the writer, which decides (the thread has no caller)
            self.error = exc

    @property
    def done(self) -> bool:
        return not self.thread.is_alive()

    def join(self) -> None:
        self.thread.join()

    def cancel(self) -> None:
        """Stop between blocks and drop the work (closing, refitting the codec)."""
        self._stop.set()
        self.thread.join()
        self.graph = None
