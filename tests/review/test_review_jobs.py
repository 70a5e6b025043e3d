"""A job's frame ids and counts come from SQLite without parsing the stored records: assigning a job's frames,
the admin page and ``prelabel review list-jobs`` keep working when a record could not even be parsed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from prelabel.core.labels import Box2D, Frame, FrameRecord, Label
from prelabel.review.db import Database
from prelabel.review.errors import ReviewInputError
from prelabel.review.review_jobs import create_job, frame_counts, frame_ids, get_job, job_frames
from prelabel.review.tasks import assign, job_tasks
from prelabel.review.workforce import create_user


def _record(fid: str) -> FrameRecord:
    car = Label(category="car", source="model:m@1", score=0.7, box=Box2D.from_xyxy([10, 10, 50, 40]))
    return FrameRecord(frame=Frame(id=fid, uri=f"/x/{fid}.png", width=100, height=80), labels=[car])


@pytest.fixture()
def db(tmp_path: Path) -> Database:
    db = Database(tmp_path / "state")
    create_user(db, "admin", "admin-pass-1", "admin")
    for w in ("alice", "bob"):
        create_user(db, w, f"{w}-pass-123", "worker")
    create_job(db, "first", "adjust", [_record(f) for f in ("f3", "f1", "f2")], source="/x/a.jsonl")
    create_job(db, "second", "verify", [_record("g1")], source="/x/b.jsonl")
    return db


def _unparseable_records(db: Database) -> None:
    """Every stored record made into JSON that is no FrameRecord: reading one now fails."""
    with db.transaction() as conn:
        conn.execute("UPDATE frames SET record = '{\"frame\": 1}'")


def test_frame_ids_and_counts_match_the_parsed_frames(db: Database) -> None:
    first, second = get_job(db, "first").id, get_job(db, "second").id
    assert frame_ids(db, first) == [jf.frame_id for jf in job_frames(db, first)] == ["f3", "f1", "f2"]
    assert frame_counts(db) == {first: 3, second: 1}
    _unparseable_records(db)
    with pytest.raises(ValueError):
        job_frames(db, first)
    assert frame_ids(db, first) == ["f3", "f1", "f2"] and frame_counts(db) == {first: 3, second: 1}


def test_assign_reads_only_the_frame_ids(db: Database) -> None:
    _unparseable_records(db)
    assert assign(db, "first", ["alice", "bob"]) == 6
    assert sorted((t.worker, t.frame_id) for t in job_tasks(db, 1)) == [
        (w, f) for w in ("alice", "bob") for f in ("f1", "f2", "f3")
    ]
    assert assign(db, "first", ["alice"], frames=["f2", "f2"]) == 0  # tasks a worker has are kept
    assert assign(db, "second", ["bob"], frames=["g1"]) == 1
    with pytest.raises(ReviewInputError, match="frames not in job 'first': g1, nope"):
        assign(db, "first", ["alice"], frames=["g1", "f1", "nope"])


def test_admin_page_and_list_jobs_show_frame_counts_without_parsing_records(db: Database, tmp_path: Path) -> None:
    from prelabel.cli.main import app as cli
    from prelabel.review.web import create_portal_app

    _unparseable_records(db)
    res = CliRunner().invoke(cli, ["review", "jobs", "--state", str(tmp_path / "state")])
    assert res.exit_code == 0, res.output
    assert [line.split() for line in res.output.splitlines()] == [
        ["1", "first", "adjust", "3", "frames", "car"],
        ["2", "second", "verify", "1", "frames", "car"],
    ]
    with TestClient(create_portal_app(tmp_path / "state"), base_url="http://127.0.0.1") as c:
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text)
        assert token
        login = {"username": "admin", "password": "admin-pass-1", "csrf_token": token.group(1)}
        assert c.post("/login", data=login, follow_redirects=False).status_code == 303
        page = c.get("/admin")
    assert page.status_code == 200
    rows = re.findall(r"<tr>(.*?)</tr>", page.text, re.S)
    first = next(r for r in rows if ">first<" in r)
    second = next(r for r in rows if ">second<" in r)
    assert "<td>3</td>" in first and "<td>1</td>" in second
