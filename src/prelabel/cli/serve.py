"""``prelabel serve``: the asynchronous endpoint service (HTTP API, queue, workers, autoscaler) on one host."""

from __future__ import annotations

from pathlib import Path

import typer

from prelabel.cli._common import console, friendly_errors

ROOT_HELP = (
    "Storage root every input, output and error-document location must be under: a folder, s3://bucket or "
    "s3://bucket/prefix. "
    "Repeat for more; also PRELABEL_STORAGE_ROOTS (comma-separated). Default on loopback: the working directory."
)


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
        token_file: Path | None = typer.Option(
            None,
            "--token-file",
            help="File whose first line is the bearer token every API request must carry (else "
            "PRELABEL_SERVICE_TOKEN). Required to listen beyond loopback.",
        ),
        roots: list[str] = typer.Option([], "--root", help=ROOT_HELP),
        allow_urls: list[str] = typer.Option(
            [],
            "--allow-url",
            help="An http(s)://host:port/prefix under which input/output locations may be fetched or PUT "
            "(none by default). Repeat for more; also PRELABEL_ALLOW_URLS.",
        ),
        allowed_host_names: list[str] = typer.Option(
            [],
            "--allowed-host",
            help="A Host name clients use to reach this server (loopback names are always allowed; '*' allows any, "
            "for a proxy that checks it). Repeat for more; also PRELABEL_ALLOWED_HOSTS.",
        ),
        allow_python_models: bool = typer.Option(
            False,
            "--allow-python-models",
            help="Accept python:module:factory model references (code the workers import and run). Off by default.",
        ),
        log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
    ) -> None:
        """Serve async inference endpoints that scale to zero. API docs at http://HOST:PORT/docs."""
        import logging
        import os

        import uvicorn

        from prelabel import access, limits
        from prelabel.errors import PrelabelError
        from prelabel.httpguard import allowed_hosts, check_bind, is_loopback, load_token
        from prelabel.service.app import create_app

        token = load_token(token_file)
        check_bind(host, token=token)
        root_specs = list(roots) or access.split_list(os.environ.get(access.ENV_ROOTS, ""))
        if not root_specs:
            if not is_loopback(host):
                raise PrelabelError(
                    f"refusing to listen on {host} without storage roots: name the folders and buckets the service "
                    "may read and write with --root DIR or --root s3://bucket/prefix (or PRELABEL_STORAGE_ROOTS)"
                )
            root_specs = [str(Path.cwd())]
        url_specs = list(allow_urls) or access.split_list(os.environ.get(access.ENV_ALLOW_URLS, ""))
        policy = access.AccessPolicy.from_specs(root_specs, url_specs)
        hosts = allowed_hosts(host, allowed_host_names)
        if allow_python_models:  # for processes started from here that load models (a local Ray's replicas)
            os.environ["PRELABEL_ALLOW_PYTHON_MODELS"] = "1"

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
            limits=limits.current().with_overrides(max_pixels, max_input_bytes, max_body_bytes),
            write_attempts=write_attempts,
            max_failed_loads=max_failed_loads,
            worker_wake=wake,
            policy=policy,
            token=token,
            hosts=hosts,
            allow_python_models=allow_python_models,
        )
        auth = "bearer token required" if token else "no token (loopback only)"
        console.print(
            f"prelabel service on http://{host}:{port} (state in {Path(state).absolute()}; docs at /docs)\n"
            f"{policy.describe()}; Host names: {', '.join(hosts)}; {auth}"
            + ("; python: models allowed" if allow_python_models else "")
        )
        uvicorn.run(
            application,
            host=host,
            port=port,
            log_level=log_level.lower(),
            access_log=log_level.lower() == "debug",
            timeout_graceful_shutdown=15,
        )
