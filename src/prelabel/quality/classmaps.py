"""Class maps from the command line: a shipped or JSON class map (:class:`prelabel.core.classmap.ClassMap`), or an
inline ``a=b,c=d`` string.

Inline maps keep names that are not listed (``a=`` drops ``a``); ``*=`` drops every unlisted name and ``*=x`` renames
them all to ``x``. Shipped maps (``coco80-to-kitti``, ``coco80-to-bdd``, ...) say themselves what happens to
unlisted names. The short names are the label-time ontology's (``kitti`` = ``coco80-to-kitti``, ...).
"""

from __future__ import annotations

from collections.abc import Callable

from prelabel.errors import FormatError


def parse_class_map(spec: str | None) -> Callable[[str], str | None] | None:
    """``None``; a shipped class map name (``kitti``, ``bdd``, ``nuscenes``, ``driving`` or a full name) or a JSON
    class map file, resolved as ``prelabel label --class-map`` resolves it (``prelabel.inference.ontology``); or
    ``a=b,c=d``."""
    if spec is None or not spec.strip():
        return None
    spec = spec.strip()
    if "=" not in spec:
        from prelabel.inference.ontology import load_class_map

        return load_class_map(spec).map
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
