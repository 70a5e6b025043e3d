"""The quality flows as library calls: evaluate a label set against ground truth under a benchmark's rules,
calibrate thresholds from a verified slice, route a label set (one review round). The CLI (``prelabel eval``,
``calibrate``, ``route``, ``report``) only parses arguments and prints what these return.

>>> run = evaluate_files("labels.jsonl", "kitti/training/label_2")
>>> run.preset, run.result.summary()["AP"]
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prelabel.core.labels import FrameRecord
from prelabel.errors import FormatError, PrelabelError, UnknownNameError
from prelabel.quality.calibration import Thresholds
from prelabel.quality.evaluate import EvalConfig, EvalResult
from prelabel.quality.routing import RouteResult

if TYPE_CHECKING:
    from prelabel.quality.mot import MOTConfig, TrackEvalResult

#: Evaluation presets: the matching rules of a benchmark. ``auto`` picks one from the ground truth's format.
PRESETS = ("auto", "kitti", "scalabel", "coco")


def eval_config(
    gt_format: str,
    preset: str = "auto",
    pred_categories: set[str] | None = None,
    gt_categories: set[str] | None = None,
    *,
    class_map: str | None = None,
    gt_class_map: str | None = None,
    classes: Sequence[str] | None = None,
    min_height: float | None = None,
    inclusive: bool | None = None,
) -> tuple[EvalConfig, str]:
    """The evaluation settings for ``preset`` (and the preset used, ``auto`` resolved). Predictions in COCO's
    classes against KITTI or BDD ground truth get the matching shipped class map unless ``class_map`` is given."""
    from prelabel.core.vocab import COCO80
    from prelabel.quality.classmaps import parse_class_map
    from prelabel.quality.evaluate import kitti_config
    from prelabel.refine.compose import composite_names

    if preset not in PRESETS:
        raise UnknownNameError("evaluation preset", preset, PRESETS)
    if preset == "auto":
        preset = {"kitti": "kitti", "scalabel": "scalabel", "bdd": "scalabel"}.get(gt_format, "coco")
    preds, gts = pred_categories or set(), gt_categories or set()
    coco_like = preds - composite_names()  # composed cyclists etc. come with COCO names
    coco_preds = bool(coco_like) and coco_like <= set(COCO80) and not preds <= gts
    pmap = parse_class_map(class_map)
    if pmap is None and coco_preds and preset in ("kitti", "scalabel"):
        pmap = parse_class_map("coco80-to-kitti" if preset == "kitti" else "coco80-to-bdd")
    cfg = kitti_config(pmap) if preset == "kitti" else EvalConfig(class_map=pmap, inclusive_pixels=preset == "scalabel")
    _set_matching(cfg, gt_class_map, classes, inclusive)
    if min_height is not None:
        cfg.min_height = min_height
    return cfg, preset


def _set_matching(
    cfg: EvalConfig | MOTConfig, gt_class_map: str | None, classes: Sequence[str] | None, inclusive: bool | None
) -> None:
    """What the user set over a preset's matching rules, for box and track evaluations alike: the ground truth's
    class map, the classes evaluated (when given), the pixel convention (when given)."""
    from prelabel.quality.classmaps import parse_class_map

    cfg.gt_class_map = parse_class_map(gt_class_map)
    if classes:
        cfg.classes = list(classes)
    if inclusive is not None:
        cfg.inclusive_pixels = inclusive


def _categories(records: Sequence[FrameRecord]) -> set[str]:
    return {lab.category for r in records for lab in r.labels}


class _Run:
    """What an evaluation run reports: its result's figures with the inputs and the preset."""

    result: Any
    preset: str

    def to_dict(self, labels: str, gt: str) -> dict[str, Any]:
        return {"labels": labels, "gt": gt, "preset": self.preset, **self.result.to_dict()}


@dataclass
class EvalRun(_Run):
    """An evaluation and what it was run with; ``warnings``: what the evaluator warned about (unpaired frames...)."""

    result: EvalResult
    preset: str
    warnings: list[str] = field(default_factory=list)


def evaluate_files(
    labels: str,
    gt: str,
    *,
    fmt: str | None = None,
    gt_format: str | None = None,
    preset: str = "auto",
    class_map: str | None = None,
    gt_class_map: str | None = None,
    classes: Sequence[str] | None = None,
    min_height: float | None = None,
    inclusive: bool | None = None,
    compose: str | None = None,
) -> EvalRun:
    """Read both label sets (formats guessed when not given), optionally compose parts first, evaluate.

    Predictions in a labels file (``*.jsonl``) are streamed (:mod:`prelabel.quality.evalstream`): memory stays
    bounded by a block of frames whatever the file's size; the figures are those of the in-memory evaluation."""
    from prelabel.quality.evalstream import FrameKeys, evaluate_stream
    from prelabel.quality.evaluate import evaluate
    from prelabel.quality.inputs import detect_format, load_records

    gt_fmt = (gt_format or detect_format(Path(gt))).lower()
    pred_fmt = (fmt or (detect_format(Path(labels)) if Path(labels).exists() else "")).lower()
    opts: dict[str, Any] = dict(
        class_map=class_map, gt_class_map=gt_class_map, classes=classes, min_height=min_height, inclusive=inclusive
    )
    pred_keys = FrameKeys.scan(labels) if pred_fmt == "labels" and not compose and Path(labels).exists() else None
    gt_keys = FrameKeys.scan(gt) if gt_fmt == "labels" and pred_keys is not None else None
    if pred_keys is not None and (gt_fmt != "labels" or gt_keys is not None):
        from prelabel.labelfile import iter_records

        gts_list = None if gt_keys is not None else load_records(gt, gt_fmt)
        if gts_list is not None:
            gt_keys = FrameKeys.of_records(gts_list)
        assert gt_keys is not None
        if not gt_keys.ids:
            raise FormatError(gt, "the ground truth holds no frames")
        cfg, used = eval_config(gt_fmt, preset, pred_keys.categories, gt_keys.categories, **opts)
        gt_stream = gts_list if gts_list is not None else iter_records(gt)
        res = evaluate_stream(iter_records(labels), gt_stream, pred_keys, gt_keys, cfg)
        return _checked(res, used, pred_keys.ids, gt_keys.ids)
    gt_fmt, preds, gts = _read_pair(labels, gt, fmt, gt_fmt)  # the format found above: no second sniff
    if compose:
        from prelabel.refine.compose import compose_records

        preds = compose_records(preds, compose)
    cfg, used = eval_config(gt_fmt, preset, _categories(preds), _categories(gts), **opts)
    res, caught = _evaluate_paired(evaluate, preds, gts, cfg)
    return EvalRun(res, used, caught)


def _checked(res: EvalResult, used: str, pred_ids: list[str], gt_ids: list[str]) -> EvalRun:
    """The run, or an error when no predicted frame pairs with the ground truth."""
    unmatched = res.unmatched_prediction_frames
    _require_pairs(pred_ids, gt_ids, unmatched)
    msg = (
        [
            f"{len(unmatched)} predicted frames have no ground truth and were skipped "
            f"(first: {unmatched[:3]}); frames pair by id or file stem"
        ]
        if unmatched
        else []
    )
    return EvalRun(res, used, msg)


def _require_pairs(pred_ids: list[str], gt_ids: list[str], unmatched: list[str]) -> None:
    """An error naming a few ids of each side when no predicted frame pairs with a ground-truth frame (the usual
    cause: ids from different folders or naming)."""
    if pred_ids and len(unmatched) == len(pred_ids):
        raise PrelabelError(
            f"none of the {len(pred_ids)} predicted frames pairs with the {len(gt_ids)} ground-truth frames (by id "
            f"or file stem); predicted ids look like {pred_ids[:3]}, ground truth like {gt_ids[:3]}"
        )


def _read_pair(
    labels: str, gt: str, fmt: str | None, gt_format: str | None
) -> tuple[str, list[FrameRecord], list[FrameRecord]]:
    """(the ground truth's format, predictions, ground truth), each read in its format (guessed when not given);
    a ground truth without frames is an error."""
    from prelabel.quality.inputs import detect_format, load_records

    gt_fmt = (gt_format or detect_format(Path(gt))).lower()
    gts = load_records(gt, gt_fmt)
    preds = load_records(labels, fmt)
    if not gts:
        raise FormatError(gt, "the ground truth holds no frames")
    return gt_fmt, preds, gts


def _evaluate_paired(
    evaluator: Any, preds: list[FrameRecord], gts: list[FrameRecord], cfg: Any
) -> tuple[Any, list[str]]:
    """Run an evaluator, keeping what it warns about; a run where no predicted frame pairs is an error
    (:func:`_require_pairs`)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = evaluator(preds, gts, cfg)
    _require_pairs([p.frame.id for p in preds], [g.frame.id for g in gts], res.unmatched_prediction_frames)
    return res, [str(w.message) for w in caught]


#: Tracking evaluation presets: ``scalabel``/``bdd`` (BDD100K classes and rules) or ``plain``.
TRACK_PRESETS = ("auto", "scalabel", "bdd", "plain")


@dataclass
class TrackEvalRun(_Run):
    """A tracking evaluation (MOTA, IDF1, MOTP, HOTA...) and the preset it ran under."""

    result: TrackEvalResult
    preset: str
    warnings: list[str] = field(default_factory=list)


def evaluate_tracking_files(
    labels: str,
    gt: str,
    *,
    fmt: str | None = None,
    gt_format: str | None = None,
    preset: str = "auto",
    class_map: str | None = None,
    gt_class_map: str | None = None,
    classes: Sequence[str] | None = None,
    inclusive: bool | None = None,
) -> TrackEvalRun:
    """Read tracked predictions and ground truth (formats guessed when not given) and score the tracks."""
    from prelabel.quality.classmaps import parse_class_map
    from prelabel.quality.mot import BDD_TRACK_CLASSES, MOTConfig, bdd_config, evaluate_tracking

    gt_fmt, preds, gts = _read_pair(labels, gt, fmt, gt_format)
    if preset not in TRACK_PRESETS:
        raise UnknownNameError("tracking evaluation preset", preset, TRACK_PRESETS)
    if preset == "auto":
        bdd = gt_fmt in ("scalabel", "bdd") or _categories(gts) <= set(BDD_TRACK_CLASSES)
        preset = "scalabel" if bdd else "plain"
    cfg = bdd_config() if preset in ("scalabel", "bdd") else MOTConfig(inclusive_pixels=False)
    cfg.class_map = parse_class_map(class_map)
    _set_matching(cfg, gt_class_map, classes, inclusive)
    res, caught = _evaluate_paired(evaluate_tracking, preds, gts, cfg)
    return TrackEvalRun(res, preset, caught)


def calibrate_files(
    labels: str,
    verified: str,
    *,
    verified_format: str | None = None,
    target: float = 0.95,
    min_support: int = 10,
    iou: float = 0.5,
    preset: str = "auto",
    class_map: str | None = None,
) -> tuple[list[FrameRecord], Thresholds, set[str]]:
    """Per-class thresholds for a target precision from a verified slice: ground truth in any readable format, or
    a finished review job's labels (review states). Returns (the machine labels, thresholds, frames people
    answered)."""
    from prelabel.labelfile import read_records
    from prelabel.quality.calibration import (
        answered_frames,
        calibrate,
        is_review_answer_set,
        samples_from_ground_truth,
        samples_from_review,
    )
    from prelabel.quality.inputs import detect_format, load_records

    preds = read_records(labels)
    vfmt = (verified_format or detect_format(Path(verified))).lower()
    answers = load_records(verified, vfmt)
    review_mode = is_review_answer_set(preds, answers)
    if review_mode:
        samples = samples_from_review(preds, answers, iou)
    else:
        cfg, _ = eval_config(vfmt, preset, _categories(preds), _categories(answers), class_map=class_map)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            samples = samples_from_ground_truth(preds, answers, cfg, iou)
    if not samples:
        raise PrelabelError(
            f"no machine label in {labels} could be checked against {verified}: frames pair by id (predicted ids "
            f"look like {[p.frame.id for p in preds[:3]]}, verified like {[a.frame.id for a in answers[:3]]}) and "
            f"classes must map onto the verified classes (see --preset and --class-map)"
        )
    th = calibrate(samples, target_precision=target, min_support=min_support, iou=iou)
    return preds, th, answered_frames(answers, review_mode)


@dataclass
class RouteRound:
    """One routing round: the split, the frames people already answered, and the files written."""

    result: RouteResult
    human_frames: int
    files: list[Path]


def route_round(
    labels: str,
    out_dir: str | Path,
    *,
    thresholds: str | None = None,
    verified: str | None = None,
    verified_format: str | None = None,
    target: float = 0.95,
    min_support: int = 10,
    iou: float = 0.5,
    preset: str = "auto",
    class_map: str | None = None,
    drop_below: float = 0.0,
    next_batch: int = 0,
    report: bool = True,
    overwrite: bool = False,
) -> RouteRound:
    """Split ``labels`` into auto-accepted and to-review (``auto.jsonl``, ``review.jsonl``, ``route.json`` in
    ``out_dir``) by saved ``thresholds``, or by thresholds recalibrated from ``verified`` answers (then only the
    frames people have not answered are routed). ``next_batch``: also pick that many waiting frames for people."""
    from prelabel.formats._common import check_dst
    from prelabel.labelfile import read_records, write_records
    from prelabel.quality.routing import route
    from prelabel.quality.selection import select_frames

    if (thresholds is None) == (verified is None):
        raise PrelabelError("give exactly one of --thresholds FILE or --verified ANSWERS")
    folder = Path(out_dir)
    outs = {n: folder / n for n in ("auto.jsonl", "review.jsonl", "route.json")}
    for p in outs.values():
        check_dst(str(p), overwrite)
    human: set[str] = set()
    if verified is not None:
        preds, th, human = calibrate_files(
            labels, verified, verified_format=verified_format, target=target, min_support=min_support, iou=iou,
            preset=preset, class_map=class_map,
        )  # fmt: skip
    else:
        preds, th = read_records(labels), Thresholds.load(str(thresholds))
    rest = [p for p in preds if p.frame.id not in human]
    res = route(rest, th, drop_below=drop_below)
    folder.mkdir(parents=True, exist_ok=True)
    write_records(str(outs["auto.jsonl"]), res.accepted)
    write_records(str(outs["review.jsonl"]), res.review)
    summary = {"labels": labels, "human_frames": len(human), **res.summary()}
    written = list(outs.values())
    if verified is not None:
        th.save(str(folder / "thresholds.json"))
        written.append(folder / "thresholds.json")
    if next_batch:
        waiting = {r.frame.id for r in res.review}
        sel = select_frames([p for p in rest if p.frame.id in waiting], next_batch)
        (folder / "next_batch.txt").write_text("".join(f + "\n" for f in sel.frames))
        summary["next_batch"] = sel.frames
        written.append(folder / "next_batch.txt")
    outs["route.json"].write_text(json.dumps(summary, indent=2))
    if report:
        from prelabel.viz.report import build_report

        page = build_report(rest, title=f"routing of {labels}", routing=res)
        (folder / "report.html").write_text(page, encoding="utf-8")
        written.append(folder / "report.html")
    return RouteRound(res, len(human), written)
