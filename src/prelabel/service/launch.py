"""Start ``prelabel serve`` as a child process on 127.0.0.1 and wait until it answers (for scripts, examples,
benchmarks and tests that want a real service without a terminal of its own)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from prelabel.client import Client


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServiceProcess:
    """``with ServiceProcess(state_dir, roots=[data_dir]) as svc: svc.client()``. Stops the service (SIGTERM, then
    SIGKILL). ``roots``: storage roots (``--root``; default: the service's working directory); ``token``: the bearer
    token (written to ``<state_dir>/token``, passed with ``--token-file``); ``allow_python_models``:
    ``--allow-python-models``; ``extra_args``: more ``prelabel serve`` options, e.g. ``["--webhook-attempts", "3"]``."""

    def __init__(
        self,
        state_dir: str | Path,
        *,
        port: int | None = None,
        tick_s: float = 0.1,
        lease_s: float = 30.0,
        ray: bool = False,
        log_file: str | Path | None = None,
        env: dict[str, str] | None = None,
        cwd: str | Path | None = None,
        extra_args: list[str] | None = None,
        roots: list[str | Path] | None = None,
        token: str | None = None,
        allow_python_models: bool = False,
    ) -> None:
        self.state_dir = Path(state_dir).absolute()
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = token
        self.args = ["--tick", str(tick_s), "--lease", str(lease_s)] + (["--ray"] if ray else [])
        for root in roots or []:
            self.args += ["--root", str(root)]
        if token is not None:
            self.args += ["--token-file", str(self.state_dir / "token")]
        if allow_python_models:
            self.args.append("--allow-python-models")
        self.args += extra_args or []
        self.log_file = Path(log_file) if log_file else self.state_dir / "server.log"
        self.env = env
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self, timeout_s: float = 60.0) -> ServiceProcess:
        import httpx

        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        if self.token is not None:
            token_file = self.state_dir / "token"
            token_file.touch(mode=0o600)
            token_file.write_text(self.token + "\n")
        self._log = open(self.log_file, "ab")  # kept open for the child's lifetime
        cmd = [sys.executable, "-m", "prelabel.cli.main", "serve", "--port", str(self.port)]
        cmd += ["--state", str(self.state_dir), *self.args]
        self.proc = subprocess.Popen(
            cmd, stdout=self._log, stderr=subprocess.STDOUT, env={**os.environ, **(self.env or {})}, cwd=self.cwd
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prelabel serve exited with code {self.proc.returncode}; log: {self.log_file}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"prelabel serve did not answer within {timeout_s} s; log: {self.log_file}")

    def client(self, timeout_s: float = 60.0) -> Client:
        """A :class:`~prelabel.client.Client` of this service, with its token."""
        from prelabel.client import Client

        return Client(self.url, token=self.token, timeout_s=timeout_s)

    def kill(self) -> None:
        """SIGKILL the service process (its workers notice and stop on their own)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout_s: float = 30.0) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
