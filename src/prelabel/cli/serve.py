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
        ray_address: str | None = typer.Option(
            None, "--ray-address", help="With Ray Serve endpoints: join this running cluster (head HOST:PORT)."
        ),
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
        log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
    ) -> None:
        """Serve async inference endpoints that scale to zero. API docs at http://HOST:PORT/docs."""
        import logging
        from pathlib import Path

        import uvicorn

        from prelabel.service.app import create_app

        logging.basicConfig(
            level=log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s", force=True
        )
        application = create_app(
            Path(state),
            tick_s=tick,
            lease_s=lease,
            ray=ray or bool(ray_address),
            ray_address=ray_address,
            webhook_attempts=webhook_attempts,
            webhook_backoff_s=webhook_backoff,
            webhook_backoff_max_s=webhook_backoff_max,
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
