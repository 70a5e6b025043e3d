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


def peak_bytes_while_reading(fmt: str, path: Path) -> tuple[int, int, int]:
    """(records, labels, peak traced bytes) for reading ``path`` in a fresh interpreter.

    A fresh process keeps what earlier tests left behind out of the measurement.
    """
    import subprocess
    import sys

    code = (
        "import gc, sys, tracemalloc\n"
        "from prelabel import formats\n"
        "read = formats.get(sys.argv[1]).read\n"
        "next(iter(read(sys.argv[2])))\n"  # warm up first-use caches
        "gc.collect()\n"
        "tracemalloc.start()\n"
        "n = labels = 0\n"
        "for rec in read(sys.argv[2]):\n"
        "    n += 1\n"
        "    labels += len(rec.labels)\n"
        "print(n, labels, tracemalloc.get_traced_memory()[1])\n"
    )
    out = subprocess.run([sys.executable, "-c", code, fmt, str(path)], capture_output=True, text=True, check=True)
    n, labels, peak = (int(v) for v in out.stdout.split())
    return n, labels, peak
