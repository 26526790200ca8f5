"""The text sample shipped inside the package (``lowdim/data/wordnet10k``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..exceptions import FileFormatError

__all__ = ["bundled_texts"]


def bundled_texts() -> Path:
    """Folder of the bundled WordNet sample: 10,000 glosses and 200 queries.

    It holds ``corpus.jsonl`` (``id``, ``text``, ``pos``, ``lexname``; ``id`` is the
    row of the full 116,697-gloss corpus), ``queries.jsonl`` (``id``, ``text``,
    ``relevant_doc_ids`` as corpus ids), ``README.md`` (provenance) and
    ``LICENSE.WordNet.txt``.

    Examples
    --------
    >>> (bundled_texts() / "corpus.jsonl").is_file()
    True
    """
    folder = resources.files("lowdim") / "data" / "wordnet10k"
    if not isinstance(folder, Path):  # e.g. installed inside a zip file
        raise FileFormatError(f"the bundled sample is not on the file system ({folder}); install lowdim unzipped")
    if not (folder / "corpus.jsonl").is_file():
        raise FileFormatError(f"the bundled sample is missing from {folder}; reinstall lowdim")
    return folder
