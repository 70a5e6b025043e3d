"""The quality commands end to end through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

from prelabel.labelfile import read_records
from tests.helpers.cli import prelabel


def test_eval_scalabel_reference(shared_data: Path, tmp_path: Path) -> None:
    root = shared_data / "scalabel_eval" / "eval"
    out = tmp_path / "eval.json"
    r = prelabel(
        "eval",
        root / "det" / "bbox_predictions.json",
        "--gt",
        root / "box_track" / "track_sample_anns.json",
        "--json",
        out,
        "--plots",
        tmp_path / "plots",
    )
    assert r.returncode == 0, r.stderr
    assert "AP 34.03  AP50 55.32  AP75 34.94" in r.stdout
    data = json.loads(out.read_text())
    assert data["preset"] == "scalabel" and round(100 * data["summary"]["AP"], 2) == 34.03
    png = (tmp_path / "plots" / "pr_iou50.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 5000


def test_eval_kitti_maps_coco_classes(ssd_kitti_file: Path, kitti: Path, tmp_path: Path) -> None:
    out = tmp_path / "k.json"
    r = prelabel("eval", ssd_kitti_file, "--gt", kitti, "--json", out)
    assert r.returncode == 0, r.stderr
    data = json.loads(out.read_text())
    assert data["preset"] == "kitti"
    rows = {row["class"]: row for row in data["classes"]}
    assert set(rows) == {"Car", "Pedestrian", "Cyclist"}
    assert rows["Car"]["gt"] > 30 and rows["Car"]["AP50"] > 0.3  # the SSD finds the larger cars


def test_eval_bad_inputs(tmp_path: Path, kitti: Path) -> None:
    r = prelabel("eval", tmp_path / "nope.jsonl", "--gt", kitti)
    assert r.returncode == 2 and "not found" in r.stderr and "nope.jsonl" in r.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json}\n")
    r = prelabel("eval", bad, "--gt", kitti)
    assert r.returncode == 2 and "line 1" in r.stderr
    r = prelabel("eval", bad, "--gt", kitti, "--preset", "pascal")
    assert r.returncode == 2


def test_eval_refuses_frames_that_do_not_pair(ssd_kitti_file: Path, shared_data: Path) -> None:
    gt = shared_data / "scalabel_eval" / "eval" / "box_track" / "track_sample_anns.json"
    r = prelabel("eval", ssd_kitti_file, "--gt", gt)
    assert r.returncode == 2 and "none of the 30 predicted frames pairs" in r.stderr


def test_fuse_cli(ssd_kitti_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "fused.jsonl"
    r = prelabel(
        "fuse", ssd_kitti_file, ssd_kitti_file, "-o", out, "--method", "vote", "--weights", "1,2", "--names", "ssd,ssd2"
    )
    assert r.returncode == 0, r.stderr
    fused = read_records(out)
    assert len(fused) == 30
    assert all(lab.attributes["fused_from"] == ["ssd", "ssd2"] for rec in fused for lab in rec.labels)
    again = prelabel("fuse", ssd_kitti_file, ssd_kitti_file, "-o", out)
    assert again.returncode == 2 and "already exists" in again.stderr
    r = prelabel("fuse", ssd_kitti_file, ssd_kitti_file, "-o", tmp_path / "x.jsonl", "--weights", "1")
    assert r.returncode == 2 and "2 label sets" in r.stderr


def test_fuse_cli_in_a_teams_ontology(ssd_kitti_file: Path, tmp_path: Path) -> None:
    """--class-map takes the label-time ontology's names (kitti = coco80-to-kitti); --classes keeps only those."""
    out = tmp_path / "kitti.jsonl"
    r = prelabel("fuse", ssd_kitti_file, ssd_kitti_file, "-o", out, "--class-map", "kitti", "--classes", "Car,Van")
    assert r.returncode == 0, r.stderr
    assert "note: no Van in the fused labels" in r.stdout
    fused = read_records(out)
    cats = [lab.category for rec in fused for lab in rec.labels]
    assert len(cats) > 30 and set(cats) == {"Car"}
    everything = tmp_path / "all.jsonl"
    assert prelabel("fuse", ssd_kitti_file, ssd_kitti_file, "-o", everything, "--class-map", "kitti").returncode == 0
    assert cats == [lab.category for rec in read_records(everything) for lab in rec.labels if lab.category == "Car"]
    bad = prelabel("fuse", ssd_kitti_file, ssd_kitti_file, "-o", tmp_path / "x.jsonl", "--class-map", "kitty")
    assert bad.returncode == 2 and "unknown" in bad.stderr and "kitty" in bad.stderr


def test_calibrate_route_select_report(ssd_kitti_file: Path, kitti: Path, kitti_gt, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from prelabel.labelfile import write_records

    th = tmp_path / "th.json"
    r = prelabel(
        "calibrate", ssd_kitti_file, "--verified", kitti, "-o", th, "--target-precision", "0.9", "--min-support", "5"
    )
    assert r.returncode == 0, r.stderr
    data = json.loads(th.read_text())
    assert data["classes"]["car"]["threshold"] is not None and data["classes"]["car"]["precision"] >= 0.9

    r = prelabel(
        "route", ssd_kitti_file, "--thresholds", th, "-o", tmp_path / "r1", "--drop-below", "0.3", "--next-batch", "4"
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "r1" / "route.json").read_text())
    auto, review = read_records(tmp_path / "r1" / "auto.jsonl"), read_records(tmp_path / "r1" / "review.jsonl")
    assert len(auto) == 30 and summary["frames_to_people"] == len(review)
    assert summary["labels_auto"] == sum(len(x.labels) for x in auto) > 0
    assert len((tmp_path / "r1" / "next_batch.txt").read_text().split()) == 4
    assert "expected precision" in r.stdout
    assert (tmp_path / "r1" / "report.html").read_text().count("data:image/png;base64,") == 3

    # an active-learning round: people answered 10 frames (ground truth stands in); recalibrate, route the rest
    answers = tmp_path / "answers.jsonl"
    write_records(answers, kitti_gt[:10])
    r = prelabel(
        "route",
        ssd_kitti_file,
        "--verified",
        answers,
        "--preset",
        "kitti",
        "-o",
        tmp_path / "r2",
        "--min-support",
        "3",
        "--target-precision",
        "0.9",
    )
    assert r.returncode == 0, r.stderr
    s2 = json.loads((tmp_path / "r2" / "route.json").read_text())
    assert s2["human_frames"] == 10 and s2["frames"] == 20
    assert (tmp_path / "r2" / "thresholds.json").exists()
    # answers for other frames altogether: a clear refusal, not thresholds made of nothing
    other = kitti.parents[1] / "scalabel_eval" / "eval" / "box_track" / "track_sample_anns.json"
    r = prelabel("calibrate", ssd_kitti_file, "--verified", other, "-o", tmp_path / "x.json")
    assert r.returncode == 2 and "could be checked" in r.stderr
    again = prelabel("route", ssd_kitti_file, "--thresholds", th, "-o", tmp_path / "r1")
    assert again.returncode == 2 and "already exists" in again.stderr

    r = prelabel("select", ssd_kitti_file, "--budget", "5", "-o", tmp_path / "sel.txt")
    assert r.returncode == 0, r.stderr
    rows = [ln.split("\t") for ln in (tmp_path / "sel.txt").read_text().splitlines()]
    assert len(rows) == 5 and all(Path(uri).exists() for _fid, uri in rows)

    r = prelabel("report", ssd_kitti_file, "--gt", kitti, "--thresholds", th, "-o", tmp_path / "report.html")
    assert r.returncode == 0, r.stderr
    page = (tmp_path / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 5  # counts, histogram, PR at .5 and .75, routed fractions
    for heading in ("Labels", "Evaluation against ground truth", "Routing"):
        assert f"<h2>{heading}</h2>" in page
