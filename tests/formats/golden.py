"""Golden-file comparison. ``PRELABEL_UPDATE_GOLDEN=1`` rewrites the files (then read the diff before committing)."""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"


def check_golden(name: str, got: str) -> None:
    path = GOLDEN / name
    if os.environ.get("PRELABEL_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(got, encoding="utf-8")
    want = path.read_text(encoding="utf-8")
    assert got == want, (
        f"output differs from golden file {path}; if the change is intended, regenerate it with "
        f"PRELABEL_UPDATE_GOLDEN=1 and review the diff"
    )
