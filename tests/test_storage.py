"""storage.open / atomic_path / put_file / glob / remove on local disk and on a real S3-protocol server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from prelabel import storage
from prelabel.errors import InputNotFoundError


class Crash(Exception):
    pass


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_open_reads_text_and_bytes_and_names_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("héllo\n", encoding="utf-8")
    with storage.open(str(tmp_path / "a.txt"), "r") as fh:
        assert fh.read() == "héllo\n"
    with storage.open(f"file://{tmp_path / 'a.txt'}", "rb") as fh:
        assert fh.read() == "héllo\n".encode()
    with pytest.raises(InputNotFoundError, match="nope.txt"), storage.open(str(tmp_path / "nope.txt")):
        pass
    with pytest.raises(InputNotFoundError, match="got a folder"), storage.open(str(tmp_path)):
        pass
    with pytest.raises(ValueError, match="expected one of r, rb, w, wb"), storage.open(str(tmp_path / "a.txt"), "a"):
        pass


def test_open_for_writing_replaces_the_file_only_when_the_block_succeeds(tmp_path: Path) -> None:
    target = tmp_path / "out" / "labels.jsonl"
    with storage.open(str(target), "w") as fh:
        fh.write("first\n")
    assert target.read_text() == "first\n"
    with pytest.raises(Crash), storage.open(str(target), "w") as fh:
        fh.write("half of the second")
        raise Crash
    assert target.read_text() == "first\n"  # the user's file is intact
    assert leftovers(target.parent) == []  # and no temp file is left behind
    with storage.open(str(target), "wb") as fh:
        fh.write(b"second\n")
    assert target.read_bytes() == b"second\n"


def test_atomic_path_gives_a_unique_temp_beside_the_target(tmp_path: Path) -> None:
    target = tmp_path / "model.onnx"
    target.write_bytes(b"old")
    with storage.atomic_path(target) as a, storage.atomic_path(target) as b:
        assert a != b and a.parent == b.parent == tmp_path  # two writers never share a temp file
        assert a.suffix == ".onnx" and a.name.startswith(".model.")  # suffix kept for tools that look at it
        assert target.read_bytes() == b"old"
        a.write_bytes(b"from a")
        b.write_bytes(b"from b")
    assert target.read_bytes() == b"from a"  # the last to finish wins, whole
    assert leftovers(tmp_path) == []


def test_atomic_path_removes_the_temp_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "model.onnx"
    with pytest.raises(Crash), storage.atomic_path(str(target)) as tmp:
        tmp.write_bytes(b"partial")
        raise Crash
    assert not target.exists()
    assert leftovers(target.parent) == []
    with pytest.raises(FileNotFoundError, match="nothing was written"), storage.atomic_path(target) as tmp:
        tmp.unlink()  # a tool that failed without raising left nothing behind
    assert not target.exists()


def test_put_file_glob_and_remove(tmp_path: Path) -> None:
    src = tmp_path / "w.bin"
    src.write_bytes(b"weights")
    root = tmp_path / "reg"
    storage.put_file(src, str(root / "team" / "a" / "1" / "model.onnx"))
    storage.put_file(src, str(root / "team" / "b" / "2" / "model.onnx"))
    found = storage.glob(str(root / "*" / "*" / "*" / "model.onnx"))
    assert found == [str(root / "team" / "a" / "1" / "model.onnx"), str(root / "team" / "b" / "2" / "model.onnx")]
    storage.remove(found[0])
    storage.remove(found[0])  # missing: not an error
    storage.remove(str(root / "team" / "b"), recursive=True)
    assert storage.glob(str(root / "*" / "*" / "*" / "model.onnx")) == []
    assert storage.glob(str(tmp_path / "nowhere" / "*")) == []


@pytest.mark.s3
def test_the_same_calls_on_s3(s3_server: str, tmp_path: Path) -> None:
    import s3fs

    s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_server}).mkdir("bkt")
    uri = "s3://bkt/run/labels.jsonl"
    with storage.open(uri, "w") as fh:
        fh.write("one\n")
    with storage.open(uri, "r") as fh:
        assert fh.read() == "one\n"
    with pytest.raises(Crash), storage.open(uri, "w") as fh:
        fh.write("two\n")
        raise Crash
    assert storage.read_text(uri) == "one\n"  # an aborted upload replaces nothing
    with pytest.raises(InputNotFoundError, match="s3://bkt/missing"), storage.open("s3://bkt/missing"):
        pass

    with storage.atomic_path("s3://bkt/m/model.onnx") as tmp:
        tmp.write_bytes(b"onnx bytes")
    with pytest.raises(Crash), storage.atomic_path("s3://bkt/m/other.onnx") as tmp:
        tmp.write_bytes(b"partial")
        raise Crash
    src = tmp_path / "w.bin"
    src.write_bytes(b"weights")
    storage.put_file(src, "s3://bkt/m/weights.bin")
    assert storage.glob("s3://bkt/m/*") == ["s3://bkt/m/model.onnx", "s3://bkt/m/weights.bin"]
    assert storage.read_bytes("s3://bkt/m/model.onnx") == b"onnx bytes"
    storage.remove("s3://bkt/m", recursive=True)
    assert storage.glob("s3://bkt/m/*") == []


def test_an_exclusive_write_creates_once_and_leaves_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "new" / "folder" / "out.json"
    assert storage.write_bytes(str(target), b"first", exclusive=True)  # its folders are made
    assert not storage.write_bytes(str(target), b"second", exclusive=True)  # there already: left alone
    assert not storage.write_bytes(str(target), b"third", exclusive=True, fsync=False)
    assert target.read_bytes() == b"first"
    assert [p.name for p in target.parent.iterdir()] == ["out.json"]  # no temporary file left beside it
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(NotADirectoryError):
        storage.write_bytes(str(blocker / "out.json"), b"x", exclusive=True)


def test_temporary_names_are_the_ones_leftover_cleanup_knows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    real_link = os.link

    def watched(src: str, dst: str) -> None:  # the temporary file as it is linked into place
        seen.append(Path(src).name)
        real_link(src, dst)

    monkeypatch.setattr(storage.os, "link", watched)
    storage.write_bytes(str(tmp_path / "x.json"), b"{}", exclusive=True)
    assert len(seen) == 1 and storage.is_temp_name(seen[0]), seen
