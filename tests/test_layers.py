"""Imports go one way (README "Layout"): scripts/check_layers.py finds none going up, and does find one."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def _checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_layers", ROOT / "scripts" / "check_layers.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["check_layers"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_no_module_imports_a_layer_above_its_own() -> None:
    assert _checker().check(ROOT / "src") == []


def test_an_upward_import_is_reported_with_file_and_line(tmp_path: Path) -> None:
    pkg = tmp_path / "prelabel"
    (pkg / "core").mkdir(parents=True)
    (pkg / "formats").mkdir()
    (pkg / "core" / "boxes.py").write_text("import numpy\n\n\ndef f():\n    from prelabel.formats import coco\n")
    (pkg / "formats" / "coco.py").write_text("from prelabel.core import boxes\nfrom prelabel import storage\n")
    problems = _checker().check(tmp_path)
    assert problems == [f"{pkg / 'core' / 'boxes.py'}:5: core (layer 0) imports prelabel.formats (layer 2)"]
