"""Every docstring example in every module of lowdim runs and prints what it shows.

One runner for the whole package: a module added to ``src/lowdim`` is covered without
touching this file. Examples run in a temporary working folder, and their ``tempfile`` folders land in
it too, so nothing is left behind.
Modules whose examples load the bundled text model are marked slow.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import tempfile

import pytest

import lowdim

#: modules whose examples load the sentence-transformers model (seconds each)
_SLOW = {"lowdim.store._collection", "lowdim.encoders._text", "lowdim.encoders", "lowdim.encoders._embed_file"}


def _modules() -> list[str]:
    names = ["lowdim"]
    for info in pkgutil.walk_packages(lowdim.__path__, prefix="lowdim."):
        if ".data." in info.name:  # the bundled samples' build scripts are not part of the library
            continue
        names.append(info.name)
    return sorted(names)


def _has_examples(name: str) -> bool:
    finder = doctest.DocTestFinder(exclude_empty=True)
    return any(t.examples for t in finder.find(importlib.import_module(name)))


MODULES = [pytest.param(n, marks=pytest.mark.slow) if n in _SLOW else n for n in _modules()]


@pytest.mark.parametrize("name", MODULES)
def test_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the examples' mkdtemp() folders land here too
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (see the output above)"


def test_every_part_has_examples():
    """Each part (a sub-package) documents runnable examples: the style guide asks one per public function."""
    parts = [i.name for i in pkgutil.iter_modules(lowdim.__path__, prefix="lowdim.") if i.ispkg and i.name != "lowdim.data"]
    missing = [p for p in parts if not any(_has_examples(n) for n in _modules() if n == p or n.startswith(p + "."))]
    assert parts and not missing, f"parts without a single docstring example: {missing}"
