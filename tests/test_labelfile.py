"""Labels files hold complete records only, even after a crash mid-write."""

from __future__ import annotations

from pathlib import Path

import pytest

from prelabel.core import Box2D, Frame, FrameRecord, Label
from prelabel.errors import FormatError, InputNotFoundError
from prelabel.labelfile import LabelWriter, read_records, write_records


def _rec(i: int) -> FrameRecord:
    return FrameRecord(
        frame=Frame(id=f"{i:06d}", uri=f"/frames/{i:06d}.png"),
        labels=[Label(category="car", source="model:m@1", score=0.5, box=Box2D(x1=0, y1=0, x2=i + 1, y2=2))],
    )


def test_writer_appends_and_reader_streams(tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    with LabelWriter(path) as w:
        w.write_all(_rec(i) for i in range(5))
    assert [r.frame.id for r in read_records(path)] == [f"{i:06d}" for i in range(5)]


def test_torn_tail_is_skipped_then_cut_on_append(tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    with LabelWriter(path) as w:
        w.write_all(_rec(i) for i in range(3))
    full = path.read_bytes()
    half = _rec(3).to_json()[:40]
    path.write_bytes(full + half.encode())  # what kill -9 mid-write leaves
    with pytest.warns(UserWarning, match="torn final line"):
        assert len(read_records(path)) == 3
    with pytest.warns(UserWarning, match="dropped a torn final line"), LabelWriter(path, append=True) as w:
        w.write(_rec(4))
    assert [r.frame.id for r in read_records(path)] == ["000000", "000001", "000002", "000004"]


def test_malformed_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "labels.jsonl"
    write_records(path, [_rec(0)])
    with open(path, "a") as f:
        f.write('{"frame": {"id": "x"}}\n')
    with pytest.raises(FormatError, match="line 2 is not a valid frame record"):
        read_records(path)
    with pytest.warns(UserWarning, match="line 2"):
        assert len(read_records(path, strict=False)) == 1


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError, match="labels file not found: .*nope.jsonl"):
        read_records(tmp_path / "nope.jsonl")
