"""Imports point one way (DESIGN §3): a package imports only packages of lower layers.

The layer table is written from DESIGN §3, not read from the code; a new package must be placed
in it. The one exception the design names: search reads the cost model (hw). SkipClip sits one
layer above train (DESIGN §3 puts them side by side): it is the trainer's loop plus a schedule.
"""
import ast
from pathlib import Path

import pytest

FLOW = Path(__file__).resolve().parent.parent / "flow"

LAYERS = [
    {"errors"},
    {"paths", "numerics"},                   # data locations; arithmetic several stages compute identically
    {"data"},
    {"nn"},
    {"decode", "evaluate"},                  # CTC decoding and accuracy: what training and basecalling both need
    {"train", "search", "basecall"},
    {"skipclip"},                            # a training method: it runs the trainer's loop with its schedule
    {"export"},
    {"ir"},
    {"hw"},
    {"codegen"},
    {"sim"},                                 # the simulators compile generated code
    {"report"},
    {"build"},
    {"cli"},
]
ALLOWED_UPWARD = {("search", "hw")}


def _layer(package: str) -> int:
    for i, names in enumerate(LAYERS):
        if package in names:
            return i
    raise AssertionError(f"flow/{package} is not placed in the layer table of tests/test_layering.py (DESIGN §3)")


def _flow_imports(path: Path) -> set[str]:
    """Top-level flow packages a module imports, at module or function level."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else \
            [a.name for a in node.names] if isinstance(node, ast.Import) else []
        for name in names:
            parts = name.split(".")
            if parts[0] == "flow" and len(parts) > 1:
                found.add(parts[1])
    return found


def _modules():
    return sorted(p for p in FLOW.rglob("*.py") if p.parent != FLOW or p.stem not in ("__init__", "__main__"))


def _package(path: Path) -> str:
    return path.relative_to(FLOW).parts[0].removesuffix(".py")


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(FLOW)))
def test_imports_point_down(path):
    package = _package(path)
    for target in _flow_imports(path) - {package}:
        if (package, target) in ALLOWED_UPWARD:
            continue
        assert _layer(target) < _layer(package), (
            f"flow/{path.relative_to(FLOW)} imports flow.{target}, which is not below flow.{package} (DESIGN §3)")


def test_checker_catches_an_upward_import(tmp_path):
    bad = tmp_path / "mod.py"
    bad.write_text("def f():\n    from flow.basecall.caller import call_read\n")
    assert _flow_imports(bad) == {"basecall"}
    assert not _layer("basecall") < _layer("train")
