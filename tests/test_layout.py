"""The habits that keep the code easy to change, checked on the source tree itself.

- no module over 600 lines, and ``Collection`` a thin facade (its module at most 400 lines);
- no private name imported from a sibling part (``from ..search._topk import x``): a part's
  public ``__init__`` is its interface (top-level helper modules such as ``lowdim._progress``
  are shared by every part);
- the parts depend on each other only as design.md's parts table says (``ALLOWED`` below is
  that table: change both together). A part's ``_cli.py`` belongs to the command line, which
  may use every part (``lowdim create --plan`` reads a plan), so it is exempt from the table
  (not from the private-name rule).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "lowdim"

#: part -> the parts it may import (top-level modules: arrays, validation, exceptions, _progress,
#: _version, _npyheader are open to all); mirrors the parts table of design.md
ALLOWED: dict[str, set[str]] = {
    "search": set(),
    "codecs": {"search"},
    "spec": {"codecs"},
    "eval": {"search"},
    "diagnose": {"eval", "search"},
    "encoders": {"eval"},
    "store": {"search", "spec", "eval", "encoders", "compat"},
    "compat": set(),
    "plan": {"codecs", "spec", "search", "eval", "diagnose"},
    "bench": {"codecs", "spec", "search", "eval"},
    "server": {"store", "spec", "encoders", "private", "distributed", "diagnose", "plan", "multivector"},
    "private": set(),
    "distributed": {"store", "spec", "search", "eval", "encoders", "plan"},
    "multivector": {"codecs", "search", "spec", "store"},
}
SHARED = {"arrays", "validation", "exceptions", "_progress", "_version", "_npyheader", "_npzfile", "_atomic", "_lock"}


def _sources() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "data" not in p.relative_to(SRC).parts[:1])


def _part(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imports(path: Path) -> list[tuple[int, list[str], list[str]]]:
    """``(line, absolute module path inside lowdim, imported names)`` of every relative import of ``path``."""
    rel = path.relative_to(SRC)
    pkg = list(rel.parts[:-1])
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = pkg[: len(pkg) - (node.level - 1)]
            target = base + (node.module.split(".") if node.module else [])
            out.append((node.lineno, target, [a.name for a in node.names]))
    return out


def test_no_module_over_600_lines_and_collection_is_thin():
    sizes = {p.relative_to(SRC).as_posix(): len(p.read_text(encoding="utf-8").splitlines()) for p in _sources()}
    big = {name: n for name, n in sizes.items() if n > 600}
    assert not big, f"modules over 600 lines: {big}"
    assert sizes["store/_collection.py"] <= 400, sizes["store/_collection.py"]


def test_no_private_name_imported_from_another_part():
    bad = []
    for path in _sources():
        own = _part(path)
        for line, target, names in _imports(path):
            if not target:  # from . import x at the top level: x is a part (a package)
                continue
            other = target[0]
            if other == own or other in SHARED:
                continue
            private = [t for t in target[1:] if t.startswith("_")] + [n for n in names if n.startswith("_")]
            if private:
                bad.append(f"{path.relative_to(SRC)}:{line} imports {'.'.join(target)} {names}")
    assert not bad, "private names imported across parts:\n" + "\n".join(bad)


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_parts_depend_as_design_md_says(part):
    bad = []
    for path in _sources():
        if _part(path) != part or path.name == "_cli.py":
            continue
        for line, target, names in _imports(path):
            used = {target[0]} if target else set(names)
            for other in used - {part} - SHARED:
                if other not in ALLOWED[part]:
                    bad.append(f"{path.relative_to(SRC)}:{line} imports {other}")
    assert not bad, f"{part} may import only {sorted(ALLOWED[part])} (design.md):\n" + "\n".join(bad)
