"""Frames put in sequence order: from fields, Scalabel meta, names; clear errors for frames with no order."""

from __future__ import annotations

import pytest

from prelabel.core.labels import Frame, FrameRecord
from prelabel.core.sequences import SequenceError, group_sequences, place


def _rec(fid: str, **kw: object) -> FrameRecord:
    return FrameRecord(frame=Frame(id=fid, uri=f"/data/drive_7/{fid}.png", **kw))  # type: ignore[arg-type]


def test_places_from_fields_meta_and_names() -> None:
    assert place(_rec("a", sequence="s", index=3).frame)[:2] == ("s", 3)
    assert place(_rec("x", meta={"videoName": "v", "frameIndex": 5}).frame)[:2] == ("v", 5)
    assert place(_rec("b1c66a42-6f7d68ca-0000012").frame)[:2] == ("b1c66a42-6f7d68ca", 12)
    assert place(_rec("000042").frame)[:2] == ("drive_7", 42)


def test_groups_split_and_sort() -> None:
    recs = [_rec("v1-000003"), _rec("v2-000001"), _rec("v1-000001"), _rec("v1-000002")]
    groups = group_sequences(recs)
    assert [r.frame.id for r in groups["v1"]] == ["v1-000001", "v1-000002", "v1-000003"]
    assert [r.frame.id for r in groups["v2"]] == ["v2-000001"]
    by_time = group_sequences([_rec("b", sequence="s", timestamp_ns=20), _rec("a", sequence="s", timestamp_ns=10)])
    assert [r.frame.id for r in by_time["s"]] == ["a", "b"]


def test_errors_name_the_frames() -> None:
    with pytest.raises(SequenceError, match=r"frames \['front'\] have no order"):
        group_sequences([_rec("front")])
    with pytest.raises(SequenceError, match="frames a and b share frame index 1"):
        group_sequences([_rec("a", sequence="s", index=1), _rec("b", sequence="s", index=1)])
