"""Every public docstring example in lowdim.store runs."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "lowdim.store",
    "lowdim.store._collection",
    "lowdim.store._check",
    "lowdim.store._filters",
    "lowdim._lock",
    "lowdim.store._segments",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0
