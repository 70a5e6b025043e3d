"""Start and stop a local Ray on this machine with settings that are safe on a shared host.

- ``RAY_USAGE_STATS_ENABLED=0``: no usage reporting.
- ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` and ``127.0.0.1``: bind the loopback interface, not every interface.
- a ``HOME`` holding ``ray_bootstrap_config.yaml`` with ``provider: {type: local}``: Ray does not probe cloud
  metadata addresses to guess where it runs.
- a fresh ``_temp_dir`` per run (sessions never share sockets or logs), no dashboard.

Ray is imported inside the functions: importing :mod:`prelabel` never loads it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RAY_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_DEDUP_LOGS": "0",
}

_BOOTSTRAP = "provider:\n  type: local\n"


@dataclass
class LocalRay:
    """A Ray started by :func:`start_local_ray`: where its files live and what to restore on shutdown."""

    temp_dir: Path
    home: Path
    num_cpus: int
    owns_temp_dir: bool
    saved_env: dict[str, str | None] = field(default_factory=dict)
    address: str | None = None


_current: LocalRay | None = None


def ray_env(home: Path) -> dict[str, str]:
    """The environment variables a local Ray (driver and workers) should see."""
    return {**RAY_ENV, "HOME": str(home)}


def _prepare_home(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "ray_bootstrap_config.yaml").write_text(_BOOTSTRAP)


def start_local_ray(
    num_cpus: int | None = None,
    temp_dir: str | Path | None = None,
    *,
    object_store_memory: int | None = 200 * 1024 * 1024,
    runtime_env: dict[str, Any] | None = None,
) -> LocalRay:
    """Start Ray on this machine only (head + workers on 127.0.0.1) and connect this process to it.

    ``num_cpus``: logical CPUs Ray may schedule (default: the machine's count). ``temp_dir``: where Ray keeps
    its sockets and logs; default a fresh folder under the system temp dir, removed by :func:`shutdown`. If
    this process already started one, returns it.
    """
    global _current
    # Ray reads RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER when it is first imported: set the variables before that.
    os.environ.update(RAY_ENV)
    import ray
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False  # in case ray was imported before the variable was set

    if _current is not None and ray.is_initialized():
        return _current
    owns = temp_dir is None
    base = Path(tempfile.mkdtemp(prefix="prelabel-ray-")) if temp_dir is None else Path(temp_dir)
    base.mkdir(parents=True, exist_ok=True)
    # Ray's socket paths must stay under ~107 bytes: keep the session folder short.
    session_dir = base / "r"
    home = base / "home"
    _prepare_home(home)
    env = ray_env(home)
    # Ray's processes get HOME = the folder above: keep what the user's HOME held reachable (model cache, AWS files)
    user_home = Path.home()
    env["PRELABEL_CACHE"] = os.environ.get("PRELABEL_CACHE") or str(user_home / ".cache" / "prelabel")
    for var, name in (("AWS_SHARED_CREDENTIALS_FILE", "credentials"), ("AWS_CONFIG_FILE", "config")):
        if not os.environ.get(var) and (user_home / ".aws" / name).is_file():
            env[var] = str(user_home / ".aws" / name)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    cpus = int(num_cpus) if num_cpus is not None else (os.cpu_count() or 1)
    env_vars = {**env, **((runtime_env or {}).get("env_vars") or {})}
    rt_env = {**(runtime_env or {}), "env_vars": env_vars}
    try:
        info = ray.init(
            num_cpus=cpus,
            include_dashboard=False,
            _temp_dir=str(session_dir),
            _node_ip_address="127.0.0.1",
            object_store_memory=object_store_memory,
            runtime_env=rt_env,
            log_to_driver=False,
            configure_logging=False,
            ignore_reinit_error=False,
        )
    except BaseException:
        _restore_env(saved)
        if owns:
            shutil.rmtree(base, ignore_errors=True)
        raise
    # Ray's processes have started with the HOME above; this process gets the user's HOME back
    os.environ["HOME"] = str(user_home)
    address = getattr(info, "address_info", {}).get("address") if info is not None else None
    _current = LocalRay(temp_dir=base, home=home, num_cpus=cpus, owns_temp_dir=owns, saved_env=saved, address=address)
    return _current


def _restore_env(saved: dict[str, str | None]) -> None:
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def shutdown(cluster: LocalRay | None = None) -> None:
    """Stop the Ray this process started, restore the environment, remove its temp folder if we made it."""
    global _current
    import ray

    cluster = cluster or _current
    if ray.is_initialized():
        ray.shutdown()
    if cluster is not None:
        _restore_env(cluster.saved_env)
        if cluster.owns_temp_dir:
            shutil.rmtree(cluster.temp_dir, ignore_errors=True)
    if cluster is _current:
        _current = None
