"""Model format converters written for prelabel (no heavy framework needed), and the converted-file cache.

A zoo entry with ``convert`` names a converter; its output lands beside the fetched files as
``converted-model.onnx`` with a record (``converted-model.onnx.json``) of the output's sha256 and the sha256 of
every input it was made from. A converted file that no longer matches its record is refused (never loaded); a
missing one is made again from the verified inputs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from prelabel.errors import IntegrityError, UnknownNameError

CONVERTED_NAME = "converted-model.onnx"


def _tfjs_graph(files: dict[str, Path], out: Path) -> Path:
    from prelabel.models.convert.tfjs_onnx import convert_tfjs

    graph = files["graph"]
    manifest = json.loads(graph.read_text("utf-8"))
    shard_names = [p for g in manifest.get("weightsManifest", []) for p in g["paths"]]
    weight_files = [files[r] for r in sorted(files) if r.startswith("weights")]
    if len(shard_names) != len(weight_files):
        raise ValueError(f"{graph.name} lists {len(shard_names)} weight shards; the entry has {len(weight_files)}")
    return convert_tfjs(graph, out, dict(zip(shard_names, weight_files, strict=True)))


CONVERTERS: dict[str, Callable[[dict[str, Path], Path], Path]] = {"tfjs-graph": _tfjs_graph}


def ensure_converted(kind: str, files: dict[str, Path], folder: Path, item: str) -> Path:
    """The converted model for verified ``files``: reused when its record matches, else (re)made."""
    from prelabel.models.fetch import sha256_file

    if kind not in CONVERTERS:
        raise UnknownNameError("converter", kind, CONVERTERS)
    out = folder / CONVERTED_NAME
    record_path = folder / (CONVERTED_NAME + ".json")
    inputs = {role: sha256_file(p) for role, p in sorted(files.items())}
    if out.exists() and record_path.exists():
        record = json.loads(record_path.read_text("utf-8"))
        if record.get("inputs") == inputs and record.get("converter") == kind:
            got = sha256_file(out)
            if got != record.get("sha256"):
                raise IntegrityError(
                    f"converted {item} at {out} (delete it to convert again)", str(record.get("sha256")), got
                )
            return out
    CONVERTERS[kind](files, out)
    record = {"converter": kind, "sha256": sha256_file(out), "inputs": inputs}
    from prelabel import storage

    storage.write_text(str(record_path), json.dumps(record, indent=2))  # atomic, unique temporary name
    return out


def verify_converted(folder: Path) -> str:
    """'ok' | 'missing' | 'corrupt' for the converted file in ``folder``."""
    from prelabel.models.fetch import sha256_file

    out = folder / CONVERTED_NAME
    record_path = folder / (CONVERTED_NAME + ".json")
    if not out.exists() or not record_path.exists():
        return "missing"
    record = json.loads(record_path.read_text("utf-8"))
    return "ok" if sha256_file(out) == record.get("sha256") else "corrupt"
