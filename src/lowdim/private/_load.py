"""``load_release``: open a released file, whichever kind it is (a summary or a classifier).

The file's JSON header says what it holds (``kind``); only that header is read to decide, then the
class's own ``load`` reads and checks the whole file. The CLI (``lowdim private info``) and the
service (``lowdim serve --summary``) open releases through here.
"""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from .._npzfile import read_npz_file
from ..exceptions import FileFormatError
from ._classifier import KIND as CLASSIFIER_KIND
from ._classifier import PrivateClassifier
from ._files import FORMAT_VERSION
from ._summary import KIND as SUMMARY_KIND
from ._summary import PrivateSummary

__all__ = ["load_release", "release_kind"]

_NAMES = {SUMMARY_KIND: "summary", CLASSIFIER_KIND: "classifier"}


def _header_kind(path: str | os.PathLike[str]) -> object:
    """The ``kind`` in the header of ``path``, reading the header member only; None when it cannot be read."""
    try:
        with np.load(path, allow_pickle=False) as data:  # an .npz opens lazily: only __meta__ is read
            meta = json.loads(data["__meta__"].tobytes().decode())
    except (OSError, ValueError, KeyError, TypeError, AttributeError, EOFError, zipfile.BadZipFile):
        return None  # ValueError covers JSON and Unicode errors; a plain .npy has no __exit__ (AttributeError)
    return meta.get("kind") if isinstance(meta, dict) else None


def release_kind(path: str | os.PathLike[str]) -> str:
    """``"summary"`` or ``"classifier"``: what the released file ``path`` holds (a one-line error otherwise)."""
    kind = _header_kind(path)
    if not isinstance(kind, str) or kind not in _NAMES:
        # a damaged or foreign file: the full reader names what is wrong with it
        meta, _ = read_npz_file(
            path, what="release file", version=FORMAT_VERSION, writer="PrivateSummary.save or PrivateClassifier.save"
        )
        raise FileFormatError(
            f"{path} holds a {meta.get('kind') or 'file of another kind'}, not a released private summary "
            f"({SUMMARY_KIND}) or classifier ({CLASSIFIER_KIND})"
        )
    return _NAMES[kind]


def load_release(path: str | os.PathLike[str]) -> PrivateSummary | PrivateClassifier:
    """The release written to ``path`` by :meth:`PrivateSummary.save` or :meth:`PrivateClassifier.save`.

    Parameters
    ----------
    path : str or path-like
        A ``.npz`` release file.

    Returns
    -------
    PrivateSummary or PrivateClassifier
        Whichever the file's header names; anything else is a one-line
        :class:`~lowdim.exceptions.FileFormatError` naming both kinds.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.standard_normal((200, 4)).astype(np.float32), rng.integers(0, 2, 200)
    >>> folder = tempfile.mkdtemp()
    >>> _ = PrivateSummary("linear", epsilon=1.0, bound=3.0, noise_seed=0).fit(X).save(folder + "/s.npz")
    >>> _ = PrivateClassifier("linear", epsilon=1.0, bound=3.0, noise_seed=0).fit(X, y).save(folder + "/c.npz")
    >>> type(load_release(folder + "/s.npz")).__name__, type(load_release(folder + "/c.npz")).__name__
    ('PrivateSummary', 'PrivateClassifier')
    """
    if release_kind(path) == "classifier":
        return PrivateClassifier.load(path)
    return PrivateSummary.load(path)
