"""The attacks of issue 13 (findings 1 and 8) against a real ``prelabel serve`` started the way an operator would
for a team (a token, storage roots, one allowed URL prefix, python: models off), and the bind refusals of both
servers. Every request goes to 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from prelabel.client import Client, ServiceError
from prelabel.service.launch import ServiceProcess, free_port
from tests.conftest import KITTI, REPO

TOKEN = "team-token-0123456789abcdef"
ALLOWED = "/allowed"


class Locked:
    def __init__(self, svc: ServiceProcess, root: Path, outside: Path, http_port: int) -> None:
        self.svc, self.root, self.outside, self.http_port = svc, root, outside, http_port
        self.url = svc.url
        self.auth = {"Authorization": f"Bearer {TOKEN}"}

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", headers={**self.auth, **kwargs.pop("headers", {})}, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", headers={**self.auth, **kwargs.pop("headers", {})}, **kwargs)


@pytest.fixture(scope="module")
def locked(tmp_path_factory: pytest.TempPathFactory, kitti: Path) -> Iterator[Locked]:
    base = tmp_path_factory.mktemp("locked")
    root, outside = base / "root", base / "outside"
    (root / "frames").mkdir(parents=True)
    outside.mkdir()
    shutil.copy(KITTI / "image_2" / "000008.png", root / "frames" / "000008.png")
    (outside / "secret.png").write_bytes(b"secret")
    http_port = free_port()  # nothing listens there: only whether the location is accepted matters
    svc = ServiceProcess(
        root / ".state",  # inside the root: its database and token must still be out of reach
        tick_s=0.1,
        cwd=REPO,
        roots=[root],
        token=TOKEN,
        extra_args=["--allow-url", f"http://127.0.0.1:{http_port}{ALLOWED}"],
    ).start()
    yield Locked(svc, root, outside, http_port)
    svc.stop()


@pytest.fixture(scope="module")
def endpoint(locked: Locked) -> str:
    with locked.svc.client() as c:
        c.create_model("ssd", "ssd-mobilenet-v2-coco", threads=1)
        c.create_endpoint_config("cfg", "ssd", output_path=str(locked.root / "out"))
        c.create_endpoint("ep", "cfg")
    return "ep"


# ---- authentication and Host
def test_the_api_needs_the_token_and_health_does_not(locked: Locked) -> None:
    r = httpx.get(f"{locked.url}/models")
    assert r.status_code == 401 and "Authorization: Bearer" in r.json()["error"]
    assert r.headers["www-authenticate"].startswith("Bearer")
    wrong = httpx.get(f"{locked.url}/models", headers={"Authorization": "Bearer " + "x" * len(TOKEN)})
    assert wrong.status_code == 401 and "wrong" in wrong.json()["error"]
    assert httpx.get(f"{locked.url}/models", headers={"Authorization": TOKEN}).status_code == 401  # no scheme
    assert locked.get("/models").status_code == 200
    assert httpx.get(f"{locked.url}/health").json() == {"status": "ok"}  # no state path to strangers
    spec = httpx.get(f"{locked.url}/openapi.json").json()
    assert spec["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    with Client(locked.url) as anonymous, pytest.raises(ServiceError, match="401"):
        anonymous.describe_model("x")
    with Client(locked.url, token=TOKEN) as c, pytest.raises(ServiceError, match="404"):
        c.describe_model("x")


def test_a_foreign_host_header_is_refused(locked: Locked) -> None:
    """DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends Host: evil.example, with or without the
    token (a browser would not have it, but the refusal does not depend on it)."""
    for headers in ({"Host": "evil.example"}, {"Host": "evil.example", **locked.auth}):
        r = httpx.get(f"{locked.url}/models", headers=headers)
        assert r.status_code == 400 and "Host header 'evil.example' is not an allowed name" in r.json()["error"]
    assert httpx.get(f"{locked.url}/health", headers={"Host": "evil.example:80"}).status_code == 400
    ok = httpx.get(f"{locked.url}/models", headers={"Host": f"localhost:{locked.svc.port}", **locked.auth})
    assert ok.status_code == 200


# ---- code execution
def test_the_rce_attempt_through_post_models_is_refused(locked: Locked, tmp_path: Path) -> None:
    pwned = tmp_path / "pwned"
    body = {"name": "evil", "model": "python:os:system", "options": {"command": f"id > {pwned}"}}
    r = locked.post("/models", json=body)
    assert r.status_code == 403 and "--allow-python-models" in r.json()["error"]
    assert locked.get("/models/evil").status_code == 404
    assert not pwned.exists()


def test_model_files_and_registries_outside_the_roots_are_refused(locked: Locked) -> None:
    for body in (
        {"name": "f", "model": "/etc/no-such-model.onnx"},
        {"name": "f", "model": str(locked.outside / "model.onnx")},
        {"name": "r", "model": "team/det@1", "options": {"registry": "/etc"}},
    ):
        r = locked.post("/models", json=body)
        assert r.status_code == 403, r.text
        assert "not under a storage root" in r.json()["error"]


# ---- storage confinement
def test_a_file_outside_the_roots_and_a_missing_one_get_the_same_refusal(locked: Locked, endpoint: str) -> None:
    answers = []
    for path in ("/etc/shadow", "/etc/no-such-file-here", str(locked.outside / "secret.png")):
        r = locked.post(f"/endpoints/{endpoint}/async-invocations", params={"input_location": path})
        assert r.status_code == 403, r.text
        answers.append(r.json()["error"].replace(path, "PATH"))
    assert answers[0] == answers[1] == answers[2] and "not under a storage root" in answers[0]


def test_dot_dot_and_symlinks_out_of_a_root_are_refused(locked: Locked, endpoint: str) -> None:
    climb = f"{locked.root}/out/../../outside"
    r = locked.post("/endpoint-configs", json={"name": "climb", "model_name": "ssd", "output_path": climb})
    assert r.status_code == 403 and "output_path" in r.json()["error"]
    r = locked.post(
        "/endpoint-configs",
        json={"name": "climb", "model_name": "ssd", "output_path": str(locked.root / "a"), "failure_path": climb},
    )
    assert r.status_code == 403 and "failure_path" in r.json()["error"]
    # `..` that stays inside a root is folded, not refused
    r = locked.post(
        "/endpoint-configs", json={"name": "inside", "model_name": "ssd", "output_path": f"{locked.root}/x/../out2"}
    )
    assert r.status_code == 201 and r.json()["output_path"] == str(locked.root / "out2")
    (locked.root / "zero.png").symlink_to("/dev/zero")
    (locked.root / "leak.png").symlink_to(locked.outside / "secret.png")
    for name in ("zero.png", "leak.png", "../outside/secret.png", ".state/token", ".state/service.sqlite3"):
        r = locked.post(f"/endpoints/{endpoint}/async-invocations", params={"input_location": f"{locked.root}/{name}"})
        assert r.status_code == 403, (name, r.text)


def test_http_locations_only_under_an_allowed_prefix(locked: Locked, endpoint: str) -> None:
    base = f"http://127.0.0.1:{locked.http_port}"
    for location in (
        f"http://127.0.0.1:{locked.http_port + 1}{ALLOWED}/a.png",  # another port
        f"{base}/admin/a.png",
        f"{base}{ALLOWED}/../admin/a.png",  # climbs out of the prefix
        f"http://127.0.0.1:{locked.http_port}@169.254.169.254{ALLOWED}/a.png",  # user info
        "http://169.254.169.254/latest/meta-data/",
    ):
        r = locked.post(f"/endpoints/{endpoint}/async-invocations", params={"input_location": location})
        error = r.json()["error"]
        assert r.status_code == 403 and ("--allow-url" in error or "user info" in error), (location, r.text)
    r = locked.post("/endpoint-configs", json={"name": "put", "model_name": "ssd", "output_path": f"{base}/x"})
    assert r.status_code == 403
    r = locked.post("/endpoint-configs", json={"name": "put", "model_name": "ssd", "output_path": f"{base}{ALLOWED}"})
    assert r.status_code == 201, r.text
    r = locked.post(
        f"/endpoints/{endpoint}/async-invocations", params={"input_location": f"{base}{ALLOWED}/frames/a.png"}
    )
    assert r.status_code == 202, r.text
    # the URLs the server calls by itself: webhooks and endpoints used as models
    hook = {"name": "hooked", "model_name": "ssd", "output_path": str(locked.root / "h")}
    r = locked.post("/endpoint-configs", json={**hook, "error_webhook": "http://169.254.169.254/latest/x"})
    assert r.status_code == 403 and "error_webhook" in r.json()["error"]
    r = locked.post("/endpoint-configs", json={**hook, "success_webhook": "file:///etc/passwd"})
    assert r.status_code == 422 and "http(s)://" in r.json()["error"]
    r = locked.post("/endpoint-configs", json={**hook, "success_webhook": f"{base}{ALLOWED}/hooks"})
    assert r.status_code == 201, r.text
    r = locked.post("/models", json={"name": "remote", "model": "http://10.0.0.1:8080/endpoints/x"})
    assert r.status_code == 403 and "--allow-url" in r.json()["error"]
    for scheme in ("gs://bucket/a.png", "ftp://127.0.0.1/a.png", "memory://a.png", "simplecache::s3://b/a.png"):
        r = locked.post(f"/endpoints/{endpoint}/async-invocations", params={"input_location": scheme})
        assert r.status_code == 403, (scheme, r.text)


def test_a_worker_reads_regular_files_only(locked: Locked, endpoint: str) -> None:
    """A FIFO inside a root passes the location check; the worker refuses it without blocking on it, and the
    endpoint goes on serving real frames."""
    fifo = locked.root / "frames" / "fifo.png"
    os.mkfifo(fifo)
    with locked.svc.client() as c:
        bad = c.invoke_async(endpoint, str(fifo))
        good = c.invoke_async(endpoint, str(locked.root / "frames" / "000008.png"))
        infos = c.wait_all([bad.inference_id, good.inference_id], timeout_s=120)
        assert [i.status for i in infos] == ["failed", "completed"]
        assert "regular file" in (infos[0].error or "")
        assert c.error_document(bad.inference_id)["error_type"] == "UnreadableInputError"


# ---- API shape (finding 8)
def test_every_error_is_an_error_document_in_the_openapi_document(locked: Locked) -> None:
    not_utf8 = locked.post("/models", content=b"\xff\xfe{", headers={"content-type": "application/json"})
    assert not_utf8.status_code == 400 and set(not_utf8.json()) == {"error"}
    wrong_method = httpx.put(f"{locked.url}/models", headers=locked.auth)
    assert wrong_method.status_code == 405 and "PUT is not allowed" in wrong_method.json()["error"]
    assert wrong_method.headers["allow"] == "GET, POST"
    describe = httpx.get(f"{locked.url}/invocations/describe", headers=locked.auth)  # GET /invocations/{id} too
    options = httpx.options(f"{locked.url}/invocations/describe", headers=locked.auth)
    assert describe.status_code == 404 and options.status_code == 405 and options.headers["allow"] == "POST"
    options = httpx.options(f"{locked.url}/endpoints/ep", headers=locked.auth)
    assert options.headers["allow"] == "DELETE, GET" and set(options.json()) == {"error"}
    no_route = locked.get("/no/such/route")
    assert no_route.status_code == 404 and "no route" in no_route.json()["error"]
    invalid = locked.post("/models", json={"name": "", "model": "ssd-mobilenet-v2-coco"})
    assert invalid.status_code == 422 and "body.name" in invalid.json()["error"]
    scaling = {"name": "e2", "config_name": "cfg", "scaling": {"min_instances": 3, "max_instances": 1}}
    r = locked.post("/endpoints", json=scaling)
    assert r.status_code == 422 and "min_instances (3) must not exceed max_instances (1)" in r.json()["error"]

    spec = httpx.get(f"{locked.url}/openapi.json").json()
    assert spec["components"]["schemas"]["ErrorDocument"]["required"] == ["error"]
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for status in ("400", "401", "403", "404", "409", "413", "415", "422"):
                ref = op["responses"][status]["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/ErrorDocument"), (method, path, status)
    # the schema itself says min_instances <= max_instances: no k between 3 and 1 exists
    policy = spec["components"]["schemas"]["ScalingPolicy"]
    assert any(
        alt["properties"]["min_instances"]["maximum"] == alt["properties"]["max_instances"]["minimum"] == 2
        for alt in policy["anyOf"]
    )


# ---- binding beyond loopback
def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("PRELABEL_SERVICE_TOKEN", "PRELABEL_STORAGE_ROOTS")}
    return subprocess.run(
        [sys.executable, "-m", "prelabel.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**environ, "COLUMNS": "200", **(env or {})},  # help text unwrapped
    )


def _nothing_listens(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_serve_beyond_loopback_is_refused_without_a_token_and_roots(tmp_path: Path) -> None:
    helped = _cli("serve", "--help")
    assert helped.returncode == 0 and "--allow-python-models" in helped.stdout and "--token-file" in helped.stdout
    port = free_port()
    r = _cli("serve", "--host", "0.0.0.0", "--port", str(port), "--state", str(tmp_path / "s"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "refusing to listen on 0.0.0.0" in r.stderr and "--token-file" in r.stderr
    assert _nothing_listens(port)
    short = tmp_path / "short"
    short.write_text("abc\n")
    r = _cli("serve", "--host", "0.0.0.0", "--port", str(port), "--token-file", str(short))
    assert r.returncode == 2 and "at least 16 characters" in r.stderr
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    r = _cli("serve", "--host", "0.0.0.0", "--port", str(port), "--token-file", str(token))
    assert r.returncode == 2 and "without storage roots" in r.stderr and "--root" in r.stderr
    assert _nothing_listens(port)
    r = _cli("serve", "--port", str(port), "--root", str(tmp_path / "no-such-folder"))
    assert r.returncode == 2 and "expected an existing folder" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.server  # starts the review portal
def test_review_serve_beyond_loopback_needs_public_and_checks_host(tmp_path: Path) -> None:
    state = tmp_path / "review"
    port = free_port()
    r = _cli("review", "serve", "--host", "0.0.0.0", "--port", str(port), "--state", str(state))
    assert r.returncode == 2 and "--public" in r.stderr and "TLS" in r.stderr
    assert _nothing_listens(port)
    create = ["review", "create-user", "boss", "--role", "admin", "--password-stdin", "--state", str(state)]
    made = subprocess.run(
        [sys.executable, "-m", "prelabel.cli.main", *create],
        input="boss-pass-1\n",
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert made.returncode == 0, made.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "prelabel.cli.main", "review", "serve", "--port", str(port), "--state", str(state)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while _nothing_listens(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        url = f"http://127.0.0.1:{port}/login"
        assert httpx.get(url).status_code == 200
        evil = httpx.get(url, headers={"Host": "evil.example"})
        assert evil.status_code == 400 and "evil.example" in evil.json()["error"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.server  # starts a service process
def test_temporary_files_of_killed_writes_are_removed_at_start(tmp_path: Path) -> None:
    """A worker killed between writing an output's temporary file and linking it into place leaves
    ``.<name>.<random>.tmp`` in the output folder; the next start of the service removes it (and nothing else)."""
    out, state = tmp_path / "out", tmp_path / "state"
    with ServiceProcess(state, cwd=REPO, roots=[tmp_path]) as svc, svc.client() as c:
        c.create_model("ssd", "ssd-mobilenet-v2-coco", threads=1)
        c.create_endpoint_config("cfg", "ssd", output_path=str(out))
    (out / "failures").mkdir(parents=True)
    leftovers = [out / ".0a1b.json.k2j3h4g5.tmp", out / "failures" / ".0a1b.error.json.x_9y8z7w.tmp"]
    leftovers += [out / ".0a1c.k2j3h4g5.tmp.json"]  # the name storage.atomic_local gives today
    kept = [out / "0a1b.json", out / ".notes.tmp", out / "draft.tmp"]  # a result, and files that are not ours
    for p in leftovers + kept:
        p.write_text('{"half')
    with ServiceProcess(state, cwd=REPO, roots=[tmp_path]):
        assert not any(p.exists() for p in leftovers)
        assert all(p.exists() for p in kept)


@pytest.mark.server  # starts a service process
@pytest.mark.usefixtures("shared_data")  # reads the shared data
def test_a_python_model_registered_earlier_does_not_run_once_the_flag_is_off(tmp_path: Path) -> None:
    """Registered while the operator allowed python: models; after a restart without --allow-python-models its
    endpoint cannot be created, and an existing one's workers refuse to import it: the invocation fails."""
    state, out = tmp_path / "state", tmp_path / "out"
    frame = tmp_path / "000008.png"
    shutil.copy(KITTI / "image_2" / "000008.png", frame)
    with ServiceProcess(state, cwd=REPO, roots=[tmp_path], allow_python_models=True) as svc, svc.client() as c:
        c.create_model("custom", "python:tests.service.detectors:SlowSSD", delay_s=0.0)
        c.create_endpoint_config("cfg", "custom", output_path=str(out))
        c.create_endpoint("ep", "cfg")
    with ServiceProcess(state, tick_s=0.1, cwd=REPO, roots=[tmp_path]) as svc, svc.client() as c:
        with pytest.raises(ServiceError, match=r"403.*--allow-python-models"):
            c.create_endpoint("ep2", "cfg")
        inv = c.invoke_async("ep", str(frame))
        info = c.wait(inv.inference_id, timeout_s=120)
        assert info.status == "failed" and "--allow-python-models" in (info.error or "")
        assert not out.joinpath(f"{inv.inference_id}.json").exists()
