"""Choose the presets (fast / balanced / best) by measurement on the 30 KITTI frames, and report them.

    nice -n 10 python -m benchmarks.preset_runs --dataset kitti        # every zoo model x setting, cached in /tmp
    nice -n 10 python -m benchmarks.bench_presets [--write src/prelabel/inference/presets.json] [--speed]
    nice -n 10 python -m benchmarks.bench_presets --settings full,tiled,tta,tiled+tta,tiled256 --pool per-model  # more

Candidates: every cached run (zoo model x full / tiled / flip TTA / tiled + TTA, detections from score 0.05) and
weighted box fusion (``prelabel.refine.fusion``) of 2 or 3 of the five best runs, IoU 0.55, skipping boxes
under 0.0 or 0.2 (the runs' car, truck, bus and person boxes: the classes scored; fusion is per class). Every
candidate's labels go through the presets' ontology (the ``driving`` class map, same-class
duplicates at IoU >= 0.7 removed). Score: the mean of vehicle and pedestrian AP50 (COCO-style 101-point, groups
and ignore rules of ``bench_detectors``). Cost: the process CPU time per frame of the member runs (both threads),
summed; tiers: fast <= 100 ms (20 frames/s on 2 free cores), balanced <= 1000 ms, best: any.

Held-out figures: frames 000000-000014 and 000015-000029 are two halves; the candidate (and the thresholds) used on
one half are chosen on the other, and both halves' labels are scored together. The shipped preset is the choice on
all 30 frames. Per-class thresholds minimise simulated reviewer effort (``benchmarks.reviewer_effort``).
``--speed`` times each shipped preset end to end (``Predictor(preset=...)``) on 10 frames with 2 threads.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

from benchmarks.preset_runs import CACHE, MODELS, SETTINGS, load_run, setting_of
from benchmarks.reviewer_effort import choose_thresholds, effort

DATA = Path(os.environ.get("PRELABEL_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
KITTI = DATA / "kitti" / "training"
TIERS = {"fast": 0.100, "balanced": 1.000, "best": 1e9}
SEARCHED = ("full", "tiled", "tta", "tiled+tta")  # the settings the shipped presets were chosen from
TUNED = ("car", "truck", "bus", "pedestrian")
SCORED = {"car", "truck", "bus", "person"}  # COCO classes behind TUNED  # the driving classes with KITTI ground truth
UNTUNED_MIN_SCORE = 0.5  # classes KITTI does not label (bicycle, motorcycle, train, traffic light, stop sign)
GT_MAP = {"Car": "vehicle", "Van": "vehicle", "Truck": "vehicle", "Pedestrian": "pedestrian"}
GT_MAP.update({"Person_sitting": "pedestrian", "Cyclist": "rider", "Tram": "other-vehicle", "Misc": "other-vehicle"})
PRED_MAP = {"car": "vehicle", "bus": "vehicle", "truck": "vehicle", "person": "pedestrian", "pedestrian": "pedestrian"}


def ap50(records: list[Any], gt: list[Any], ids: set[str] | None = None) -> dict[str, float]:
    from prelabel.quality.evaluate import EvalConfig, evaluate

    if ids is not None:
        records = [r for r in records if r.frame.id in ids]
        gt = [g for g in gt if g.frame.id in ids]
    cfg = EvalConfig(
        classes=("vehicle", "pedestrian"),
        class_map=lambda n: PRED_MAP.get(n),
        gt_class_map=lambda n: GT_MAP.get(n, "other"),
        ignore_categories=("DontCare",),
        neighbours={"vehicle": ("other-vehicle",), "pedestrian": ("rider",)},
        min_height=25.0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = evaluate(records, gt, cfg)
    out = {g: float(res.ap(g, iou=0.5) or 0.0) for g in ("vehicle", "pedestrian")}
    out["mean"] = (out["vehicle"] + out["pedestrian"]) / 2
    return out


class _Classes:
    """The class list a run's labels use (COCO-80), for the ontology: the runs are already cached labels."""

    model_id, version, source, classes = "cached", "0", "cached", ()


def ontology(records: list[Any], thresholds: dict[str, float] | None = None) -> list[Any]:
    """The presets' ontology (driving map, same-class de-duplication) and thresholds, applied to cached labels."""
    import numpy as np

    from prelabel.core.detections import Detections
    from prelabel.core.vocab import COCO80
    from prelabel.inference.ontology import OntologyDetector

    holder = _Classes()
    holder.classes = COCO80  # type: ignore[assignment]
    onto = OntologyDetector(holder, class_map="driving", min_scores=thresholds or {}, min_score=0.0)  # type: ignore[arg-type]
    index = {c: i for i, c in enumerate(COCO80)}
    out = []
    for rec in records:
        labs = [lab for lab in rec.labels if lab.box is not None and lab.category in index]
        dets = Detections(
            np.asarray([lab.box.xyxy for lab in labs], dtype=np.float32).reshape(-1, 4),  # type: ignore[union-attr]
            [float(lab.score or 0.0) for lab in labs],
            [index[lab.category] for lab in labs],
        )
        kept = onto.apply(dets)
        out.append(rec.model_copy(update={"labels": kept.to_labels(rec.frame.id, "model:preset@bench", onto.classes)}))
    return out


def candidates(runs: dict[str, tuple[list[Any], float]], gt: list[Any], pool_rule: str = "best") -> dict[str, Any]:
    """name -> {config, records (after the ontology), cpu seconds per frame}."""
    from prelabel.refine.fusion import fuse_records

    out: dict[str, dict[str, Any]] = {}
    for name, (recs, cpu) in runs.items():
        model, setting = name.split("__")
        member = {"model": model, **SETTINGS[setting]}
        out[name] = {"members": [member], "records": ontology(recs), "cpu": cpu}
    ranked = sorted(runs, key=lambda n: -ap50(out[n]["records"], gt)["mean"])
    if pool_rule == "per-model":  # each model's best run first, then the best others
        firsts: dict[str, str] = {}
        for n in ranked:
            firsts.setdefault(n.split("__")[0], n)
        ranked = [*firsts.values(), *(n for n in ranked if n not in firsts.values())]
    pool = ranked[:5]
    print(f"fusion pool ({pool_rule}):", ", ".join(pool), flush=True)
    for k in (2, 3):
        for combo in itertools.combinations(pool, k):
            for iou, skip in itertools.product((0.55,), (0.0, 0.2)):
                fused = fuse_records([runs[n][0] for n in combo], iou_threshold=iou, skip_score=skip, names=combo)
                members = [out[n]["members"][0] for n in combo]
                out[f"wbf({' + '.join(combo)}; iou {iou}, skip {skip})"] = {
                    "members": members,
                    "fusion": {"method": "wbf", "iou_threshold": iou, "skip_score": skip},
                    "records": ontology(fused),
                    "cpu": sum(runs[n][1] for n in combo),
                }
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", default="", help="write the chosen presets (presets.json) here")
    ap.add_argument("--json", default="", help="write the report rows here")
    ap.add_argument("--speed", action="store_true", help="time each shipped preset end to end")
    ap.add_argument("--shipped", action="store_true", help="only BDD100K AP50 and speed of the shipped presets")
    ap.add_argument("--settings", default=",".join(SEARCHED), help="cached settings searched (also tiled256,640)")
    ap.add_argument("--pool", choices=("best", "per-model"), default="best", help="five best runs, or per model first")
    args = ap.parse_args(argv)
    if args.shipped:
        from prelabel.inference.presets import presets

        shipped_rows = [{"preset": name} for name in presets()]
        for r in shipped_rows:
            for dataset in ("bdd", "nuscenes"):
                ap_other = bdd_ap(presets()[r["preset"]], dataset)
                if ap_other is not None:
                    cells = ", ".join(f"{c} {100 * v:.1f} ({ap_other[f'n_{c}']:.0f})" for c, v in ap_other.items()
                                      if not c.startswith("n_") and v is not None)  # fmt: skip
                    print(f"{dataset} AP50 (ground-truth boxes) {r['preset']}: {cells}", flush=True)
        if args.speed:
            speed(shipped_rows)
        return

    from prelabel.quality.inputs import read_kitti

    runs: dict[str, tuple[list[Any], float]] = {}
    for model in MODELS:
        for setting in args.settings.split(","):
            got = load_run("kitti", model, setting, CACHE)
            if got is not None:
                cpu = json.loads((CACHE / "kitti" / f"{model}__{setting}.json").read_text())["cpu_per_frame"]
                scored = [r.model_copy(update={"labels": [lab for lab in r.labels if lab.category in SCORED]})
                          for r in got[0]]  # fmt: skip
                runs[f"{model}__{setting}"] = (scored, float(cpu))
    if not runs:
        raise SystemExit("no cached runs; run python -m benchmarks.preset_runs --dataset kitti first")
    ids = sorted({r.frame.id for recs, _ in runs.values() for r in recs})
    gt = [g for g in read_kitti(KITTI / "label_2") if g.frame.id in set(ids)]
    halves = [set(ids[: len(ids) // 2]), set(ids[len(ids) // 2 :])]
    t0 = time.perf_counter()
    cands = candidates(runs, gt, args.pool)
    scores = {n: [ap50(c["records"], gt, h)["mean"] for h in halves] + [ap50(c["records"], gt)["mean"]]
              for n, c in cands.items()}  # fmt: skip
    print(f"{len(cands)} candidates scored in {time.perf_counter() - t0:.0f} s", flush=True)

    rows: list[dict[str, Any]] = []
    shipped: list[dict[str, Any]] = []
    for tier, budget in TIERS.items():
        allowed = [n for n, c in cands.items() if c["cpu"] <= budget]
        chosen_on = [max(allowed, key=lambda n, h=h: scores[n][h]) for h in (1, 0)]  # for half k: chosen on 1 - k
        held_recs: list[Any] = []
        held_thr_recs: list[Any] = []
        for k, name in enumerate(chosen_on):
            recs = [r for r in cands[name]["records"] if r.frame.id in halves[k]]
            train = [r for r in cands[name]["records"] if r.frame.id in halves[1 - k]]
            th = choose_thresholds(train, [g for g in gt if g.frame.id in halves[1 - k]], TUNED)
            held_recs += recs
            held_thr_recs += ontology_thresholded(recs, th)
        final = max(allowed, key=lambda n: scores[n][2])
        recs = cands[final]["records"]
        th = choose_thresholds(recs, gt, TUNED)
        thr = ontology_thresholded(recs, th)
        row = {
            "preset": tier,
            "chosen": final,
            "chosen_per_half": chosen_on,
            "cpu_ms": 1000 * cands[final]["cpu"],
            "ap50": ap50(recs, gt),
            "ap50_thresholded": ap50(thr, gt),
            "ap50_held_out": ap50(held_recs, gt),
            "thresholds": th,
            "effort": effort(thr, gt),
            "effort_held_out": effort(held_thr_recs, gt),
            "effort_at_0.25": effort(recs, gt, dict.fromkeys(TUNED, 0.25)),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
        preset = {"name": tier, "members": cands[final]["members"], "class_map": "driving", "dedupe": "same-class"}
        if "fusion" in cands[final]:
            preset["fusion"] = cands[final]["fusion"]
        preset["min_scores"] = th
        preset["min_score"] = UNTUNED_MIN_SCORE
        preset["measured"] = {
            "frames": "KITTI object 000000-000029",
            "ap50_vehicle": round(100 * row["ap50"]["vehicle"], 1),
            "ap50_pedestrian": round(100 * row["ap50"]["pedestrian"], 1),
            "effort_saved": round(100 * row["effort"]["saved"], 1),
            "cpu_ms_per_frame": round(row["cpu_ms"]),
        }
        shipped.append(preset)
    report(rows)
    for r, p in zip(rows, shipped, strict=True):
        r["bdd_ap50"] = bdd_ap(p)
        if r["bdd_ap50"] is not None:
            cells = ", ".join(f"{c} {100 * v:.1f} ({r['bdd_ap50'][f'n_{c}']:.0f})" for c, v in r["bdd_ap50"].items()
                              if not c.startswith("n_") and v is not None)  # fmt: skip
            print(f"BDD100K AP50 {r['preset']}: {cells}")
    if args.write:
        Path(args.write).write_text(json.dumps({"schema": 1, "presets": shipped}, indent=2) + "\n")
        print(f"presets written to {args.write}")
    if args.speed:
        speed(rows)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2, default=str))


def nuscenes_gt() -> list[Any]:
    """2D boxes of the six camera images of the nuScenes keyframe in mmdet3d_demo (its info pickle)."""
    import pickle

    from prelabel.core.labels import Box2D, Frame, FrameRecord, Label

    folder = DATA / "nuscenes" / "mmdet3d_demo"
    with open(next(folder.glob("*.pkl")), "rb") as f:
        info = pickle.load(f)
    names = {v: k for k, v in info["metainfo"]["categories"].items()}
    out = []
    for sample in info["data_list"]:
        for cam, instances in sample["cam_instances"].items():
            stem = Path(sample["images"][cam]["img_path"]).stem
            labels = [
                Label(id=f"{stem}-{i}", category=names[int(inst["bbox_label"])], source="import:nuscenes",
                      box=Box2D(x1=float(inst["bbox"][0]), y1=float(inst["bbox"][1]), x2=float(inst["bbox"][2]),
                                y2=float(inst["bbox"][3])))
                for i, inst in enumerate(instances)
            ]  # fmt: skip
            out.append(FrameRecord(frame=Frame(id=stem, uri=f"{stem}.jpg"), labels=labels))
    return out


def bdd_ap(preset: dict[str, Any], dataset: str = "bdd") -> dict[str, float | None] | None:
    """AP50 per class of a shipped preset on the labelled BDD100K frames or nuScenes camera images (cached member
    runs), or None when a member's run is not cached."""
    from prelabel.quality.evaluate import EvalConfig, evaluate
    from prelabel.quality.inputs import load_records
    from prelabel.refine.fusion import fuse_records

    member_runs = []
    for m in preset["members"]:
        setting = setting_of(m)
        got = load_run(dataset, m["model"], setting, CACHE)
        if got is None:
            print(f"no cached {dataset} run of {m['model']} {setting}: run benchmarks.preset_runs --dataset {dataset}")
            return None
        member_runs.append(got[0])
    recs = member_runs[0] if len(member_runs) == 1 else fuse_records(member_runs, **preset.get("fusion", {}))
    recs = ontology([r.model_copy(update={"frame": r.frame.model_copy(update={"id": Path(r.frame.uri).stem})})
                     for r in recs])  # fmt: skip
    if dataset == "nuscenes":
        gt = nuscenes_gt()
    else:
        bdd = DATA / "bdd100k"
        gt = [g for f in sorted((bdd / "track" / "labels").glob("*.json")) for g in load_records(f, "scalabel")]
        gt += load_records(bdd / "detect" / "labels" / "annotation.json", "scalabel")
        gt = [g.model_copy(update={"frame": g.frame.model_copy(update={"id": Path(g.frame.id).stem})}) for g in gt]
    ids = {r.frame.id for r in recs}
    gt = [g for g in gt if g.frame.id in ids]
    classes = ("car", "truck", "bus", "pedestrian", "motorcycle", "bicycle")
    cfg = EvalConfig(classes=classes, class_map=lambda n: n if n in classes else None,
                     gt_class_map=lambda n: n if n in classes else None, inclusive_pixels=dataset == "bdd")  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = evaluate(recs, gt, cfg)
    return {c: res.ap(c, iou=0.5) if res.curves[c].n_gt else None for c in classes} | {
        f"n_{c}": float(res.curves[c].n_gt) for c in classes
    }


def ontology_thresholded(records: list[Any], th: dict[str, float]) -> list[Any]:
    return [r.model_copy(update={"labels": [lab for lab in r.labels if (lab.score or 0) >= th.get(lab.category,
            UNTUNED_MIN_SCORE)]}) for r in records]  # fmt: skip


def report(rows: list[dict[str, Any]]) -> None:
    print("\n| preset | chosen | CPU ms/frame | AP50 veh / ped | held-out AP50 veh / ped | AP50 as written "
          "veh / ped | effort saved (held-out) | thresholds |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for r in rows:

        def pair(d: dict[str, float]) -> str:
            return f"{100 * d['vehicle']:.1f} / {100 * d['pedestrian']:.1f}"

        th = ", ".join(f"{k} {v:.2f}" for k, v in r["thresholds"].items())
        saved = f"{100 * r['effort']['saved']:.0f} % ({100 * r['effort_held_out']['saved']:.0f} %)"
        print(f"| {r['preset']} | {r['chosen']} | {r['cpu_ms']:.0f} | {pair(r['ap50'])} | {pair(r['ap50_held_out'])} "
              f"| {pair(r['ap50_thresholded'])} | {saved} | {th} |")  # fmt: skip


def speed(rows: list[dict[str, Any]]) -> None:
    from prelabel.inference.predictor import Predictor
    from prelabel.sources.images import image_frames, load_image

    frames = image_frames(str(KITTI / "image_2"))[:10]
    images = [load_image(f) for f in frames]
    print("\n| preset | frames/s (2 threads) | CPU ms/frame | load average |\n|---|---:|---:|---:|")
    for r in rows:
        p = Predictor("unused", preset=r["preset"], threads=2)
        p.predict_image(frames[0], images[0])
        t0, c0 = time.perf_counter(), time.process_time()
        for f, im in zip(frames, images, strict=True):
            p.predict_image(f, im)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        r["fps"], r["load"] = len(frames) / wall, os.getloadavg()[0]
        print(f"| {r['preset']} | {r['fps']:.1f} | {1000 * cpu / len(frames):.0f} | {r['load']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
