"""The top-level package: parts are packages (never shadowed by a function of the same name)."""

from __future__ import annotations

import importlib
import types

import lowdim


def test_parts_are_importable_as_packages():
    """Regression: ``import lowdim.diagnose as d; d.twonn`` failed (lowdim.diagnose was the function)."""
    d = importlib.import_module("lowdim.diagnose")
    assert isinstance(d, types.ModuleType) and callable(d.twonn) and callable(d.diagnose)
    import lowdim.diagnose as d2
    import lowdim.search as s2

    assert d2 is d and callable(d2.twonn)
    assert isinstance(s2, types.ModuleType) and callable(s2.search) and callable(s2.exact_knn)
    for name in ("diagnose", "plan", "search", "spec", "store", "codecs", "eval"):
        assert isinstance(getattr(lowdim, name), types.ModuleType), name
    assert lowdim.diagnose.diagnose is d.diagnose and lowdim.plan.plan is importlib.import_module("lowdim.plan").plan


def test_public_names_resolve():
    for name in lowdim.__all__:
        assert hasattr(lowdim, name), name


def test_the_demo_output_is_ignored_by_git():
    """Regression: ``lowdim demo`` writes ./lowdim-demo/, which .gitignore did not cover."""
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(["git", "check-ignore", "-q", "lowdim-demo/report.json"], cwd=root, capture_output=True)
    assert out.returncode == 0, "lowdim-demo/ is not in .gitignore"
