"""Ground Truth manifest lines: the format's constants, attribute-name rules, line limits, line reader and sniff."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from prelabel.errors import FormatError
from prelabel.formats._common import first_json_line, iter_json_lines

FORMAT = "groundtruth"
MAX_LINE_CHARS = 100_000
DOCUMENT_VERSION = "2018-11-28"
OBJECT_DETECTION = "groundtruth/object-detection"
LABEL_VERIFICATION = "groundtruth/label-verification"
PRELABEL_KEY = "prelabel"
DEFAULT_ATTRIBUTE = "prelabel-boxes"
_ATTRIBUTE_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,126}$")
ACCEPT_NAMES = frozenset({"good", "correct", "right", "yes", "accept", "accepted", "valid", "ok"})
REJECT_NAMES = frozenset({"bad", "incorrect", "wrong", "no", "reject", "rejected", "invalid"})


def check_attribute(name: str, *, original: str | None = None) -> str:
    """Ground Truth's rules for a label attribute name; a clear error for each one broken."""
    if not isinstance(name, str) or not name:
        raise FormatError("label attribute name", "must be a non-empty string")
    if name.endswith("-ref"):
        raise FormatError(f"label attribute name {name!r}", "must not end in '-ref' (Ground Truth reserves it)")
    if "-metadata" in name:
        raise FormatError(f"label attribute name {name!r}", "must not contain '-metadata' (Ground Truth reserves it)")
    if name == PRELABEL_KEY or name in ("source", "source-ref"):
        raise FormatError(f"label attribute name {name!r}", "is a reserved manifest key")
    if not _ATTRIBUTE_RE.match(name):
        raise FormatError(
            f"label attribute name {name!r}",
            "must be 1-127 letters, digits and hyphens, starting and ending with a letter or digit",
        )
    if original is not None and name == original:
        raise FormatError(
            f"label attribute name {name!r}",
            "an adjustment or verification job must write a new attribute, different from the original one",
        )
    return name


def now() -> str:
    return datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


def _int_box(xyxy: tuple[float, float, float, float]) -> dict[str, int]:
    x1, y1, x2, y2 = (round(v) for v in xyxy)
    return {"left": x1, "top": y1, "width": max(x2 - x1, 0), "height": max(y2 - y1, 0)}


def dump_line(obj: dict[str, Any], frame_id: str) -> str:
    line = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    if len(line) > MAX_LINE_CHARS:
        raise FormatError(
            f"frame {frame_id}",
            f"its manifest line is {len(line):,} characters; Ground Truth allows at most {MAX_LINE_CHARS:,} a line "
            f"({len(obj)} keys). Split the frame's labels across jobs or drop low-score boxes first",
        )
    return line


def iter_manifest_lines(src: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Stream ``(where, object)`` for each non-blank line of a manifest; ``where`` is ``<src>:<line number>``.

    A line longer than Ground Truth's limit, a line that is not JSON, or one that is not an object raises
    :class:`FormatError` naming the line.
    """
    yield from iter_json_lines(src, max_bytes=MAX_LINE_CHARS, limit_by="Ground Truth")


def sniff(src: str) -> bool:
    """A ``*.manifest`` file, or JSON lines whose first line has a ``source-ref``."""
    if src.lower().endswith(".manifest"):
        return True
    first = first_json_line(src)
    return isinstance(first, dict) and "source-ref" in first
