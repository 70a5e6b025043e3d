"""Tracking metrics: Scalabel's reference figures on its own 202-frame BDD sequence, and py-motmetrics agreeing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prelabel.core.labels import Box2D, Frame, FrameRecord, Label
from prelabel.quality.inputs import load_records
from prelabel.quality.mot import ClearAccumulator, MOTConfig, bdd_config, evaluate_tracking
from tests.conftest import SHARED_DATA
from tests.helpers.cli import prelabel

SCALABEL = SHARED_DATA / "scalabel_eval" / "eval" / "box_track"


@pytest.fixture(scope="module")
def track_sets(shared_data: Path) -> tuple[list[FrameRecord], list[FrameRecord]]:
    if not SCALABEL.is_dir():
        pytest.skip("scalabel_eval data not present")
    gts = load_records(SCALABEL / "track_sample_anns.json")
    preds = load_records(SCALABEL / "track_predictions.json")
    return preds, gts


def test_reproduces_scalabel_reference(track_sets: tuple[list[FrameRecord], list[FrameRecord]]) -> None:
    preds, gts = track_sets
    res = evaluate_tracking(preds, gts, bdd_config())
    s = res.summary()
    assert round(100 * float(s["MOTA"] or 0), 4) == 64.2007
    assert round(100 * float(s["IDF1"] or 0), 4) == 71.0107
    assert round(100 * float(s["MOTP"] or 0), 4) == 87.1614
    assert (s["FP"], s["FN"], s["IDSw"]) == (126, 942, 45)
    # per class and super-category rows exist; human = pedestrian + rider
    assert res.rows["human"]["FN"] == res.rows["pedestrian"]["FN"] + res.rows["rider"]["FN"]  # type: ignore[operator]
    assert 0.0 < float(s["HOTA"] or 0) < 1.0
    assert res.sequences == 1 and res.frames == 202


def test_ground_truth_scores_perfectly(track_sets: tuple[list[FrameRecord], list[FrameRecord]]) -> None:
    _, gts = track_sets
    s = evaluate_tracking(gts, gts, bdd_config()).summary()
    assert s["MOTA"] == 1.0 and s["IDF1"] == 1.0 and s["FP"] == 0 and s["FN"] == 0 and s["IDSw"] == 0
    assert s["HOTA"] == pytest.approx(1.0)


def test_accumulator_agrees_with_motmetrics() -> None:
    """Random frames with id churn: our events equal py-motmetrics 1.4's (its own update and metrics code)."""
    mm = pytest.importorskip("motmetrics")
    rng = np.random.default_rng(3)
    ours = ClearAccumulator()
    theirs = mm.MOTAccumulator(auto_id=True)
    for _ in range(60):
        oids = sorted(int(i) for i in rng.choice(8, size=rng.integers(0, 7), replace=False))
        hids = sorted(int(i) for i in rng.choice(10, size=rng.integers(0, 8), replace=False))
        d = rng.uniform(0, 1, size=(len(oids), len(hids)))
        d[d > 0.5] = np.nan
        ours.update([str(o) for o in oids], [str(h) for h in hids], d)
        theirs.update(oids, hids, d)
    mh = mm.metrics.create()
    m = mh.compute(
        theirs,
        metrics=[
            "num_switches",
            "num_false_positives",
            "num_misses",
            "idf1",
            "motp",
            "mota",
            "mostly_tracked",
            "mostly_lost",
            "num_fragmentations",
        ],
    ).iloc[0]
    assert ours.switches == m["num_switches"] and ours.fp == m["num_false_positives"]
    assert ours.misses == m["num_misses"]
    assert 2 * ours.idtp() / (ours.objects + ours.predictions) == pytest.approx(m["idf1"])
    assert ours.dist_sum / ours.detections == pytest.approx(m["motp"])
    mt, _, ml, fm = ours.track_states()
    assert (mt, ml, fm) == (m["mostly_tracked"], m["mostly_lost"], m["num_fragmentations"])


def _rec(fid: str, idx: int, boxes: list[tuple[str, str, tuple[float, float, float, float]]]) -> FrameRecord:
    labels = [
        Label(id=f"{fid}-{t}", category=c, source="import:test", box=Box2D.from_xyxy(b), track_id=t)
        for t, c, b in boxes
    ]
    return FrameRecord(frame=Frame(id=fid, uri=f"{fid}.jpg", sequence="s", index=idx), labels=labels)


def test_id_switch_and_plain_classes() -> None:
    gt = [_rec(f"f{i}", i, [("a", "car", (0, 0, 10, 10))]) for i in range(4)]
    pr = [_rec(f"f{i}", i, [("x" if i < 2 else "y", "car", (0, 0, 10, 10))]) for i in range(4)]
    s = evaluate_tracking(pr, gt, MOTConfig(inclusive_pixels=False)).summary()
    assert s["IDSw"] == 1 and s["FP"] == 0 and s["FN"] == 0
    assert s["MOTA"] == pytest.approx(0.75) and s["IDF1"] == pytest.approx(0.5)


@pytest.mark.usefixtures("shared_data")  # reads the shared data
def test_eval_track_cli(tmp_path: Path) -> None:
    import json

    if not SCALABEL.is_dir():
        pytest.skip("scalabel_eval data not present")
    out = tmp_path / "mot.json"
    r = prelabel(
        "eval",
        SCALABEL / "track_predictions.json",
        "--gt",
        SCALABEL / "track_sample_anns.json",
        "--track",
        "--json",
        out,
    )
    assert r.returncode == 0, r.stderr
    assert "MOTA 64.20  IDF1 71.01  MOTP 87.16" in r.stdout and "FP 126  FN 942  IDSw 45" in r.stdout
    data = json.loads(out.read_text())
    assert data["preset"] == "scalabel" and "human" in data["rows"]


def test_hota_agrees_with_trackeval() -> None:
    """Random frames: our HOTA, DetA and AssA equal TrackEval's own ``HOTA.eval_sequence``."""
    te = pytest.importorskip("trackeval.metrics")
    from prelabel.quality.hota import hota_sequence

    rng = np.random.default_rng(5)
    frames, gt_ids, tr_ids, sims = [], [], [], []
    for _ in range(40):
        o = sorted(int(x) for x in rng.choice(6, size=rng.integers(0, 5), replace=False))
        h = sorted(int(x) for x in rng.choice(8, size=rng.integers(0, 6), replace=False))
        s = rng.uniform(0, 1, size=(len(o), len(h)))
        s[s < 0.3] = 0
        frames.append(([str(x) for x in o], [str(x) for x in h], s))
        gt_ids.append(o)
        tr_ids.append(h)
        sims.append(s)
    gm = {v: i for i, v in enumerate(sorted({x for a in gt_ids for x in a}))}
    tm = {v: i for i, v in enumerate(sorted({x for a in tr_ids for x in a}))}
    data = {
        "num_tracker_dets": sum(map(len, tr_ids)),
        "num_gt_dets": sum(map(len, gt_ids)),
        "num_gt_ids": len(gm),
        "num_tracker_ids": len(tm),
        "gt_ids": [np.array([gm[x] for x in a], dtype=int) for a in gt_ids],
        "tracker_ids": [np.array([tm[x] for x in a], dtype=int) for a in tr_ids],
        "similarity_scores": sims,
    }
    theirs = te.HOTA().eval_sequence(data)
    ours = hota_sequence(frames)
    assert ours.hota() == pytest.approx(float(np.mean(theirs["HOTA"])))
    assert ours.deta() == pytest.approx(float(np.mean(theirs["DetA"])))
    assert ours.assa() == pytest.approx(float(np.mean(theirs["AssA"])))


@pytest.mark.usefixtures("shared_data")  # reads the shared data
def test_kitti_dontcare_is_an_ignore_region() -> None:
    kitti = SCALABEL.parents[2] / "kitti_tracking" / "tracking" / "training" / "label_02" / "0001.txt"
    if not kitti.is_file():
        pytest.skip("kitti_tracking data not present")
    gts = load_records(kitti, "kitti")
    res = evaluate_tracking(gts, gts, MOTConfig(inclusive_pixels=False))
    assert "DontCare" not in res.classes and res.summary()["MOTA"] == 1.0 and res.summary()["GT"] == 3030
