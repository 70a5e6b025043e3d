"""Review jobs: made from a labels file or a Ground Truth input manifest, stored with their frames.

A job's type is ``adjust`` (workers move, resize, draw, delete and re-class boxes) or ``verify`` (workers judge each
label good or bad, with an optional comment). Only the frames routed to review can be put in a job (``frames``).
Workers get a job's frames as tasks (:mod:`prelabel.review.tasks`) and answer them (:mod:`prelabel.review.responses`).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from prelabel.core.labels import FrameRecord
from prelabel.review import audit
from prelabel.review.db import Database, now
from prelabel.review.errors import NotFoundError, ReviewInputError

DEFAULT_ORIGINAL = "prelabel-boxes"  # = prelabel.formats.groundtruth.DEFAULT_ATTRIBUTE

JOB_TYPES = ("adjust", "verify")
_JOB_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class Job:
    id: int
    name: str
    type: str
    attribute: str  # the Ground Truth label attribute the reviewed labels are written under
    source: str
    source_format: str  # "labels" or "groundtruth"
    categories: list[str]
    instructions: str
    created_by: str
    created_at: str
    source_attribute: str | None = None  # the manifest's label attribute (None for a labels file)
    roots: tuple[str, ...] = ()  # folders / s3 prefixes its frames may be served from (see review.frames)
    modality: str = "2d"  # "3d": pointcloud frames with 3D boxes (see review.tasks3d)
    kind: str = "frame"  # "sequence": one task per sequence chunk (see review.sequence_tasks)
    chunk: int = 0  # frames per sequence task (sequence jobs)
    overlap: int = 0  # frames a sequence task shares with the next one of its sequence

    @property
    def original_attribute(self) -> str:
        """The attribute the pre-labels sit under in the output manifest."""
        return self.source_attribute or DEFAULT_ORIGINAL


@dataclass(frozen=True)
class JobFrame:
    frame_id: str
    position: int
    certainty: float
    record: FrameRecord
    manifest_line: dict[str, Any] | None


def frame_certainty(record: FrameRecord) -> float:
    """How sure the model was about a frame: its least confident box label's score (1.0 with no scored box).

    The work queue shows the least certain frames first.
    """
    scores = [lb.score for lb in record.labels if _reviewed(lb) and lb.score is not None]
    return min(scores) if scores else 1.0


def _reviewed(lb: Any) -> bool:
    """A label shown for review: one with a 2D box, or (pointcloud frames) a 3D box."""
    return lb.box is not None or lb.box3d is not None


def shown_in(lb: Any, modality: str) -> bool:
    """Whether a label is reviewed in a job of this modality (2D box, or 3D box)."""
    return (lb.box3d if modality == "3d" else lb.box) is not None


def _review_count(rec: FrameRecord, modality: str) -> int:
    return sum(1 for lb in rec.labels if shown_in(lb, modality))


def check_attribute(attribute: str, original: str | None = None) -> None:
    """Ground Truth's rules for a label attribute name (see :func:`prelabel.formats.groundtruth.check_attribute`)."""
    from prelabel.formats.groundtruth import check_attribute as gt_check

    gt_check(attribute, original=original)


def _job_from_row(row: sqlite3.Row) -> Job:
    src = json.loads(row["source"])
    return Job(
        id=row["id"],
        name=row["name"],
        type=row["type"],
        attribute=row["attribute"],
        source=src["uri"],
        source_attribute=src.get("attribute"),
        roots=tuple(src.get("roots") or ()),
        modality=src.get("modality") or "2d",
        kind=src.get("kind") or "frame",
        chunk=int(src.get("chunk") or 0),
        overlap=int(src.get("overlap") or 0),
        source_format=row["source_format"],
        categories=json.loads(row["categories"]),
        instructions=row["instructions"],
        created_by=row["created_by"],
        created_at=row["created_at"],
    )


def create_job(
    db: Database,
    name: str,
    job_type: str,
    records: Sequence[FrameRecord],
    *,
    source: str,
    source_format: str = "labels",
    source_attribute: str | None = None,
    manifest_lines: Sequence[dict[str, Any] | None] | None = None,
    categories: Sequence[str] | None = None,
    instructions: str = "",
    frames: Sequence[str] | None = None,
    attribute: str | None = None,
    actor: str = "cli",
    roots: Sequence[str] = (),
    source_extra: dict[str, Any] | None = None,
) -> tuple[Job, dict[str, Any]]:
    """Store a job with its frames. Returns the job and a summary (frames in, frames skipped and why).

    ``roots``: folders and ``s3://`` prefixes the portal may serve this job's frames from (besides its own).
    ``source_extra``: more job settings kept with the source (a sequence job's ``kind`` and ``chunk``).

    ``frames``: only these frame ids (those routed to review); every id must be in the source.
    ``categories``: the classes workers may use; by default the categories found in the pre-labels.
    """
    if not _JOB_NAME_RE.match(name):
        raise ReviewInputError(f"job name {name!r} must be 1-128 letters, digits, '.', '_' or '-'")
    if job_type not in JOB_TYPES:
        raise ReviewInputError(f"job type {job_type!r} is not known; expected one of: {', '.join(JOB_TYPES)}")
    lines = list(manifest_lines) if manifest_lines is not None else [None] * len(records)
    if len(lines) != len(records):
        raise ReviewInputError(f"got {len(records)} records but {len(lines)} manifest lines")
    original = source_attribute or DEFAULT_ORIGINAL
    attribute = attribute or f"{original}-{'adjusted' if job_type == 'adjust' else 'verified'}"
    check_attribute(attribute, original)
    for line in lines:
        if line is not None and (attribute in line or f"{attribute}-metadata" in line):
            raise ReviewInputError(
                f"the manifest already has an attribute {attribute!r} (an earlier job's answers); "
                "name a new output attribute so nothing is overwritten"
            )

    summary: dict[str, Any] = {"frames": 0, "labels": 0, "skipped_failed": [], "duplicates": []}
    by_id: dict[str, tuple[FrameRecord, dict[str, Any] | None]] = {}
    for rec, line in zip(records, lines, strict=True):
        if rec.status == "failed":
            summary["skipped_failed"].append(rec.frame.id)
            continue
        if rec.frame.id in by_id:
            if by_id[rec.frame.id][0].frame.uri != rec.frame.uri:
                raise ReviewInputError(
                    f"frame id {rec.frame.id} names two images: {by_id[rec.frame.id][0].frame.uri} and "
                    f"{rec.frame.uri}; frame ids must be unique in a job"
                )
            summary["duplicates"].append(rec.frame.id)
        by_id[rec.frame.id] = (rec, line)  # the last record of a frame wins (a resumed run rewrites it)
    if frames is not None:
        wanted = list(dict.fromkeys(f.strip() for f in frames if f.strip()))
        missing = [f for f in wanted if f not in by_id]
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise ReviewInputError(f"frames to review not found among the usable frames of {source}: {shown}")
        chosen = [by_id[f] for f in wanted]
    else:
        chosen = list(by_id.values())
    if not chosen:
        raise ReviewInputError(f"{source} has no usable frames for a review job")

    from prelabel.review.tasks3d import modality as job_modality

    mode = job_modality([rec for rec, _ in chosen])
    found = sorted({lb.category for rec, _ in chosen for lb in rec.labels if shown_in(lb, mode)})
    cats = list(dict.fromkeys(c.strip() for c in categories if c.strip())) if categories else found
    if not cats:
        raise ReviewInputError("the job needs label categories; the pre-labels have none, so pass categories")
    unknown = sorted(set(found) - set(cats))
    if unknown:
        raise ReviewInputError(
            f"pre-labels use categories that are not among the job's categories: {', '.join(unknown)}; "
            "add them to the categories or leave the categories out to use those found"
        )

    for rec, _ in chosen if mode == "2d" else ():
        if rec.frame.width is None or rec.frame.height is None:
            raise ReviewInputError(
                f"frame {rec.frame.id} has no width/height; label it with prelabel (records carry the size) "
                "or give image_size in the manifest"
            )

    created = now()
    src = {"uri": source, "attribute": source_attribute, "roots": list(roots), **(source_extra or {})}
    src_json = json.dumps(src if mode == "2d" else {**src, "modality": mode})
    with db.transaction() as conn:
        if conn.execute("SELECT 1 FROM jobs WHERE name = ?", (name,)).fetchone():
            raise ReviewInputError(f"job {name!r} already exists; pick another name")
        cur = conn.execute(
            "INSERT INTO jobs (name, type, attribute, source, source_format, categories, instructions, created_by, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (name, job_type, attribute, src_json, source_format, json.dumps(cats), instructions, actor, created),
        )
        job_id = int(cur.lastrowid or 0)
        for pos, (rec, line) in enumerate(chosen):
            conn.execute(
                "INSERT INTO frames (job_id, frame_id, position, certainty, boxes, record, manifest_line) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    job_id,
                    rec.frame.id,
                    pos,
                    frame_certainty(rec),
                    _review_count(rec, mode),
                    rec.to_json(),
                    None if line is None else json.dumps(line, separators=(",", ":")),
                ),
            )
            summary["labels"] += _review_count(rec, mode)
        summary["frames"] = len(chosen)
        audit.record(
            conn,
            actor,
            "job.create",
            job_id=job_id,
            detail={
                "name": name,
                "type": job_type,
                "source": source,
                "frames": len(chosen),
                "categories": cats,
                "modality": mode,
            },
        )
    return get_job(db, job_id), summary


def get_job(db: Database, job: int | str) -> Job:
    """A job by id or by name."""
    with db.connect() as conn:
        if isinstance(job, int) or (isinstance(job, str) and job.isdigit()):
            row = conn.execute("SELECT * FROM jobs WHERE id = ?", (int(job),)).fetchone()
            if row is None and isinstance(job, str):
                row = conn.execute("SELECT * FROM jobs WHERE name = ?", (job,)).fetchone()
        else:
            row = conn.execute("SELECT * FROM jobs WHERE name = ?", (job,)).fetchone()
    if row is None:
        raise NotFoundError("job", job)
    return _job_from_row(row)


def list_jobs(db: Database) -> list[Job]:
    with db.connect() as conn:
        rows = conn.execute("SELECT * FROM jobs ORDER BY id").fetchall()
    return [_job_from_row(r) for r in rows]


def _frame_from_row(row: sqlite3.Row) -> JobFrame:
    return JobFrame(
        frame_id=row["frame_id"],
        position=row["position"],
        certainty=row["certainty"],
        record=FrameRecord.from_json(row["record"]),
        manifest_line=None if row["manifest_line"] is None else json.loads(row["manifest_line"]),
    )


def job_frames(db: Database, job_id: int) -> list[JobFrame]:
    """The job's frames in their source order."""
    with db.connect() as conn:
        rows = conn.execute("SELECT * FROM frames WHERE job_id = ? ORDER BY position", (job_id,)).fetchall()
    return [_frame_from_row(r) for r in rows]


def frame_ids(db: Database, job_id: int) -> list[str]:
    """The ids of the job's frames in their source order, without parsing their records."""
    with db.connect() as conn:
        rows = conn.execute("SELECT frame_id FROM frames WHERE job_id = ? ORDER BY position", (job_id,)).fetchall()
    return [r["frame_id"] for r in rows]


def frame_counts(db: Database) -> dict[int, int]:
    """Job id -> how many frames it has, for every job, counted by SQLite (no record is read)."""
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT j.id, COUNT(f.frame_id) AS n FROM jobs j LEFT JOIN frames f ON f.job_id = j.id GROUP BY j.id"
        ).fetchall()
    return {int(r["id"]): int(r["n"]) for r in rows}


def _sequence_rows(db: Database, job_id: int, sequence: str, columns: str) -> list[sqlite3.Row]:
    """The job's frame rows in ``sequence``, in sequence order (frame index, else source position), picked by
    SQLite from the stored records without parsing them."""
    with db.connect() as conn:
        rows = conn.execute(
            f"SELECT {columns}, position, json_extract(record, '$.frame.index') AS idx FROM frames"
            " WHERE job_id = ? AND json_extract(record, '$.frame.sequence') = ?",
            (job_id, sequence),
        ).fetchall()
    rows.sort(key=lambda r: (r["idx"] if r["idx"] is not None else r["position"], r["position"]))
    return rows


def sequence_frames(db: Database, job_id: int, sequence: str) -> list[JobFrame]:
    """The job's frames in ``sequence``, in sequence order (frame index, else source position)."""
    return [_frame_from_row(r) for r in _sequence_rows(db, job_id, sequence, "*")]


def sequence_frame_ids(db: Database, job_id: int, sequence: str) -> list[str]:
    """The ids of the job's frames in ``sequence``, in sequence order, without parsing their records."""
    return [r["frame_id"] for r in _sequence_rows(db, job_id, sequence, "frame_id")]


def job_frame(db: Database, job_id: int, frame_id: str) -> JobFrame:
    with db.connect() as conn:
        row = conn.execute("SELECT * FROM frames WHERE job_id = ? AND frame_id = ?", (job_id, frame_id)).fetchone()
    if row is None:
        raise NotFoundError("frame", frame_id)
    return _frame_from_row(row)
