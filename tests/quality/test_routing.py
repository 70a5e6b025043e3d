"""Calibration, routing and the active-learning round: known answers on small tables, then real SSD outputs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from prelabel.core.labels import Box2D, Frame, FrameRecord, Label, ReviewState
from prelabel.errors import FormatError, PrelabelError
from prelabel.quality.active import active_round, simulate
from prelabel.quality.calibration import (
    Sample,
    Thresholds,
    calibrate,
    is_review_answer_set,
    samples_from_ground_truth,
    samples_from_review,
)
from prelabel.quality.evaluate import kitti_config
from prelabel.quality.routing import route


def _samples(rows: list[tuple[float, bool]], cat: str = "car") -> list[Sample]:
    return [Sample("f", f"l{i}", cat, s, ok) for i, (s, ok) in enumerate(rows)]


def test_threshold_is_the_lowest_score_that_keeps_the_target() -> None:
    rows = [(0.9, True), (0.8, True), (0.7, False), (0.6, True), (0.5, False)]
    th = calibrate(_samples(rows), target_precision=0.75, min_support=1)
    c = th.classes["car"]
    # precision going down the list: 1, 1, 2/3, 3/4, 3/5 -> the cut at 0.6 is the lowest one that keeps 0.75
    assert (c.threshold, c.precision, c.recall, c.support, c.verified, c.correct) == (0.6, 0.75, 1.0, 4, 5, 3)
    strict = calibrate(_samples(rows), target_precision=0.95, min_support=1).classes["car"]
    assert strict.threshold == 0.8 and strict.recall == pytest.approx(2 / 3)
    # too few labels above any workable cut: no threshold, the class always goes to people
    assert calibrate(_samples(rows), target_precision=0.95, min_support=3).classes["car"].threshold is None


def test_cut_never_splits_tied_scores() -> None:
    th = calibrate(_samples([(0.9, True), (0.9, False), (0.2, False)]), target_precision=1.0, min_support=1)
    assert th.classes["car"].threshold is None


@pytest.mark.parametrize(("target", "support"), [(0.0, 10), (1.5, 10), (0.9, 0)])
def test_bad_calibration_arguments(target: float, support: int) -> None:
    with pytest.raises(PrelabelError):
        calibrate([], target_precision=target, min_support=support)


def _lab(
    lid: str,
    cat: str,
    box: tuple[float, float, float, float],
    score: float | None,
    review: ReviewState = ReviewState.PENDING,
) -> Label:
    return Label(
        id=lid,
        category=cat,
        source="model:m@1" if score is not None else "human:ann",
        score=score,
        box=Box2D.from_xyxy(box),
        review=review,
    )


def _frame(fid: str, labels: list[Label]) -> FrameRecord:
    return FrameRecord(frame=Frame(id=fid, uri=f"/x/{fid}.png"), labels=labels)


def test_review_answers_give_verdicts() -> None:
    preds = [
        _frame(
            "f",
            [
                _lab("a", "car", (0, 0, 10, 10), 0.9),
                _lab("b", "car", (0, 0, 10, 10), 0.8),
                _lab("c", "car", (0, 0, 10, 10), 0.7),
                _lab("d", "car", (0, 0, 10, 10), 0.6),
                _lab("e", "car", (0, 0, 10, 10), 0.5),
            ],
        )
    ]
    answers = [
        _frame(
            "f",
            [
                _lab("a", "car", (0, 0, 10, 10), 0.9, ReviewState.ACCEPTED),
                _lab("b", "car", (0, 0, 10, 10), 0.8, ReviewState.REJECTED),
                _lab("c", "car", (0, 0, 10, 11), 0.7, ReviewState.ADJUSTED),  # nudged: still right
                _lab("d", "car", (30, 30, 50, 50), 0.6, ReviewState.ADJUSTED),  # moved far: was wrong
                _lab("e", "car", (0, 0, 10, 10), 0.5, ReviewState.PENDING),  # not verified
            ],
        )
    ]
    assert is_review_answer_set(preds, answers)
    verdicts = {s.label_id: s.correct for s in samples_from_review(preds, answers)}
    assert verdicts == {"a": True, "b": False, "c": True, "d": False}


def test_route_splits_labels_and_counts_people_work() -> None:
    th = Thresholds(0.95, 0.5, 1)
    th.classes.update(
        calibrate(_samples([(0.9, True), (0.8, True), (0.3, False)]), target_precision=0.95, min_support=1).classes
    )
    recs = [
        _frame("all-auto", [_lab("1", "car", (0, 0, 10, 10), 0.95)]),
        _frame(
            "mixed",
            [
                _lab("2", "car", (0, 0, 10, 10), 0.85),
                _lab("3", "car", (0, 0, 10, 10), 0.5),
                _lab("4", "bus", (0, 0, 10, 10), 0.99),
                _lab("5", "car", (0, 0, 10, 10), 0.01),
            ],
        ),
        FrameRecord(frame=Frame(id="broken", uri="/x/b.png"), status="failed", error="cannot decode"),
    ]
    res = route(recs, th, drop_below=0.05)
    assert res.frames == 3 and res.frames_to_people == 2 and res.failed_frames == 1
    assert (res.per_class["car"].auto, res.per_class["car"].review) == (2, 1)
    assert res.per_class["bus"].review == 1  # never calibrated: people check it
    assert res.labels_auto == 2 and res.labels_to_people == 2  # the 0.01 car was dropped
    acc = {r.frame.id: r for r in res.accepted}
    assert [lab.id for lab in acc["mixed"].labels] == ["2"]
    assert acc["mixed"].labels[0].attributes["route"] == "auto"
    assert {r.frame.id for r in res.review} == {"mixed", "broken"}
    assert res.expected_precision == pytest.approx(1.0)


def test_thresholds_file_round_trip(tmp_path: Path) -> None:
    th = calibrate(_samples([(0.9, True), (0.8, True)]), min_support=1)
    th.save(tmp_path / "t.json")
    assert Thresholds.load(tmp_path / "t.json") == th
    (tmp_path / "bad.json").write_text('{"classes": 3}')
    with pytest.raises(FormatError, match="bad.json"):
        Thresholds.load(tmp_path / "bad.json")


def test_calibrate_on_half_of_kitti_holds_on_the_other_half(ssd_kitti, kitti_gt) -> None:  # type: ignore[no-untyped-def]
    cfg = kitti_config()
    first, second = kitti_gt[:15], kitti_gt[15:]
    th = calibrate(samples_from_ground_truth(ssd_kitti, first, cfg), target_precision=0.9, min_support=5)
    car = th.classes["car"]
    assert car.threshold is not None and car.precision is not None and car.precision >= 0.9
    held_out = [r for r in ssd_kitti if r.frame.id in {g.frame.id for g in second}]
    res = route(held_out, th)
    checks = samples_from_ground_truth(res.accepted, second, cfg)
    assert checks, "some cars were auto-accepted on the held-out half"
    measured = sum(c.correct for c in checks) / len(checks)
    assert measured >= 0.75, f"auto-accepted precision on unseen frames {measured:.2f}"


def test_active_rounds_with_ground_truth_as_people(ssd_kitti, kitti_gt) -> None:  # type: ignore[no-untyped-def]
    # every frame its own scene (random 256-bit hashes differ in about half their bits)
    hashes = {r.frame.id: int.from_bytes(hashlib.sha256(r.frame.id.encode()).digest()) for r in ssd_kitti}

    def hasher(f: Frame) -> int:
        return hashes[f.id]

    stats = simulate(
        ssd_kitti,
        kitti_gt,
        initial=6,
        batch_size=6,
        rounds=3,
        eval_config=kitti_config(),
        hasher=hasher,
        target_precision=0.9,
        min_support=5,
        drop_below=0.3,
    )
    assert [s.human_frames for s in stats] == [6, 12, 18]
    for s in stats:
        assert s.human_frames + s.waiting_frames + s.auto_frames == 30
        assert len(s.next_batch) == 6
    assert any(t is not None for t in stats[-1].thresholds.values())
    # one round by hand: frames people answered are not routed again, the batch comes from the waiting ones
    human = [g for g in kitti_gt if g.frame.id in {"000000", "000001", "000002"}]
    rd = active_round(ssd_kitti, human, batch_size=4, eval_config=kitti_config(), hasher=hasher, min_support=3)
    assert rd.routing.frames == 27 and not set(rd.next_batch) & {"000000", "000001", "000002"}
    assert set(rd.next_batch) <= {r.frame.id for r in rd.routing.review}


def test_review_export_round_skips_only_answered_frames() -> None:
    """A review export holds every frame of the job; frames nobody answered yet (all pending) are routed again."""
    preds = [
        _frame(f"f{i}", [_lab(f"l{i}{j}", "car", (0, 0, 10, 10), 0.5 + 0.04 * j) for j in range(10)]) for i in range(4)
    ]
    answers = [
        _frame(
            r.frame.id,
            [
                lab.model_copy(update={"review": ReviewState.ACCEPTED if i < 2 else ReviewState.PENDING})
                for lab in r.labels
            ],
        )
        for i, r in enumerate(preds)
    ]
    rd = active_round(preds, answers, batch_size=1, min_support=5, hasher=lambda f: hash(f.id) % (1 << 64))
    assert rd.human_frames == ["f0", "f1"] and rd.routing.frames == 2
    assert rd.thresholds.classes["car"].threshold == 0.5  # every verified label was right
