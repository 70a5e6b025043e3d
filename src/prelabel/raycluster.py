"""Start and stop a local Ray on this machine with settings that are safe on a shared host.

- ``RAY_USAGE_STATS_ENABLED=0``: no usage reporting.
- ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` and ``127.0.0.1``: bind the loopback interface, not every interface.
- a ``HOME`` holding ``ray_bootstrap_config.yaml`` with ``provider: {type: local}``: Ray does not probe cloud
  metadata addresses to guess where it runs.
- a fresh ``_temp_dir`` per run (sessions never share sockets or logs), no dashboard.

Ray is imported inside the functions: importing :mod:`prelabel` never loads it.
"""

from __future__ import annotations

import contextlib
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


# --- a multi-node cluster on this machine: `ray start --head` + `ray start --address`, as on real hosts ---------

CLUSTER_ENV = {**RAY_ENV, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1"}
"""Multi-node mode. Ray then binds its gRPC ports on the node address it is given; on some versions also on every
interface (a boundary we do not own): run clusters on a private network, as docs/bulk.md says."""


@dataclass
class ClusterNode:
    """One ``ray start`` node process tree: head (``address`` is where others join) or worker."""

    head: bool
    address: str
    temp_dir: Path
    node_manager_port: int


def _ray_bin() -> str:
    import sys

    exe = Path(sys.executable).with_name("ray")
    return str(exe) if exe.exists() else "ray"


def cluster_env(base: Path) -> dict[str, str]:
    home = base / "home"
    _prepare_home(home)
    env = {**os.environ, **CLUSTER_ENV, "HOME": str(home)}
    env.setdefault("PRELABEL_CACHE", str(Path.home() / ".cache" / "prelabel"))
    return env


def start_node(
    base: str | Path,
    *,
    address: str | None = None,
    port: int = 26379,
    num_cpus: int = 1,
    node_manager_port: int = 0,
    object_store_memory: int = 100 * 1024 * 1024,
) -> ClusterNode:
    """Start a head node (``address`` None, GCS on 127.0.0.1:``port``) or a worker joining ``address``.

    ``base``: the cluster's folder (HOME with the local-provider bootstrap file, Ray's temp dir). The node runs
    in the background until :func:`stop_cluster`; ``node_manager_port`` (0 = Ray picks) identifies its raylet.
    """
    import subprocess

    base = Path(base)
    temp_dir = base / "t"
    env = cluster_env(base)
    cmd = [
        _ray_bin(),
        "start",
        "--node-ip-address=127.0.0.1",
        f"--num-cpus={num_cpus}",
        f"--object-store-memory={object_store_memory}",
        "--disable-usage-stats",
    ]
    if node_manager_port:
        cmd.append(f"--node-manager-port={node_manager_port}")
    head = address is None
    if address is None:
        cmd += ["--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={temp_dir}"]
        address = f"127.0.0.1:{port}"
    else:
        cmd.append(f"--address={address}")
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        from prelabel.errors import PrelabelError

        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise PrelabelError(f"ray start failed ({' '.join(cmd[1:])}): {' | '.join(tail)}")
    return ClusterNode(head=head, address=address, temp_dir=temp_dir, node_manager_port=node_manager_port)


def _processes() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line) for every process we can see (Linux /proc)."""
    out: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        out[int(entry.name)] = (ppid, cmd)
    return out


def _tree(roots: set[int], procs: dict[int, tuple[int, str]]) -> set[int]:
    found = set(roots)
    grew = True
    while grew:
        grew = False
        for pid, (ppid, _) in procs.items():
            if ppid in found and pid not in found:
                found.add(pid)
                grew = True
    return found


def _kill(pids: set[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def node_processes(node: ClusterNode) -> dict[int, str]:
    """pid -> command line of a worker node's raylet and every process under it (actors show as ``ray::...``)."""
    if not node.node_manager_port:
        raise ValueError("only a node started with an explicit node_manager_port can be picked out")
    procs = _processes()
    roots = {
        pid
        for pid, (_, cmd) in procs.items()
        if f"--node_manager_port={node.node_manager_port}" in cmd and str(node.temp_dir) in cmd
    }
    return {pid: procs[pid][1] for pid in _tree(roots, procs) if pid in procs}


def kill_node(node: ClusterNode) -> dict[int, str]:
    """``kill -9`` a worker node's raylet and every process under it (its actors die with it); returns them."""
    import signal

    victims = node_processes(node)
    _kill(set(victims), signal.SIGKILL)
    return victims


def stop_cluster(base: str | Path, grace_s: float = 5.0) -> None:
    """Stop every node started from ``base`` on this machine (its processes alone: other Rays are left running)."""
    import signal
    import time

    marker = str(Path(base))
    procs = _processes()
    pids = _tree({pid for pid, (_, cmd) in procs.items() if marker in cmd}, procs) - {os.getpid()}
    _kill(pids, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in pids):
        time.sleep(0.1)
    _kill({p for p in pids if Path(f"/proc/{p}").exists()}, signal.SIGKILL)


def connect(address: str, runtime_env: dict[str, Any] | None = None) -> None:
    """Connect this process to a running cluster as its driver (loopback node address; no local start)."""
    os.environ.update(CLUSTER_ENV)
    import ray

    if ray.is_initialized():
        return
    env_vars = {k: v for k, v in os.environ.items() if k in ("PRELABEL_CACHE", "PYTHONPATH")}
    rt = {**(runtime_env or {}), "env_vars": {**env_vars, **((runtime_env or {}).get("env_vars") or {})}}
    ray.init(
        address=address, _node_ip_address="127.0.0.1", runtime_env=rt, log_to_driver=False, configure_logging=False
    )
