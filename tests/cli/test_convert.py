"""The convert/export/formats commands, end to end on real data."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from prelabel.cli.main import app
from prelabel.formats import coco, groundtruth, native, yolo
from prelabel.formats import kitti as kitti_fmt

runner = CliRunner()


def test_convert_real_kitti_to_coco_and_yolo(kitti: Path, tmp_path: Path) -> None:
    out = tmp_path / "kitti.json"
    r = runner.invoke(app, ["convert", "--from", "kitti", "--to", "coco", str(kitti), str(out)])
    assert r.exit_code == 0, r.output
    assert "wrote 30 frames" in r.output
    data = json.loads(out.read_text())
    lines = sum(len([ln for ln in p.read_text().splitlines() if ln.strip()]) for p in (kitti / "label_2").glob("*.txt"))
    assert len(data["images"]) == 30 and len(data["annotations"]) == lines
    r = runner.invoke(
        app,
        [
            "convert",
            "-f",
            "coco",
            "-t",
            "yolo",
            str(out),
            str(tmp_path / "yolo"),
            "--categories",
            "Car,Pedestrian,Cyclist",
        ],
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "yolo" / "classes.txt").read_text() == "Car\nPedestrian\nCyclist\n"
    back = list(yolo.read(str(tmp_path / "yolo" / "000001.txt"), image_size=(1242, 375)))
    want = [
        lb
        for lb in next(kitti_fmt.read(str(kitti / "label_2" / "000001.txt"))).labels
        if lb.category in ("Car", "Pedestrian", "Cyclist")
    ]
    assert sorted(lb.category for lb in back[0].labels) == sorted(lb.category for lb in want)


def test_convert_with_class_map_and_export_to_groundtruth_job(shared_data: Path, tmp_path: Path) -> None:
    preds = shared_data / "scalabel_eval" / "eval" / "det" / "bbox_predictions.json"
    labels = tmp_path / "labels.jsonl"
    r = runner.invoke(
        app,
        [
            "convert",
            "--from",
            "bdd",
            "--to",
            "labels",
            str(preds),
            str(labels),
            "--image-size",
            "1280x720",
            "--class-map",
            "merge-vehicles",
        ],
    )
    assert r.exit_code == 0, r.output
    recs = list(native.read(str(labels)))
    cats = {lb.category for rec in recs for lb in rec.labels}
    assert "vehicle" in cats and not cats & {"car", "truck", "bus"}
    r = runner.invoke(
        app,
        [
            "export",
            str(labels),
            "--to",
            "groundtruth",
            "-o",
            str(tmp_path / "job"),
            "--min-score",
            "0.5",
            "--opt",
            "attribute=bdd-boxes",
            "--opt",
            "job_name=bdd-adjust",
        ],
    )
    assert r.exit_code == 0, r.output
    job = tmp_path / "job"
    assert {p.name for p in job.iterdir()} == {"input.manifest", "label-categories.json", "template.liquid.html"}
    first = json.loads((job / "input.manifest").read_text().splitlines()[0])
    assert first["bdd-boxes-metadata"]["job-name"] == "labeling-job/bdd-adjust"
    assert min(o["confidence"] for o in first["bdd-boxes-metadata"]["objects"]) >= 0.5
    back = list(groundtruth.read(str(job / "input.manifest")))
    assert len(back) == 202 and back[0].frame.id == recs[0].frame.id
    # COCO results file with scores from the same labels
    r = runner.invoke(
        app, ["export", str(labels), "--to", "coco", "-o", str(tmp_path / "res.json"), "--opt", "results=true"]
    )
    assert r.exit_code == 0, r.output
    rows = json.loads((tmp_path / "res.json").read_text())
    assert len(rows) == sum(len(rec.labels) for rec in recs) and all("score" in row for row in rows)
    assert list(coco.read(str(tmp_path / "res.json")))  # readable back


def test_bad_names_and_options_give_one_line_errors(tmp_path: Path, kitti: Path) -> None:
    r = runner.invoke(app, ["convert", "--from", "kiti", "--to", "coco", str(kitti), str(tmp_path / "x.json")])
    assert r.exit_code == 2 and "unknown label format 'kiti'; expected one of: av2, coco, cvat" in r.output
    r = runner.invoke(
        app, ["convert", "--from", "kitti", "--to", "coco", str(kitti), str(tmp_path / "x.json"), "--class-map", "nope"]
    )
    assert r.exit_code == 2 and "unknown class map 'nope'" in r.output
    r = runner.invoke(
        app, ["convert", "--from", "kitti", "--to", "voc", str(kitti), str(tmp_path / "v"), "--opt", "colour=red"]
    )
    assert r.exit_code == 2 and "the voc writer does not take option(s) ['colour']" in r.output
    r = runner.invoke(
        app, ["convert", "-f", "kitti", "-t", "coco", str(kitti), str(tmp_path / "t.json"), "--task", "x"]
    )
    assert r.exit_code == 2 and "the coco writer has no task" in r.output
    (tmp_path / "exists.json").write_text("{}")
    r = runner.invoke(app, ["convert", "--from", "kitti", "--to", "coco", str(kitti), str(tmp_path / "exists.json")])
    assert r.exit_code == 2 and "already exists" in r.output
    assert (tmp_path / "exists.json").read_text() == "{}"


def test_formats_lists_formats_and_class_maps() -> None:
    r = runner.invoke(app, ["formats"])
    assert r.exit_code == 0 and "groundtruth" in r.output and "coco80-to-kitti" in r.output
