"""Temporary files a killed write left behind, removed when the service starts.

Outputs and error documents are written to a temporary file beside their final name and linked into place
(:func:`prelabel.storage.atomic_local`; names: :func:`prelabel.storage.is_temp_name`); a worker killed in between
leaves the temporary file. On start, once the
previous run's workers are stopped, the service removes such files from every local output and failure folder of
its endpoint configs (and its own payload folder), if they are older than the moment it started: files a new
worker is writing right now are younger and stay.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from prelabel import storage

log = logging.getLogger("prelabel.service")


def remove_leftovers(folders: Iterable[str], older_than: float) -> list[Path]:
    """Remove the leftover temporary files directly in ``folders`` (local ones; others are skipped) whose
    modification time is before ``older_than``; returns what was removed."""
    removed: list[Path] = []
    for folder in dict.fromkeys(folders):
        if not storage.is_local(folder):
            continue
        d = storage.local_path(folder)
        try:
            entries = list(d.iterdir())
        except OSError:  # not made yet, or not readable: nothing of ours there
            continue
        for p in entries:
            if not storage.is_temp_name(p.name):
                continue
            try:
                st = p.lstat()
                if p.is_file() and not p.is_symlink() and st.st_mtime < older_than:
                    p.unlink()
                    removed.append(p)
            except OSError as e:
                log.warning("could not remove leftover temporary file %s: %s", p, e)
    if removed:
        log.info("removed %d temporary files left by killed writes, e.g. %s", len(removed), removed[0])
    return removed
