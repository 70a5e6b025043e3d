"""Imports go one way: a module may import its own layer or the layers below it, never one above.

    python scripts/check_layers.py        # exit 1 listing each upward import (file:line, importer -> imported)

Layers, lowest first (README "Layout"): the foundation (core, errors, limits), the plumbing every room uses
(storage, sqlite, plugins, access, httpguard, httpclient, labelfile), the rooms that read the world (sources, models,
formats), the work on labels (inference, refine, lidar, quality, review, privacy, viz), and the edges (service,
cli, client). Every import counts, lazy ones inside functions too. Reads source text only (ast); imports nothing.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

LAYERS: list[set[str]] = [
    {"core", "errors", "limits"},
    {"storage", "sqlite", "plugins", "access", "httpguard", "httpclient", "labelfile"},
    {"sources", "models", "formats"},
    {"inference", "refine", "lidar", "quality", "review", "privacy", "viz", "raycluster"},
    {"service", "cli", "client"},
]
RANK = {name: i for i, layer in enumerate(LAYERS) for name in layer}


def unit(module: str) -> str | None:
    """``prelabel.formats.coco`` -> ``formats``; anything outside prelabel -> None."""
    parts = module.split(".")
    return parts[1] if parts[0] == "prelabel" and len(parts) > 1 else None


def imports(path: Path, module: str) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing package
                pkg = module.split(".")[: -node.level] if path.name != "__init__.py" else module.split(".")
                pkg = pkg if path.name != "__init__.py" else pkg[: len(pkg) - node.level + 1]
                base = ".".join([*pkg, base] if base else pkg)
            if base == "prelabel":  # from prelabel import storage
                out += [(node.lineno, f"prelabel.{a.name}") for a in node.names]
            else:
                out.append((node.lineno, base))
    return out


def check(src: Path) -> list[str]:
    problems = []
    for path in sorted((src / "prelabel").rglob("*.py")):
        module = ".".join(path.relative_to(src).with_suffix("").parts)
        me = unit(module)
        if me is None or me == "__init__":
            continue
        if me not in RANK:
            problems.append(f"{path}: prelabel.{me} is in no layer; add it to scripts/check_layers.py")
            continue
        for line, target in imports(path, module):
            other = unit(target)
            if other is None or other == me or other not in RANK:
                continue
            if RANK[other] > RANK[me]:
                problems.append(f"{path}:{line}: {me} (layer {RANK[me]}) imports {target} (layer {RANK[other]})")
    return problems


def main() -> int:
    src = Path(__file__).resolve().parent.parent / "src"
    problems = check(src)
    for p in problems:
        print(p)
    print(f"{len(problems)} upward import(s)" if problems else "imports go one way")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
