"""``prelabel serve``: the asynchronous endpoint service (HTTP API, queue, workers, autoscaler) on one host."""

from __future__ import annotations

import typer

from prelabel.cli._common import console, friendly_errors


def register(app: typer.Typer) -> None:
    @app.command("serve")
    @friendly_errors
    def serve(
        host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (loopback by default)."),
        port: int = typer.Option(8080, "--port", help="TCP port."),
        state: str = typer.Option(
            "prelabel-service", "--state", help="Folder for the service state (SQLite), worker logs and payloads."
        ),
        ray: bool = typer.Option(False, "--ray", help="Also allow endpoints on Ray Serve (starts a local Ray)."),
        tick: float = typer.Option(0.25, "--tick", help="Seconds between autoscaler passes."),
        lease: float = typer.Option(30.0, "--lease", help="Seconds a worker's lease on an invocation lasts unrenewed."),
        webhook_attempts: int = typer.Option(
            10, "--webhook-attempts", min=1, help="Tries per webhook notice before it is marked failed."
        ),
        webhook_backoff: float = typer.Option(
            1.0, "--webhook-backoff", min=0.0, help="Seconds before a notice's 2nd try; doubles per try."
        ),
        webhook_backoff_max: float = typer.Option(
            300.0, "--webhook-backoff-max", min=0.0, help="Longest wait between two tries of a notice."
        ),
        max_pixels: int | None = typer.Option(
            None, "--max-pixels", min=1, help="Most decoded pixels per image (default PRELABEL_MAX_PIXELS or 64 M)."
        ),
        max_input_bytes: int | None = typer.Option(
            None, "--max-input-bytes", min=1, help="Largest input read (default PRELABEL_MAX_INPUT_BYTES or 256 MiB)."
        ),
        max_body_bytes: int | None = typer.Option(
            None, "--max-body-bytes", min=1, help="Largest request body (default PRELABEL_MAX_BODY_BYTES or 32 MiB)."
        ),
        write_attempts: int = typer.Option(
            3, "--write-attempts", min=1, help="Tries per output or error document before the invocation fails."
        ),
        max_failed_loads: int = typer.Option(
            3, "--max-failed-loads", min=1, help="Failed model loads in a row before an endpoint is marked failed."
        ),
        wake: bool = typer.Option(
            True, "--wake/--no-wake", help="Wake workers when work arrives (--no-wake: they poll SQLite every 50 ms)."
        ),
        log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
    ) -> None:
        """Serve async inference endpoints that scale to zero. API docs at http://HOST:PORT/docs."""
        import logging
        from pathlib import Path

        import uvicorn

        from prelabel import limits
        from prelabel.service.app import create_app

        logging.basicConfig(
            level=log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s", force=True
        )
        application = create_app(
            Path(state),
            tick_s=tick,
            lease_s=lease,
            ray=ray,
            webhook_attempts=webhook_attempts,
            webhook_backoff_s=webhook_backoff,
            webhook_backoff_max_s=webhook_backoff_max,
            limits=limits.current().with_overrides(max_pixels, max_input_bytes, max_body_bytes),
            write_attempts=write_attempts,
            max_failed_loads=max_failed_loads,
            worker_wake=wake,
        )
        console.print(f"prelabel service on http://{host}:{port} (state in {Path(state).absolute()}; docs at /docs)")
        uvicorn.run(
            application,
            host=host,
            port=port,
            log_level=log_level.lower(),
            access_log=log_level.lower() == "debug",
            timeout_graceful_shutdown=15,
        )
