"""Every docstring example in lowdim.server runs."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "lowdim.server._app",
    "lowdim.server._client",
    "lowdim.server._limits",
    "lowdim.server._metrics",
    "lowdim.server._registry",
    "lowdim.server._serve",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
