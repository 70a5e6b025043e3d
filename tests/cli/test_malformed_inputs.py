"""Malformed inputs end in one line naming the file (and line) and what was wrong, exit code 2, no traceback.

Each bad file is made from a real one (the golden Ground Truth manifest) with one thing broken."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from prelabel.cli.main import app

GOLDEN = Path(__file__).parents[1] / "formats" / "golden" / "groundtruth" / "input.manifest"
runner = CliRunner()


def _one_line_error(args: list[str], *expect: str) -> str:
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    assert isinstance(r.exception, SystemExit)  # handled, not escaped
    lines = [ln for ln in r.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, r.output
    for e in expect:
        assert e in lines[0], lines[0]
    return lines[0]


def _first_line() -> dict:
    return json.loads(GOLDEN.read_text(encoding="utf-8").splitlines()[0])


def _manifest(tmp_path: Path, lines: list[str], name: str = "bad.manifest") -> Path:
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def _convert(src: Path, tmp_path: Path) -> list[str]:
    return ["convert", "--from", "groundtruth", "--to", "coco", str(src), str(tmp_path / "out.json")]


def _create_job(src: Path, tmp_path: Path) -> list[str]:
    return ["review", "create-job", "j1", str(src), "--state", str(tmp_path / "state")]


def test_binary_manifest(tmp_path: Path) -> None:
    good = GOLDEN.read_bytes().splitlines()[0]
    p = tmp_path / "binary.manifest"
    p.write_bytes(good + b"\n" + b"\x89PNG\r\n\x1a\n\xff\xfe\x00garbage\n")
    _one_line_error(_convert(p, tmp_path), f"{p}:2", "not UTF-8")


def test_deeply_nested_json(tmp_path: Path) -> None:
    p = _manifest(tmp_path, ["[" * 40_000 + "]" * 40_000])
    _one_line_error(_create_job(p, tmp_path), str(p), "nested too deeply")
    _one_line_error(_convert(p, tmp_path), f"{p}:1", "nested too deeply")


@pytest.mark.parametrize("make", ["convert", "create-job"])
def test_infinity_coordinate(tmp_path: Path, make: str) -> None:
    text = json.dumps(_first_line()).replace('"left": 10', '"left": Infinity', 1)
    assert "Infinity" in text
    p = _manifest(tmp_path, [text])
    args = _convert(p, tmp_path) if make == "convert" else _create_job(p, tmp_path)
    _one_line_error(args, f"{p}:1", "Infinity")


@pytest.mark.parametrize("make", ["convert", "create-job"])
def test_string_where_the_prelabel_object_belongs(tmp_path: Path, make: str) -> None:
    line = _first_line()
    line["prelabel"] = "not an object"
    p = _manifest(tmp_path, [json.dumps(line)])
    args = _convert(p, tmp_path) if make == "convert" else _create_job(p, tmp_path)
    _one_line_error(args, f"{p}:1", "'prelabel' must be an object")


def test_label_attribute_without_metadata_is_an_error(tmp_path: Path) -> None:
    line = _first_line()
    del line["prelabel-boxes-metadata"]
    p = _manifest(tmp_path, [json.dumps(line)])
    _one_line_error(_convert(p, tmp_path), f"{p}:1", "'prelabel-boxes'", "'prelabel-boxes-metadata'")
    assert not (tmp_path / "out.json").exists()


def test_unexpected_exception_is_one_line_and_debug_shows_the_traceback(tmp_path: Path) -> None:
    # an exception no reader anticipates: a labels file whose parent is a regular file when written
    blocker = tmp_path / "file"
    blocker.write_text("x")
    src = tmp_path / "ok.manifest"
    src.write_text(GOLDEN.read_text(encoding="utf-8"), encoding="utf-8")
    args = ["convert", "--from", "groundtruth", "--to", "labels", str(src), str(blocker / "out.jsonl")]
    _one_line_error(args, str(blocker))
    for r in (runner.invoke(app, ["--debug", *args]), runner.invoke(app, args, env={"PRELABEL_DEBUG": "1"})):
        # with --debug (or PRELABEL_DEBUG=1) the exception itself escapes, so Python prints its traceback
        assert r.exit_code != 0 and isinstance(r.exception, OSError), r.output


@pytest.mark.parametrize("fmt", ["coco", "scalabel", "labelstudio"])
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"[" * 40_000 + b"]" * 40_000, "nested too deeply"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b'[{"name": "a.png", "x": NaN}]', "NaN"),
    ],
)
def test_json_formats_refuse_bad_json_naming_the_file(tmp_path: Path, fmt: str, content: bytes, message: str) -> None:
    p = tmp_path / "bad.json"
    p.write_bytes(content)
    _one_line_error(["convert", "--from", fmt, "--to", "labels", str(p), str(tmp_path / "o.jsonl")], str(p), message)


def test_any_exception_becomes_one_line_with_the_debug_hint() -> None:
    from prelabel.cli.errors import one_line

    line = one_line(RuntimeError("first\nsecond\n" + "x" * 2000))
    assert "\n" not in line and len(line) < 700
    assert line.startswith("unexpected RuntimeError: first second") and line.endswith("for the traceback")
    assert "--debug" in line and "PRELABEL_DEBUG=1" in line
