"""Sequence review jobs: one task is a whole sequence (or a chunk of ``chunk`` consecutive frames of one), its tracked
2D boxes edited track by track in the browser (``static/sequence.js``).

A sequence job is an ``adjust`` job with ``Job.kind == "sequence"``; it is made from tracked labels (labels with
``track_id`` on frames with a place in a sequence, e.g. ``prelabel track``'s output) or a Ground Truth video-frame
tracking manifest. Frames keep their job rows; a chunk is named by its first frame id, which is the ``frame_id`` of
its tasks and answers. Labels without a track id (KITTI's DontCare) are not shown and pass through unchanged.

Answer: ``{"frames": [{"frame": <frame id>, "boxes": [{"id": <pre-label id or null>, "track_id": t, "category": c,
"box": [x1, y1, x2, y2], "source": "human"|"interpolated"|"prelabel"}]}], "comment": "", "edits": [...]}`` with
every frame of the chunk once. ``source``: ``human`` a person set or confirmed the box (a keyframe), ``interpolated``
filled between two keyframes, ``prelabel`` the model's box untouched (its class may follow a track-wide change).
``edits``: the worker's track operations (class, split, merge, delete, interpolate), kept in the audit trail.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prelabel.core.labels import FrameRecord
from prelabel.core.sequences import SequenceError, TrackIdError, check_track_ids, group_sequences, place
from prelabel.review.errors import ReviewInputError
from prelabel.review.responses import checked_box

if TYPE_CHECKING:
    from prelabel.review.db import Database
    from prelabel.review.review_jobs import Job, JobFrame
    from prelabel.review.tasks import Task

KIND = "sequence"
KINDS = ("auto", "frame", KIND)
DEFAULT_CHUNK = 100
MAX_CHUNK = 2000
SOURCES = ("human", "interpolated", "prelabel")
MAX_TRACK = 128
MAX_BOXES_FRAME = 2000
MAX_BOXES_TOTAL = 200_000
MAX_EDITS = 10_000
MAX_COMMENT = 2000
MOVE_TOLERANCE = 0.5  # pixels: a "prelabel" box may differ from the model's by rounding only


@dataclass(frozen=True)
class Chunk:
    key: str  # its first frame id: the frame_id of its tasks and answers
    sequence: str
    number: int  # 0-based chunk number within its sequence
    frame_ids: list[str]  # in sequence order


def is_tracked(records: Sequence[FrameRecord]) -> bool:
    """Whether labels look like a tracking output: 2D boxes with track ids, and every frame in a sequence."""
    if not any(lb.track_id is not None and lb.box is not None for r in records for lb in r.labels):
        return False
    return all(place(r.frame)[0] and place(r.frame)[1] is not None for r in records if r.status != "failed")


def choose_kind(kind: str, records: Sequence[FrameRecord], source_format: str, job_type: str = "adjust") -> str:
    """``frame`` or ``sequence``; ``auto`` picks sequence for an adjust job on a video-tracking manifest or tracked
    2D labels. A sequence job is always an adjust job."""
    if kind not in KINDS:
        raise ReviewInputError(f"job kind {kind!r} is not known; expected one of: {', '.join(KINDS)}")
    if kind == KIND and job_type != "adjust":
        raise ReviewInputError(f"a sequence job is an adjust job; got type {job_type!r} (verify frame by frame)")
    if kind != "auto" or job_type != "adjust":
        return "frame" if kind == "auto" else kind
    if source_format == "groundtruth-video":
        return KIND
    if any(r.frame.kind == "pointcloud" for r in records):
        return "frame"
    return KIND if is_tracked(records) else "frame"


def parse_chunk(v: Any) -> int:
    """Frames per sequence task from a request (a number or digits; empty: the default)."""
    if v is None or v == "":
        return DEFAULT_CHUNK
    if isinstance(v, bool) or not (isinstance(v, int) or (isinstance(v, str) and v.strip().isdigit())):
        raise ReviewInputError(f"'chunk' (frames per sequence task) must be a whole number; got {v!r}")
    return int(v)


def parse_overlap(v: Any) -> int:
    """Frames shared by neighbouring sequence tasks, from a request (a number or digits; empty: 0)."""
    if v is None or v == "":
        return 0
    if isinstance(v, bool) or not (isinstance(v, int) or (isinstance(v, str) and v.strip().isdigit())):
        raise ReviewInputError(
            f"'chunk_overlap' (frames shared by neighbouring tasks) must be a whole number; got {v!r}"
        )
    return int(v)


def prepare(records: Sequence[FrameRecord], where: str) -> tuple[list[FrameRecord], int]:
    """Records ready for a sequence job: each frame's sequence and index set, one track id at most once per frame,
    width/height filled from the image header or the sequence's other frames. Returns them and how many labels
    have no track id (they pass through unreviewed)."""
    usable = [r for r in records if r.status != "failed"]
    if any(r.frame.kind == "pointcloud" for r in usable):
        raise ReviewInputError("sequence review jobs are for camera frames; review point clouds as a 3D job")
    try:
        check_track_ids(usable, where)
        groups = group_sequences(usable)
    except (TrackIdError, SequenceError) as e:
        raise ReviewInputError(str(e)) from None
    out: list[FrameRecord] = []
    untracked = 0
    for seq, frames in groups.items():
        sizes = [(f.frame.width, f.frame.height) for f in frames if f.frame.width and f.frame.height]
        for rec in frames:
            s, idx, _ = place(rec.frame)
            w, h = rec.frame.width, rec.frame.height
            if not (w and h):
                from prelabel.storage import image_size

                found = image_size(rec.frame.uri) if "://" not in rec.frame.uri else None
                if found is None and sizes:
                    found = sizes[0]  # one camera per sequence: its other frames' size
                if found is not None:
                    w, h = found
            frame = rec.frame.model_copy(
                update={"sequence": seq or s or "sequence", "index": idx, "width": w, "height": h}
            )
            untracked += sum(1 for lb in rec.labels if lb.box is not None and lb.track_id is None)
            out.append(rec.model_copy(update={"frame": frame}))
    if not any(lb.track_id is not None and lb.box is not None for r in out for lb in r.labels):
        raise ReviewInputError(f"{where}: no 2D box has a track id; a sequence job reviews tracks (run prelabel track)")
    return out, untracked


def create_sequence_job(
    db: Database,
    name: str,
    records: Sequence[FrameRecord],
    *,
    source: str,
    chunk: int = DEFAULT_CHUNK,
    overlap: int = 0,
    **kw: Any,
) -> tuple[Job, dict[str, Any]]:
    """A sequence review job (``adjust``) from tracked records; ``kw`` as :func:`.review_jobs.create_job`.
    ``overlap``: frames each task shares with the next task of its sequence (0 to ``chunk - 1``).
    The summary adds ``sequences``, ``tasks_per_worker`` (chunks) and ``untracked`` (labels passed through)."""
    from prelabel.review.review_jobs import create_job

    if not 1 <= chunk <= MAX_CHUNK:
        raise ReviewInputError(f"frames per sequence task must be 1-{MAX_CHUNK}; got {chunk}")
    if not 0 <= overlap < chunk:
        raise ReviewInputError(
            f"chunk overlap (frames shared by neighbouring sequence tasks) must be 0-{chunk - 1} for chunks of "
            f"{chunk} frames; got {overlap}"
        )
    if kw.get("manifest_lines") is not None:
        kw["manifest_lines"] = None  # a sequence job's output lines are built from the records
    ready, untracked = prepare(records, source)
    job, summary = create_job(
        db, name, "adjust", ready, source=source, source_extra={"kind": KIND, "chunk": chunk, "overlap": overlap}, **kw
    )
    parts = chunks(db, job)
    summary.update(sequences=len({c.sequence for c in parts}), tasks_per_worker=len(parts), untracked=untracked)
    return job, summary


def chunks(db: Database, job: Job) -> list[Chunk]:
    """The job's sequence tasks: its frames by sequence and index, cut into ``job.chunk`` frames, each chunk
    sharing its last ``job.overlap`` frames with the next (read from the stored records' sequence and index only,
    without parsing them). No chunk lies wholly inside the one before it."""
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT frame_id, position, json_extract(record, '$.frame.sequence') AS seq, "
            "json_extract(record, '$.frame.index') AS idx FROM frames WHERE job_id = ? ORDER BY position",
            (job.id,),
        ).fetchall()
    by_seq: dict[str, list[tuple[int, int, str]]] = {}
    for r in rows:
        by_seq.setdefault(str(r["seq"] or ""), []).append((int(r["idx"] or 0), int(r["position"]), r["frame_id"]))
    out: list[Chunk] = []
    size = job.chunk or DEFAULT_CHUNK
    overlap = job.overlap if 0 <= job.overlap < size else 0
    for seq, frames in by_seq.items():
        ids = [f for _, _, f in sorted(frames)]
        for n, start in enumerate(range(0, max(len(ids) - overlap, 1), size - overlap)):
            part = ids[start : start + size]
            out.append(Chunk(key=part[0], sequence=seq, number=n, frame_ids=part))
    return out


def chunk_of(db: Database, job: Job, key: str) -> Chunk:
    from prelabel.review.errors import NotFoundError

    for c in chunks(db, job):
        if c.key == key:
            return c
    raise NotFoundError("sequence task", key)


def chunk_frames(db: Database, job: Job, chunk: Chunk) -> list[JobFrame]:
    """The chunk's frames (records parsed), in sequence order."""
    from prelabel.review.review_jobs import JobFrame

    marks = ",".join("?" * len(chunk.frame_ids))
    with db.connect() as conn:
        rows = conn.execute(
            f"SELECT * FROM frames WHERE job_id = ? AND frame_id IN ({marks})", (job.id, *chunk.frame_ids)
        ).fetchall()
    by_id = {
        r["frame_id"]: JobFrame(
            frame_id=r["frame_id"],
            position=r["position"],
            certainty=r["certainty"],
            record=FrameRecord.from_json(r["record"]),
            manifest_line=None if r["manifest_line"] is None else json.loads(r["manifest_line"]),
        )
        for r in rows
    }
    return [by_id[f] for f in chunk.frame_ids]


def chunk_keys(db: Database, job: Job, frames: Sequence[str]) -> list[str]:
    """The chunks holding these frames (each once, in job order)."""
    wanted = set(frames)
    return [c.key for c in chunks(db, job) if any(f in wanted for f in c.frame_ids)]


def shown_labels(rec: FrameRecord) -> list[dict[str, Any]]:
    """The labels a worker sees in a sequence task: 2D boxes with a track id."""
    return [
        {"id": lb.id, "track_id": lb.track_id, "category": lb.category, "score": lb.score, "box": list(lb.box.xyxy)}
        for lb in rec.labels
        if lb.box is not None and lb.track_id is not None
    ]


def task_payload(db: Database, job: Job, task: Task, base: str) -> dict[str, Any]:
    """What the sequence page loads: the chunk's frames (image URL, size, index, tracked boxes)."""
    every = chunks(db, job)
    c = next((x for x in every if x.key == task.frame_id), None) or chunk_of(db, job, task.frame_id)
    total = sum(1 for x in every if x.sequence == c.sequence)
    return {
        "kind": KIND,
        "sequence": {"name": c.sequence, "part": c.number + 1, "parts": total, "frames": len(c.frame_ids)},
        "frames": [
            {
                "id": jf.frame_id,
                "index": jf.record.frame.index,
                "width": jf.record.frame.width,
                "height": jf.record.frame.height,
                "image": f"{base}/api/tasks/{task.id}/frames/{k}/image",
                "labels": shown_labels(jf.record),
            }
            for k, jf in enumerate(chunk_frames(db, job, c))
        ],
    }


def _frame_boxes(job: Job, jf: JobFrame, boxes: Any) -> list[dict[str, Any]]:
    fid = jf.frame_id
    if not isinstance(boxes, list) or len(boxes) > MAX_BOXES_FRAME:
        raise ReviewInputError(f"frame {fid}: 'boxes' must be a list of at most {MAX_BOXES_FRAME} boxes")
    pre = {lb["id"]: lb for lb in shown_labels(jf.record)}
    w, h = float(jf.record.frame.width or 0), float(jf.record.frame.height or 0)
    ids: set[str] = set()
    tracks: set[str] = set()
    out = []
    for i, b in enumerate(boxes):
        what = f"frame {fid} box {i}"
        if not isinstance(b, dict):
            raise ReviewInputError(f"{what} must be an object with id, track_id, category, box, source")
        bid = b.get("id")
        if bid is not None and (not isinstance(bid, str) or bid not in pre):
            raise ReviewInputError(f"{what}: id {bid!r} is not a pre-label of frame {fid}")
        if bid is not None and bid in ids:
            raise ReviewInputError(f"{what}: pre-label {bid} appears twice")
        track = b.get("track_id")
        if not isinstance(track, str) or not 0 < len(track) <= MAX_TRACK:
            raise ReviewInputError(f"{what}: track_id must be text of 1-{MAX_TRACK} characters; got {track!r}")
        if track in tracks:
            raise ReviewInputError(
                f"track id {track} appears twice in frame {fid}; expected each track at most once per frame "
                "(split the track or give one of the boxes a new id)"
            )
        cat = b.get("category")
        if cat not in job.categories:
            raise ReviewInputError(f"{what}: category {cat!r} is not among the job's: {', '.join(job.categories)}")
        source = b.get("source")
        if source not in SOURCES:
            raise ReviewInputError(f"{what}: source must be one of {', '.join(SOURCES)}; got {source!r}")
        xyxy = checked_box(b.get("box"), w, h, what)
        if source == "prelabel":
            base = pre.get(bid) if bid is not None else None
            if base is None or any(abs(a - c) > MOVE_TOLERANCE for a, c in zip(base["box"], xyxy, strict=True)):
                raise ReviewInputError(
                    f"{what}: marked 'prelabel' but it is not the model's box {bid!r} unmoved; mark it 'human'"
                )
            xyxy = [round(v, 2) for v in base["box"]]
        if bid is not None:
            ids.add(bid)
        tracks.add(track)
        out.append({"id": bid, "track_id": track, "category": cat, "box": xyxy, "source": source})
    return out


def _check_interpolated(frames: list[dict[str, Any]]) -> None:
    """An interpolated box lies between keyframes of its track that agree on the class (as refine.interpolate)."""
    keys: dict[str, list[tuple[int, str]]] = {}
    for k, f in enumerate(frames):
        for b in f["boxes"]:
            if b["source"] == "human":
                keys.setdefault(b["track_id"], []).append((k, b["category"]))
    for k, f in enumerate(frames):
        for b in f["boxes"]:
            if b["source"] != "interpolated":
                continue
            kf = keys.get(b["track_id"], [])
            before = [x for x in kf if x[0] < k]
            after = [x for x in kf if x[0] > k]
            if before and after and before[-1][1] != after[0][1]:
                raise ReviewInputError(
                    f"track {b['track_id']}: keyframe {frames[before[-1][0]]['frame']} says {before[-1][1]!r} but "
                    f"keyframe {frames[after[0][0]]['frame']} says {after[0][1]!r}; interpolation needs one class per "
                    "track (fix the class on one keyframe or split the track)"
                )


def _edits(v: Any) -> list[dict[str, Any]]:
    if v is None:
        return []
    if not isinstance(v, list) or len(v) > MAX_EDITS:
        raise ReviewInputError(f"'edits' must be a list of at most {MAX_EDITS} objects")
    out = []
    for i, e in enumerate(v):
        ok = isinstance(e, dict) and len(e) <= 8 and isinstance(e.get("op"), str)
        ok = ok and all(isinstance(k, str) and len(k) <= 32 and isinstance(x, int | float | str) for k, x in e.items())
        if not ok:
            raise ReviewInputError(f"edit {i} must be an object of at most 8 short text/number fields with an 'op'")
        out.append({k: (x[:MAX_TRACK] if isinstance(x, str) else x) for k, x in e.items()})
    return out


def validate_sequence_response(db: Database, job: Job, task: Task, payload: Any) -> dict[str, Any]:
    """Check a worker's answer to a sequence task; returns the normalised answer (see the module doc)."""
    if not isinstance(payload, dict):
        raise ReviewInputError(f"response must be a JSON object; got {type(payload).__name__}")
    c = chunk_of(db, job, task.frame_id)
    sent = payload.get("frames")
    if not isinstance(sent, list):
        raise ReviewInputError("a sequence response needs 'frames': a list of {frame, boxes}, one per frame")
    by_id: dict[str, Any] = {}
    for i, f in enumerate(sent):
        if not isinstance(f, dict) or not isinstance(f.get("frame"), str):
            raise ReviewInputError(f"frames[{i}] must be an object with 'frame' (its id) and 'boxes'")
        if f["frame"] in by_id:
            raise ReviewInputError(f"frame {f['frame']} is answered twice")
        by_id[f["frame"]] = f.get("boxes")
    known = c.frame_ids
    extra = [f for f in by_id if f not in set(known)]
    if extra:
        raise ReviewInputError(f"frames not in this sequence task: {', '.join(extra[:5])}")
    missing = [f for f in known if f not in by_id]
    if missing:
        raise ReviewInputError(f"every frame of the task needs its boxes; missing: {', '.join(missing[:5])}")
    frames = [
        {"frame": jf.frame_id, "boxes": _frame_boxes(job, jf, by_id[jf.frame_id])} for jf in chunk_frames(db, job, c)
    ]
    if sum(len(f["boxes"]) for f in frames) > MAX_BOXES_TOTAL:
        raise ReviewInputError(f"too many boxes in one sequence task; at most {MAX_BOXES_TOTAL}")
    _check_interpolated(frames)
    comment = payload.get("comment") or ""
    if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
        raise ReviewInputError(f"comment must be text of at most {MAX_COMMENT} characters")
    return {"frames": frames, "comment": comment, "edits": _edits(payload.get("edits"))}
