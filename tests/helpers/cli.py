"""The installed ``prelabel`` command, run as a user runs it (a separate process, output captured as text)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

#: The console script installed beside this interpreter.
EXE = Path(sys.executable).with_name("prelabel")


def prelabel(
    *args: object, env: Mapping[str, str] | None = None, cwd: Path | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """``prelabel ARGS`` (each argument as ``str``) in this environment plus ``env``, with ``COLUMNS=200`` so
    messages are not wrapped at 80 columns."""
    return subprocess.run(
        [str(EXE), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )
