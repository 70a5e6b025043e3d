"""Presets: ``fast``, ``balanced``, ``best`` -- whole labelling recipes chosen by measurement, not by hand.

A preset (``presets.json``, written by ``python -m benchmarks.bench_presets``) names its member runs (zoo model,
tiled or not, flip TTA or not), how they are fused when there are several (``prelabel.refine.fusion``), the
ontology its labels use (the ``driving`` class map by default) and a score threshold per class chosen to minimise
simulated reviewer effort. ``build_preset`` turns one into a single Detector; ``label_settings`` turns the
``prelabel label`` flags into the Predictor's options (``prelabel label`` with no ``--model`` runs ``best``).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from prelabel.errors import PrelabelError, UnknownNameError
from prelabel.models.base import Detector

DEFAULT_PRESET = "best"


@cache
def presets() -> dict[str, dict[str, Any]]:
    raw = json.loads(resources.files("prelabel.inference").joinpath("presets.json").read_text("utf-8"))
    return {p["name"]: p for p in raw["presets"]}


def get_preset(name: str) -> dict[str, Any]:
    found = presets()
    if name not in found:
        raise UnknownNameError("preset", name, found)
    return found[name]


def member_detector(member: dict[str, Any], cache_dir: str | Path | None, **options: Any) -> Detector:
    """One member run: a zoo model, wrapped in flip TTA and tiling as the member says."""
    from prelabel.models.loader import load_detector

    det: Any = load_detector(member["model"], cache_dir, **options)
    if member.get("tta"):
        from prelabel.refine.tta import FlipTTADetector

        det = FlipTTADetector(det)
    if member.get("tiled"):
        from prelabel.refine.tiling import TiledDetector

        det = TiledDetector(det, tile=member.get("tile"))  # tile: square side in pixels (default: the short side)
    return det


def build_preset(
    name: str,
    cache_dir: str | Path | None = None,
    *,
    classes: list[str] | None = None,
    class_map: str | None = None,
    min_score: float | None = None,
    **options: Any,
) -> Detector:
    """The preset as one Detector: members (fused if several), then the ontology with per-class thresholds.

    ``class_map`` replaces the preset's ontology (its per-class thresholds then apply to names that still exist);
    ``min_score`` replaces every per-class threshold; ``options`` (``threads``, ``device``) go to each model.
    """
    from prelabel.inference.ontology import OntologyDetector

    p = get_preset(name)
    options.pop("min_score", None)
    members = [
        member_detector(m, cache_dir, min_score=p.get("member_min_score", 0.05), **options) for m in p["members"]
    ]
    det: Any = members[0]
    if len(members) > 1:
        from prelabel.inference.ensemble import EnsembleDetector

        det = EnsembleDetector(members, name=f"preset-{name}", **p.get("fusion", {}))
    per_class = {} if min_score is not None else dict(p.get("min_scores", {}))
    return OntologyDetector(
        det,
        class_map=class_map or p.get("class_map", "driving"),
        keep=classes,
        dedupe_mode=p.get("dedupe", "same-class"),
        dedupe_iou=float(p.get("dedupe_iou", 0.7)),
        min_scores=per_class,
        min_score=float(min_score if min_score is not None else p.get("min_score", 0.25)),
    )


def label_settings(
    *,
    model: str | None,
    preset: str | None,
    min_score: float | None,
    threads: int,
    device: str | None,
    classes: str | None,
    class_map: str | None,
    decoder: str | None,
    tiled: bool,
    tta: bool,
    masks: str | None,
) -> tuple[str, dict[str, Any]]:
    """``prelabel label``'s flags -> (the model reference a job records, the Predictor's options).

    Everything is checked here, before a job exists: an unknown preset, device, class map or mask model is a
    one-line error.
    """
    from prelabel.inference.ontology import load_class_map, parse_classes

    if model and preset:
        raise PrelabelError("give --model or --preset, not both (a preset chooses its own models)")
    if device:
        from prelabel.models.backends.providers import providers_for

        providers_for(device)  # an unavailable accelerator fails now, not on the first frame
    if class_map:
        load_class_map(class_map)
    if masks:
        from prelabel.models.sam import check_masker

        check_masker(masks)
    opts: dict[str, Any] = {"threads": threads}
    if device:
        opts["device"] = device
    keep = parse_classes(classes)
    if keep:
        opts["classes"] = keep
    if class_map:
        opts["class_map"] = class_map
    if masks:
        opts["masks"] = masks
    if model is None:
        name = preset or DEFAULT_PRESET
        p = get_preset(name)
        if keep:
            from prelabel.core.vocab import COCO80
            from prelabel.inference.ontology import vocabulary

            vocabulary(COCO80, load_class_map(class_map or p.get("class_map", "driving")), keep)
        if tiled or tta or decoder:
            raise PrelabelError(f"preset {name} sets its own tiling, TTA and models; drop --tiled/--tta/--decoder")
        if masks == "native":
            raise PrelabelError("--masks native needs --model yolo11n-seg-coco (a preset fuses several runs)")
        opts["preset"] = name
        if min_score is not None:
            opts["min_score"] = min_score
        return str(p["members"][0]["model"]), opts
    if masks == "native" and (tiled or tta):
        raise PrelabelError(
            "--masks native takes the masks of one full-frame pass; with --tiled or --tta use --masks sam"
        )
    _check_zoo_model(model, keep, class_map, masks)
    opts["min_score"] = 0.25 if min_score is None else min_score
    if decoder:
        opts["decoder"] = decoder
    opts.update({k: True for k, on in (("tiled", tiled), ("tta", tta)) if on})
    return model, opts


def _check_zoo_model(model: str, keep: list[str] | None, class_map: str | None, masks: str | None) -> None:
    """For a zoo model, check ``--classes`` and ``--masks native`` against its manifest before any job exists."""
    from prelabel.models.refs import parse_model_ref

    if parse_model_ref(model).kind != "zoo":  # URLs, registry models, python: factories, .onnx files
        return
    from prelabel.inference.ontology import load_class_map, vocabulary
    from prelabel.models.zoo import get_entry

    entry = get_entry(model)
    if entry.task not in ("detect", "segment"):
        raise PrelabelError(
            f"{model} is a {entry.task} model (for prelabel anonymise), not a labeller; pick a detect or segment model "
            "(prelabel models list)"
        )
    if keep:
        vocabulary(entry.class_names, load_class_map(class_map) if class_map else None, keep)
    if masks == "native" and entry.task != "segment":
        raise PrelabelError(
            f"--masks native needs a segmentation model; {model} is a {entry.task} model; use yolo11n-seg-coco or "
            "--masks sam"
        )
