"""``prelabel review ...``: users, jobs, assignments, exports and figures of the review portal; ``serve`` runs it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import typer

from prelabel.cli._common import console, fail, friendly_errors

review_app = typer.Typer(
    name="review",
    help="The review portal: people verify or adjust pre-labels in the browser.",
    no_args_is_help=True,
)

STATE_HELP = "Portal state folder (SQLite inside); env PRELABEL_STATE."
DEFAULT_STATE = "prelabel-state"


def _state(state: Path | None) -> Path:
    return state or Path(os.environ.get("PRELABEL_STATE", DEFAULT_STATE))


def _frame_ids(spec: str | None) -> list[str] | None:
    """Frame ids from a file (one a line, or a labels file's frames) or a comma-separated list."""
    if not spec:
        return None
    p = Path(spec)
    if p.is_file():
        text = p.read_text(encoding="utf-8")
        first = next((ln for ln in text.splitlines() if ln.strip()), "")
        if first.lstrip().startswith("{"):
            from prelabel.labelfile import read_records

            return [r.frame.id for r in read_records(p)]
        return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    return [s.strip() for s in spec.split(",") if s.strip()]


def _password(password_stdin: bool, name: str) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    env = os.environ.get("PRELABEL_PASSWORD")
    if env:
        return env
    return str(typer.prompt(f"password for {name}", hide_input=True, confirmation_prompt=True))


@review_app.command("create-user")
@friendly_errors
def create_user(
    name: str = typer.Argument(..., help="User name (letters, digits, . _ -)."),
    role: str = typer.Option("worker", "--role", help="worker or admin."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
    state: Path | None = typer.Option(None, "--state", help=STATE_HELP),
) -> None:
    """Create a portal user (the first admin is made here). Asks for the password (or PRELABEL_PASSWORD)."""
    from prelabel.review.db import Database
    from prelabel.review.workforce import create_user as make

    u = make(Database(_state(state)), name, _password(password_stdin, name), role, actor="cli")
    console.print(f"created {u.role} {u.name}")


@review_app.command("set-password")
@friendly_errors
def set_password(
    name: str = typer.Argument(..., help="User name."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
    state: Path | None = typer.Option(None, "--state", help=STATE_HELP),
) -> None:
    """Set a user's password; their open sessions end."""
    from prelabel.review.db import Database
    from prelabel.review.workforce import set_password as change

    change(Database(_state(state)), name, _password(password_stdin, name), actor="cli")
    console.print(f"password of {name} changed; their sessions were ended")


@review_app.command("create-job")
@friendly_errors
def create_job(
    name: str = typer.Argument(..., help="Job name."),
    source: str = typer.Argument(..., help="Labels file or Ground Truth input manifest (path or URI)."),
    job_type: str = typer.Option("adjust", "--type", help="adjust (edit boxes) or verify (judge good/bad)."),
    categories: str | None = typer.Option(None, "--categories", help="Comma-separated classes; default: those found."),
    instructions: str = typer.Option("", "--instructions", help="Shown to workers (text, or @file to read it)."),
    frames: str | None = typer.Option(
        None, "--frames", help="Only these frames (routed to review): a file of ids, a labels file, or a,b,c."
    ),
    attribute: str | None = typer.Option(None, "--attribute", help="Output label attribute in the manifest."),
    source_attribute: str | None = typer.Option(
        None, "--source-attribute", help="The manifest's label attribute when a line holds several."
    ),
    state: Path | None = typer.Option(None, "--state", help=STATE_HELP),
    root: list[str] = typer.Option(
        [],
        "--root",
        help="Folder or s3:// prefix the portal may serve this job's frames from (repeatable); "
        "the source's own folder is always allowed.",
    ),
    kind: str = typer.Option(
        "auto",
        "--kind",
        help="frame (a task per frame), sequence (a task per sequence: timeline, track edits, interpolation) or "
        "auto (sequence for tracked 2D labels or a Ground Truth video-frame manifest).",
    ),
    chunk: int = typer.Option(100, "--chunk", help="Sequence jobs: at most this many frames per task."),
    chunk_overlap: int = typer.Option(
        0,
        "--chunk-overlap",
        help="Sequence jobs: frames each task shares with the next one of its sequence (a track crossing the border "
        "is in both; on export the later task's answer wins on the shared frames).",
    ),
) -> None:
    """Create a review job from pre-labels."""
    from prelabel.review.db import Database
    from prelabel.review.frames import normalise_root, source_root
    from prelabel.review.review_jobs import create_job as make
    from prelabel.review.sequence_tasks import choose_kind, create_sequence_job
    from prelabel.review.sources import load_job_source

    if instructions.startswith("@"):
        instructions = Path(instructions[1:]).read_text(encoding="utf-8")
    loaded = load_job_source(source, attribute=source_attribute)
    cats = [c for c in categories.split(",")] if categories else None
    sequence = choose_kind(kind, loaded.records, loaded.format, job_type) == "sequence"
    common: dict[str, Any] = {
        "source": source,
        "source_format": loaded.format,
        "source_attribute": loaded.attribute,
        "manifest_lines": loaded.lines,
        "categories": cats,
        "instructions": instructions,
        "frames": _frame_ids(frames),
        "attribute": attribute,
        "actor": "cli",
        "roots": [source_root(source), *(normalise_root(r) for r in root)],
    }
    db = Database(_state(state))
    if sequence:
        job, summary = create_sequence_job(db, name, loaded.records, chunk=chunk, overlap=chunk_overlap, **common)
    else:
        job, summary = make(db, name, job_type, loaded.records, **common)
    console.print(
        f"created {job.type} job {job.name} (id {job.id}): {summary['frames']} frames, {summary['labels']} boxes, "
        f"categories {', '.join(job.categories)}; output attribute {job.attribute}"
    )
    if sequence:
        console.print(
            f"sequence job: {summary['sequences']} sequences in {summary['tasks_per_worker']} tasks of at most "
            f"{chunk} frames"
            + (f" ({chunk_overlap} shared with the next)" if chunk_overlap else "")
            + f"; {summary['untracked']} boxes without a track id are kept as they are, not shown"
        )
    if summary["skipped_failed"]:
        console.print(
            f"skipped {len(summary['skipped_failed'])} failed frames: {', '.join(summary['skipped_failed'][:5])}"
        )


@review_app.command("assign")
@friendly_errors
def assign(
    job: str = typer.Argument(..., help="Job name or id."),
    workers: list[str] = typer.Argument(..., help="Worker names."),
    frames: str | None = typer.Option(None, "--frames", help="Only these frames: a file of ids or a,b,c."),
    state: Path | None = typer.Option(None, "--state", help=STATE_HELP),
) -> None:
    """Give workers tasks on a job (one task per frame per worker)."""
    from prelabel.review.db import Database
    from prelabel.review.tasks import assign as give

    n = give(Database(_state(state)), job, workers, frames=_frame_ids(frames), actor="cli")
    console.print(f"{n} new tasks for {', '.join(workers)} on {job}")


@review_app.command("jobs")
@friendly_errors
def list_jobs(state: Path | None = typer.Option(None, "--state", help=STATE_HELP)) -> None:
    """List review jobs."""
    from prelabel.review.db import Database
    from prelabel.review.review_jobs import frame_counts
    from prelabel.review.review_jobs import list_jobs as all_jobs

    db = Database(_state(state))
    jobs = all_jobs(db)
    counts = frame_counts(db)  # counted by SQLite, no record parsed
    for j in jobs:
        console.print(f"{j.id}\t{j.name}\t{j.type}\t{counts.get(j.id, 0)} frames\t{','.join(j.categories)}")


@review_app.command("export")
@friendly_errors
def export(
    job: str = typer.Argument(..., help="Job name or id."),
    out: str = typer.Option(..., "--out", "-o", help="Folder: <out>/<job>/manifests/output/output.manifest etc."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier export."),
    state: Path | None = typer.Option(None, "--state", help=STATE_HELP),
) -> None:
    """Write the Ground Truth output manifest, the raw worker responses and a labels file with review state."""
    from prelabel.review.db import Database
    from prelabel.review.export import export_job

    res = export_job(Database(_state(state)), job, out, overwrite=overwrite)
    console.print(
        f"{res['frames_reviewed']} of {res['frames']} frames reviewed ({res['worker_responses']} worker responses)\n"
        f"manifest: {res['manifest']}\nlabels:   {res['labels']}"
    )


@review_app.command("stats")
@friendly_errors
def stats(
    job: str = typer.Argument(..., help="Job name or id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    state: Path | None = typer.Option(None, "--state", help=STATE_HELP),
) -> None:
    """Pre-label quality figures of a job: acceptance rate, boxes added/removed/moved, mean IoU."""
    from prelabel.review.db import Database
    from prelabel.review.stats import job_stats

    s = job_stats(Database(_state(state)), job)
    if as_json:
        console.print_json(json.dumps(s))
        return
    rate = "-" if s["acceptance_rate"] is None else f"{100 * s['acceptance_rate']:.1f} %"
    iou = "-" if s["mean_iou"] is None else f"{s['mean_iou']:.3f}"
    console.print(
        f"job {s['job']} ({s['type']}): {s['frames_reviewed']}/{s['frames']} frames reviewed, "
        f"{s['tasks_submitted']}/{s['tasks']} tasks, workers {', '.join(s['workers']) or '-'}\n"
        f"pre-labels reviewed {s['prelabels_reviewed']}, accepted {s['accepted']} ({rate}), added {s['added']}, "
        f"removed {s['removed']}, moved {s['moved']}, reclassified {s['reclassified']}, mean IoU {iou}"
    )
    for c, v in s["per_class"].items():
        console.print(f"  {c}: {v['accepted']}/{v['prelabels']} accepted ({100 * v['acceptance_rate']:.1f} %)")


@review_app.command("serve")
@friendly_errors
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (loopback by default)."),
    port: int = typer.Option(8088, "--port", help="TCP port."),
    state: Path | None = typer.Option(None, "--state", help=STATE_HELP),
    root: list[str] = typer.Option(
        [],
        "--root",
        help="Folder or s3:// prefix frames may be served from and web-created jobs read from "
        "(repeatable); each job's own roots are allowed too.",
    ),
    allow_http_frames: bool = typer.Option(
        False,
        "--allow-http-frames",
        help="Let the server fetch http(s):// frame URIs (off: job data could make it fetch any URL).",
    ),
    public: bool = typer.Option(
        False,
        "--public",
        help="Allow listening beyond loopback (workers log in with passwords: put TLS in front, a reverse proxy).",
    ),
    allowed_host_names: list[str] = typer.Option(
        [],
        "--allowed-host",
        help="A Host name browsers use to reach the portal (loopback names are always allowed). Repeat for more; "
        "also PRELABEL_ALLOWED_HOSTS.",
    ),
) -> None:
    """Run the review portal alone (``prelabel serve`` also serves it, at /portal)."""
    import uvicorn

    from prelabel.httpguard import Guard, allowed_hosts, is_loopback
    from prelabel.review.db import Database
    from prelabel.review.web import create_portal_app
    from prelabel.review.workforce import list_users

    if not is_loopback(host) and not public:
        raise fail(
            f"refusing to listen on {host} (reachable from other machines) without --public: the portal's users "
            "log in with passwords, so serve it behind a reverse proxy with TLS, and name the host clients use "
            "with --allowed-host"
        )
    st = _state(state)
    if not any(u.role == "admin" for u in list_users(Database(st))):
        raise fail(f"no admin in {st}; create one first: prelabel review create-user NAME --role admin --state {st}")
    console.print(f"review portal on http://{host}:{port}/ (state {st})")
    app = create_portal_app(st, roots=root, allow_http_frames=allow_http_frames)
    guarded = Guard(app, hosts=allowed_hosts(host, allowed_host_names))  # DNS rebinding
    uvicorn.run(guarded, host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    app.add_typer(review_app, name="review")
