"""What a review job is made from: the format is told from line 1, read once, with the rules of the formats' own
``sniff``, and a source that is neither says what line 1 holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prelabel import formats
from prelabel.core.labels import Box2D, Frame, FrameRecord, Label
from prelabel.errors import FormatError, InputNotFoundError
from prelabel.review.sources import detect_format, load_job_source

FRAME = {"frame": {"id": "a", "uri": "/x/a.png"}, "labels": []}
MANIFEST = {"source-ref": "s3://b/a.png"}


@pytest.mark.parametrize(
    ("name", "line1", "expected"),
    [
        ("a.jsonl", FRAME, "labels"),
        ("a.manifest", FRAME, "labels"),
        ("a.txt", FRAME, "labels"),
        ("a.manifest", MANIFEST, "groundtruth"),
        ("a.jsonl", MANIFEST, "groundtruth"),
        ("a", {**MANIFEST, **FRAME}, "groundtruth"),  # a source-ref wins, as in the formats' sniff
    ],
)
def test_line_1_gives_the_format_the_formats_sniff_gives(tmp_path: Path, name: str, line1: dict, expected: str) -> None:
    p = tmp_path / name
    p.write_text("\n" + json.dumps(line1) + "\n" + json.dumps(line1) + "\n")  # a blank line first is skipped
    assert detect_format(str(p)) == expected
    assert formats.sniff(str(p), among=("groundtruth", "labels")) == expected


def test_a_first_line_longer_than_sniff_reads_is_still_told(tmp_path: Path) -> None:
    """``formats.sniff`` reads the first MiB; line 1 is read whole, so a huge first record is still a labels file."""
    note = "x" * (1 << 20)  # a long free-text attribute: line 1 is over a MiB
    box = Box2D.from_xyxy([1, 1, 5, 5])
    car = Label(category="car", source="model:m@1", score=0.5, box=box, attributes={"n": note})
    rec = FrameRecord(frame=Frame(id="a", uri="/x/a.png", width=100, height=80), labels=[car])
    p = tmp_path / "big.txt"
    p.write_text(rec.to_json() + "\n")
    assert p.stat().st_size > 1 << 20
    assert detect_format(str(p)) == "labels"
    loaded = load_job_source(str(p))
    assert loaded.format == "labels" and loaded.records[0].labels[0].attributes["n"] == note


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('{"hello": 1, "world": 2}\n', "line 1 has neither 'frame' (a labels file) nor 'source-ref' (a Ground Truth "
         "manifest); got hello, world"),
        ("[1, 2]\n", "line 1 has neither 'frame' (a labels file) nor 'source-ref' (a Ground Truth manifest); got list"),
        ("not json\n", "not valid JSON"),
        ("\n\n", "empty file; expected a labels file or a Ground Truth manifest"),
    ],
)  # fmt: skip
def test_a_source_that_is_neither_says_what_line_1_holds(tmp_path: Path, text: str, error: str) -> None:
    for name in ("x.jsonl", "x.manifest"):  # whatever its name says
        p = tmp_path / name
        p.write_text(text)
        with pytest.raises(FormatError) as e:
            detect_format(str(p))
        assert error in str(e.value) and name in str(e.value)
        with pytest.raises(FormatError) as e2:
            load_job_source(str(p))
        assert str(e2.value) == str(e.value)
    with pytest.raises(InputNotFoundError, match="none.jsonl"):
        detect_format(str(tmp_path / "none.jsonl"))
