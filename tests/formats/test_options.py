"""Format options carry their types: a value of the wrong type or outside the choices is a clear error that names
the format, the option, what it expects and what it got; command-line text is read as the option's type."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import pytest
from typer.testing import CliRunner

from prelabel import formats
from prelabel.core.labels import Box2D, Frame, FrameRecord, Label
from prelabel.formats.options import Option, OptionText, OptionValueError, UnknownOptionError, checked, options_of


def _fn(
    *,
    depth: int = 3,
    ratio: float = 1.0,
    flag: bool = False,
    name: str = "x",
    maybe: str | None = None,
    task: Literal["detect", "segment"] = "detect",
    classes: Sequence[str] | None = None,
    size: tuple[int, int] | None = None,
) -> None:
    return None


OPTS = options_of(_fn)


def test_declared_options_carry_their_types_and_choices() -> None:
    assert OPTS["depth"].expected == "int"
    assert OPTS["maybe"].expected == "str or None"
    assert OPTS["task"].choices == ("detect", "segment")
    assert OPTS["task"].expected == "one of 'detect', 'segment'"
    assert OPTS["classes"].expected == "a list of str or None"
    assert OPTS["size"].expected == "[int, int] or None"
    assert str(OPTS["task"]) == "task: one of 'detect', 'segment' = 'detect'"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("depth", 3),
        ("ratio", 2),
        ("ratio", 0.5),
        ("flag", True),
        ("maybe", None),
        ("maybe", "a"),
        ("task", "segment"),
        ("classes", ["car", "person"]),
        ("classes", ("car",)),
        ("size", [640, 480]),
        ("size", (640, 480)),
    ],
)
def test_values_of_the_declared_type_pass_unchanged(name: str, value: object) -> None:
    assert checked(OPTS, "demo writer", {name: value}) == {name: value}


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("depth", "3", "int"),
        ("depth", True, "int"),  # a flag is not a number
        ("depth", 2.5, "int"),
        ("flag", 1, "bool"),
        ("name", 5, "str"),
        ("task", "classify", "one of 'detect', 'segment'"),
        ("classes", "car", "a list of str or None"),  # a string is not a list of names
        ("classes", ["car", 3], "a list of str or None"),
        ("size", [640], "[int, int] or None"),
    ],
)
def test_a_value_of_the_wrong_type_names_format_option_expected_and_got(
    name: str, value: object, expected: str
) -> None:
    with pytest.raises(OptionValueError) as e:
        checked(OPTS, "demo writer", {name: value})
    assert str(e.value) == (
        f"the demo writer option {name!r} expects {expected}; got {value!r} ({type(value).__name__})"
    )


def test_an_unknown_option_is_still_refused_first() -> None:
    with pytest.raises(UnknownOptionError, match=r"does not take option\(s\) \['colour'\]"):
        checked(OPTS, "demo writer", {"colour": "red", "depth": "x"})


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("depth", "4", 4),
        ("flag", "true", True),
        ("name", "2024", "2024"),  # a str option keeps the text even when it reads as JSON
        ("name", "hello", "hello"),
        ("classes", '["a", "b"]', ["a", "b"]),
        ("size", "[1280, 720]", [1280, 720]),
        ("task", "segment", "segment"),
    ],
)
def test_command_line_text_is_read_as_the_option_type(name: str, text: str, value: object) -> None:
    assert checked(OPTS, "demo writer", {name: OptionText(text)}) == {name: value}


def test_command_line_text_that_does_not_fit_is_an_error_with_the_text() -> None:
    with pytest.raises(OptionValueError, match=r"option 'depth' expects int; got 'deep' \(str\)"):
        checked(OPTS, "demo writer", {"depth": OptionText("deep")})


def test_an_annotation_that_does_not_resolve_is_not_checked() -> None:
    opt = Option("x", "SomePluginType", None)
    assert opt.convert(object, "plugin writer") is object
    assert opt.convert(OptionText("[1]"), "plugin writer") == [1]


def _records() -> list[FrameRecord]:
    frame = Frame(id="f1", uri="f1.jpg", width=100, height=80)
    label = Label(id="a", category="car", source="model:det@1", box=Box2D(x1=1, y1=2, x2=30, y2=40))
    return [FrameRecord(frame=frame, labels=[label])]


def test_a_built_in_writer_refuses_a_value_outside_its_choices(tmp_path: Path) -> None:
    with pytest.raises(OptionValueError, match=r"the yolo writer option 'task' expects one of 'detect', 'segment'"):
        formats.get("yolo").write(_records(), str(tmp_path / "out"), task="classify")
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_a_built_in_reader_refuses_a_value_of_the_wrong_type(tmp_path: Path) -> None:
    src = tmp_path / "labels.jsonl"
    formats.get("labels").write(_records(), str(src))
    with pytest.raises(OptionValueError, match=r"the labels reader option 'strict' expects bool; got 'yes' \(str\)"):
        formats.get("labels").read(str(src), strict="yes")


def test_convert_reads_opt_text_as_the_writer_option_type(tmp_path: Path) -> None:
    from prelabel.cli.main import app

    src = tmp_path / "labels.jsonl"
    formats.get("labels").write(_records(), str(src))
    runner = CliRunner()
    out = tmp_path / "gt.manifest"
    r = runner.invoke(
        app,
        ["convert", str(src), str(out), "--from", "labels", "--to", "groundtruth", "--opt", "job_name=2024",
         "--opt", "depth=1"],
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    line = json.loads(out.read_text().splitlines()[0])
    assert line["prelabel-boxes-metadata"]["job-name"] == "labeling-job/2024"
    assert line["prelabel-boxes"]["image_size"][0]["depth"] == 1
    r = runner.invoke(
        app, ["convert", str(src), str(tmp_path / "g2.manifest"), "--from", "labels", "--to", "groundtruth",
              "--opt", "depth=deep"],
    )  # fmt: skip
    assert r.exit_code == 2
    assert "the groundtruth writer option 'depth' expects int; got 'deep' (str)" in r.output
