"""Every public docstring example in lowdim.diagnose runs."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "lowdim.diagnose",
    "lowdim.diagnose._diagnosis",
    "lowdim.diagnose._duplicates",
    "lowdim.diagnose._hubness",
    "lowdim.diagnose._intrinsic",
    "lowdim.diagnose._plot",
    "lowdim.diagnose._spectrum",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
