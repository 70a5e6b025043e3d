"""A plugin package, built and pip-installed (``--target``, never into the shared venv), used end to end through the
CLI: a format found through the ``prelabel.formats`` entry point, and a broken plugin that is reported, not fatal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from prelabel import formats, plugins
from prelabel.core.labels import Box2D, Frame, FrameRecord, Label
from prelabel.labelfile import read_records, write_records
from tests.helpers.cli import prelabel

REPO = Path(__file__).resolve().parents[1]

PLUGIN = '''
"""A tiny CSV format: one line per box, ``frame,category,x1,y1,x2,y2``."""
from prelabel.core.labels import Box2D, Frame, FrameRecord, Label
from prelabel.formats import FormatSpec
from prelabel.formats._common import WriteSummary, check_dst
from prelabel.sources.frames import SourceSpec


def read(src, *, width: int = 100, height: int = 100):
    frames = {}
    for line in open(src, encoding="utf-8").read().splitlines():
        fid, cat, *xyxy = line.split(",")
        rec = frames.setdefault(fid, FrameRecord(frame=Frame(id=fid, uri=fid + ".png", width=width, height=height)))
        rec.labels.append(Label(category=cat, box=Box2D.from_xyxy([float(v) for v in xyxy]), source="human:csv"))
    yield from frames.values()


def write(records, dst, *, overwrite: bool = False, precision: int = 1):
    check_dst(dst, overwrite)
    summary = WriteSummary(format="tinycsv", dst=dst, files=[dst])
    with open(dst, "w", encoding="utf-8") as fh:
        for rec in records:
            summary.frames += 1
            for lb in rec.labels:
                coords = ",".join(f"{v:.{precision}f}" for v in (lb.box.x1, lb.box.y1, lb.box.x2, lb.box.y2))
                fh.write(f"{rec.frame.id},{lb.category},{coords}\\n")
                summary.labels += 1
    return summary


def sniff(src):
    return src.endswith(".tcsv")


def _frames(spec):
    for i in range(int(spec.split("://", 1)[1])):
        yield Frame(id=f"gray{i}", uri=f"tinyseq://{i}", width=160, height=120)


def _image(frame):
    import numpy as np

    return np.full((120, 160, 3), 40 * int(frame.uri.split("://")[1]), np.uint8)


SOURCE = SourceSpec(
    name="tinyseq", description="gray frames", matches=lambda s: s.startswith("tinyseq://"), frames=_frames,
    load_image=_image, uri_prefix="tinyseq://",
)


SPEC = FormatSpec(
    name="tinycsv", description="tiny CSV boxes", geometries=("box2d",), reader=read, writer=write, sniff=sniff,
    aliases=("tcsv",),
)
'''

PYPROJECT = """
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "prelabel-tinycsv"
version = "0.1"

[project.entry-points."prelabel.formats"]
tinycsv = "prelabel_tinycsv:SPEC"
broken = "prelabel_tinycsv_missing:SPEC"

[project.entry-points."prelabel.sources"]
tinyseq = "prelabel_tinycsv:SOURCE"
"""


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The plugin package built from source and installed with ``pip --target`` into a private folder."""
    src = tmp_path_factory.mktemp("plugin-src")
    (src / "pyproject.toml").write_text(PYPROJECT)
    (src / "prelabel_tinycsv.py").write_text(textwrap.dedent(PLUGIN))
    site = tmp_path_factory.mktemp("plugin-site")
    r = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--no-build-isolation",
         "--target", str(site), str(src)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert (site / "prelabel_tinycsv.py").is_file()
    return site


def cli(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join([str(site), str(REPO / "src"), os.environ.get("PYTHONPATH", "")])
    return prelabel(*args, env={"PYTHONPATH": path}, timeout=300)


@pytest.mark.slow  # builds and pip-installs a package, then runs the CLI several times
def test_an_installed_format_plugin_works_through_the_cli(plugin_site: Path, tmp_path: Path) -> None:
    r = cli(plugin_site, "formats", "-v")
    assert r.returncode == 0, r.stderr
    assert "tinycsv (also: tcsv)  [read/write; box2d]" in r.stdout
    assert "write options: overwrite: bool = False; precision: int = 1" in r.stdout
    assert "coco" in r.stdout  # the built-ins are all still there
    assert "plugin failed to load: broken (prelabel_tinycsv_missing:SPEC): ModuleNotFoundError" in r.stdout

    labels = tmp_path / "in.jsonl"
    box = Label(category="car", box=Box2D.from_xyxy([1, 2, 30.5, 40]), source="human:a")
    write_records(labels, [FrameRecord(frame=Frame(id="f1", uri="f1.png", width=64, height=48), labels=[box])])
    out = tmp_path / "boxes.tcsv"
    r = cli(plugin_site, "convert", "--from", "labels", "--to", "tcsv", str(labels), str(out), "--opt", "precision=2")
    assert r.returncode == 0, r.stderr
    assert out.read_text() == "f1,car,1.00,2.00,30.50,40.00\n"

    back = tmp_path / "back.jsonl"
    r = cli(plugin_site, "convert", "-f", "tinycsv", "-t", "labels", str(out), str(back), "--read-opt", "width=64")
    assert r.returncode == 0, r.stderr
    (rec,) = read_records(back)
    assert rec.frame.width == 64 and rec.labels[0].category == "car" and rec.labels[0].box is not None
    b = rec.labels[0].box
    assert (b.x1, b.y1, b.x2, b.y2) == (1.0, 2.0, 30.5, 40.0)

    r = cli(
        plugin_site,
        "convert",
        "-f",
        "labels",
        "-t",
        "tinycsv",
        str(labels),
        str(tmp_path / "x.tcsv"),
        "--opt",
        "digits=3",
    )
    assert r.returncode == 2
    assert "the tinycsv writer does not take option(s) ['digits']; it takes: overwrite, precision" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.slow  # builds and pip-installs a package, then runs the CLI several times
def test_a_broken_plugin_is_one_line_and_leaves_the_rest_working(plugin_site: Path, tmp_path: Path) -> None:
    r = cli(plugin_site, "convert", "-f", "broken", "-t", "labels", "x", str(tmp_path / "y.jsonl"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "plugin 'broken' (prelabel.formats = prelabel_tinycsv_missing:SPEC) failed to load" in r.stderr
    assert "No module named 'prelabel_tinycsv_missing'" in r.stderr
    r = cli(plugin_site, "models", "list")
    assert r.returncode == 0 and "ssd-mobilenet-v2-coco" in r.stdout


@pytest.mark.model
def test_an_installed_source_plugin_feeds_prelabel_label(plugin_site: Path, tmp_path: Path) -> None:
    out = tmp_path / "labels.jsonl"
    r = cli(plugin_site, "label", "tinyseq://3", "--out", str(out), "--state", str(tmp_path / "state"))
    assert r.returncode == 0, r.stderr
    records = read_records(out)
    assert [(rec.frame.id, rec.frame.uri, rec.status) for rec in records] == [
        (f"gray{i}", f"tinyseq://{i}", "ok") for i in range(3)
    ]


def test_registry_falls_back_to_built_ins_and_names_the_valid_ones() -> None:
    # this process has no plugin installed: the built-ins come from the code's own table
    assert set(formats.BUILTINS) <= set(formats.names())
    assert formats.get("coco").name == "coco"
    with pytest.raises(plugins.PrelabelError, match="unknown label format 'cocoa'; expected one of: .*coco"):
        formats.get("cocoa")


def test_pyproject_declares_every_built_in() -> None:
    import tomllib

    from prelabel.models import decoders, loader, zoo
    from prelabel.sources import frames

    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]
    assert declared["prelabel.formats"] == formats.BUILTINS
    assert declared["prelabel.decoders"] == decoders.BUILTINS
    assert declared["prelabel.runtimes"] == loader.RUNTIMES.builtins
    assert declared["prelabel.models"] == zoo.REGISTRY.builtins
    assert declared["prelabel.sources"] == frames.REGISTRY.builtins


def test_sniff_recognises_each_built_in_and_says_when_it_cannot(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(json.dumps({"frame": {"id": "a", "uri": "a.png"}}) + "\n")
    (tmp_path / "b.manifest").write_text(json.dumps({"source-ref": "s3://b/a.png"}) + "\n")
    (tmp_path / "c.json").write_text(json.dumps({"images": [], "annotations": []}))
    (tmp_path / "d.json").write_text(json.dumps([{"name": "a.jpg", "labels": []}]))
    (tmp_path / "e.json").write_text(json.dumps([{"data": {"image": "a.png"}, "annotations": []}]))
    (tmp_path / "f.xml").write_text("<annotations><version>1.1</version></annotations>")
    (tmp_path / "g.xml").write_text("<annotation><filename>a.png</filename></annotation>")
    (tmp_path / "kitti" / "label_2").mkdir(parents=True)
    (tmp_path / "yolo").mkdir()
    (tmp_path / "yolo" / "classes.txt").write_text("car\n")
    (tmp_path / "yolo" / "000001.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    got = {p: formats.sniff(str(tmp_path / p)) for p in ("a.jsonl", "b.manifest", "c.json", "d.json", "e.json")}
    got.update({p: formats.sniff(str(tmp_path / p)) for p in ("f.xml", "g.xml", "kitti", "yolo")})
    assert got == {
        "a.jsonl": "labels", "b.manifest": "groundtruth", "c.json": "coco", "d.json": "scalabel",
        "e.json": "labelstudio", "f.xml": "cvat", "g.xml": "voc", "kitti": "kitti", "yolo": "yolo",
    }  # fmt: skip
    assert formats.sniff(str(tmp_path / "e.json"), among=["coco", "scalabel"]) == "scalabel"
    (tmp_path / "h.bin").write_bytes(b"\x00\x01")
    with pytest.raises(formats.FormatError, match="h.bin: cannot tell the label format; pass --format"):
        formats.sniff(str(tmp_path / "h.bin"))
