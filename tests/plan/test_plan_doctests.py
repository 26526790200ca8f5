"""Every public docstring example in lowdim.plan runs."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "lowdim.plan",
    "lowdim.plan._candidate",
    "lowdim.plan._candidates",
    "lowdim.plan._export",
    "lowdim.plan._fit",
    "lowdim.plan._pareto",
    "lowdim.plan._plan",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
