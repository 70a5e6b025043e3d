"""Class maps from the command line: a shipped or JSON class map (:class:`prelabel.core.classmap.ClassMap`), or an
inline ``a=b,c=d`` string.

Inline maps keep names that are not listed (``a=`` drops ``a``); ``*=`` drops every unlisted name and ``*=x`` renames
them all to ``x``. Shipped maps (``coco80-to-kitti``, ``coco80-to-bdd``, ...) say themselves what happens to
unlisted names.
"""

from __future__ import annotations

from collections.abc import Callable

from prelabel.core.classmap import ClassMap
from prelabel.errors import FormatError

# shorter names people type
ALIASES = {"coco-to-kitti": "coco80-to-kitti", "coco-to-bdd": "coco80-to-bdd"}


def parse_class_map(spec: str | None) -> Callable[[str], str | None] | None:
    """``None``; a shipped class map name or a JSON class map file; or ``a=b,c=d``."""
    if spec is None or not spec.strip():
        return None
    spec = spec.strip()
    if "=" not in spec:
        return ClassMap.load(ALIASES.get(spec, spec)).map
    raw: dict[str, str | None] = {}
    for part in spec.split(","):
        if "=" not in part:
            raise FormatError(spec, f"class map entry {part!r} is not 'from=to'")
        a, b = (x.strip() for x in part.split("=", 1))
        if not a:
            raise FormatError(spec, f"class map entry {part!r} has no source class")
        raw[a] = b or None
    if "*" in raw:
        default = raw.pop("*")
        return lambda name: raw.get(name, default)
    return lambda name: raw.get(name, name)
