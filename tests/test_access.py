"""Storage roots and allowed URLs (prelabel.access) on real folders, symlinks, FIFOs and devices."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from prelabel import access
from prelabel.access import AccessPolicy, LocationRefusedError
from prelabel.errors import InputNotFoundError, LimitExceededError, PrelabelError, UnreadableInputError
from prelabel.limits import Limits


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    (r / "frames").mkdir(parents=True)
    (r / "frames" / "a.png").write_bytes(b"x" * 10)
    (tmp_path / "outside.png").write_bytes(b"secret")
    return r


def test_local_locations_are_normalised_and_confined(root: Path, tmp_path: Path) -> None:
    p = AccessPolicy.from_specs([str(root)])
    assert p.check(f"{root}/frames/../frames/a.png") == f"{root}/frames/a.png"
    assert p.check(f"file://{root}/out") == f"{root}/out"
    assert p.check(str(root)) == str(root)
    for bad in (f"{root}/../outside.png", "/etc/shadow", f"{root}x/a.png", str(tmp_path)):
        with pytest.raises(LocationRefusedError, match="not under a storage root"):
            p.check(bad, "input_location")
    with pytest.raises(LocationRefusedError, match="absolute path"):
        p.check("frames/a.png")
    (root / "link").symlink_to(tmp_path)
    with pytest.raises(LocationRefusedError):
        p.check(f"{root}/link/outside.png")


def test_an_excluded_folder_inside_a_root_is_refused(root: Path) -> None:
    p = AccessPolicy.from_specs([str(root)]).excluding(root / "state")
    assert p.check(f"{root}/frames/a.png")
    for bad in (f"{root}/state", f"{root}/state/service.sqlite3", f"{root}/frames/../state/token"):
        with pytest.raises(LocationRefusedError, match="own state folder"):
            p.check(bad)
    assert p.to_env() == AccessPolicy.from_specs([str(root)]).to_env()


def test_the_refusal_does_not_depend_on_existence(root: Path, tmp_path: Path) -> None:
    p = AccessPolicy.from_specs([str(root)])
    messages = []
    for path in (tmp_path / "outside.png", tmp_path / "missing.png"):
        with pytest.raises(LocationRefusedError) as e:
            p.check(str(path), "input_location")
        messages.append(str(e.value).replace(str(path), "P"))
    assert messages[0] == messages[1]


def test_object_store_roots_by_bucket_and_prefix() -> None:
    p = AccessPolicy.from_specs(["s3://team/prelabel", "s3://whole"])
    assert p.check("s3://team/prelabel/frames/a.png") == "s3://team/prelabel/frames/a.png"
    assert p.check("s3://team/prelabel/x/../y.png") == "s3://team/prelabel/y.png"
    assert p.check("s3://whole/any/key") == "s3://whole/any/key"
    for bad in (
        "s3://team/other/a.png",
        "s3://team/prelabel-evil/a.png",
        "s3://team/prelabel/../other/a.png",
        "s3://other/a.png",
        "gs://team/prelabel/a.png",
        "memory://team/prelabel/a.png",
    ):
        with pytest.raises(LocationRefusedError):
            p.check(bad)


def test_urls_only_under_an_allowed_prefix() -> None:
    p = AccessPolicy.from_specs([], ["https://frames.example.org/public", "http://127.0.0.1:9000/"])
    assert p.check("https://frames.example.org/public/a.png")
    assert p.check("https://FRAMES.example.org:443/public/a.png")
    assert p.check("http://127.0.0.1:9000/anything")
    for bad in (
        "https://frames.example.org/private/a.png",
        "https://frames.example.org/public/../private/a.png",
        "https://frames.example.org/publicity/a.png",
        "http://frames.example.org/public/a.png",  # other scheme, other port
        "https://frames.example.org@169.254.169.254/public/a.png",
        "http://127.0.0.1:9001/a",
    ):
        with pytest.raises(LocationRefusedError):
            p.check(bad)


def test_bad_specs_are_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(PrelabelError, match="expected an existing folder"):
        AccessPolicy.from_specs([str(tmp_path / "nope")])
    with pytest.raises(PrelabelError, match="--allow-url"):
        AccessPolicy.from_specs(["http://example.org/"])
    with pytest.raises(PrelabelError, match="expected http"):
        AccessPolicy.from_specs([], ["ftp://example.org/"])


def test_only_regular_files_are_read_and_within_the_size_limit(root: Path, tmp_path: Path) -> None:
    p = AccessPolicy.from_specs([str(root), "/dev"])
    assert p.read_bytes(str(root / "frames" / "a.png")) == b"x" * 10
    fifo = root / "fifo.png"
    os.mkfifo(fifo)
    for special in (str(fifo), "/dev/zero", str(root / "frames")):
        with pytest.raises(UnreadableInputError, match="expected a regular file"):
            p.read_bytes(special)  # returns at once: nothing blocks on the FIFO, nothing reads /dev/zero
    with pytest.raises(InputNotFoundError):
        p.read_bytes(str(root / "missing.png"))
    with pytest.raises(LimitExceededError, match="over the limit of 5"):
        p.read_bytes(str(root / "frames" / "a.png"), lim=Limits(max_input_bytes=5))


def test_the_policy_travels_in_the_environment(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = AccessPolicy.from_specs([str(root), "s3://b/p"], ["https://h.example/x"])
    for key, value in p.to_env().items():
        monkeypatch.setenv(key, value)
    again = access.from_env()
    assert again == p
    assert access.read_input(str(root / "frames" / "a.png")) == b"x" * 10
    with pytest.raises(LocationRefusedError):
        access.read_input("/etc/passwd")
    assert access.check_from_env(f"{root}/frames/../frames/a.png") == f"{root}/frames/a.png"
    with pytest.raises(LocationRefusedError):
        access.check_from_env("/etc/passwd")
