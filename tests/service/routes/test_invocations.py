"""The invocation routes in process (no worker processes): a long poll answers with the final state that a worker
announces, a queued invocation on an endpoint without instances kicks the supervisor, bounds are validated."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from prelabel import access
from prelabel.service.app import create_app
from prelabel.service.store import Store
from prelabel.service.wake import announce
from tests.conftest import REPO

FRAME = REPO / "examples" / "sample_frames" / "000001.png"


def test_a_long_poll_answers_with_the_state_a_worker_announces(tmp_path: Path) -> None:
    state = tmp_path / "state"
    app = create_app(state, supervise=False, policy=access.AccessPolicy.from_specs([str(tmp_path), str(FRAME.parent)]))
    with TestClient(app, base_url="http://127.0.0.1") as c:
        assert c.post("/models", json={"name": "m", "model": "ssd-mobilenet-v2-coco"}).status_code == 201
        cfg = {"name": "c", "model_name": "m", "output_path": str(tmp_path / "out")}
        assert c.post("/endpoint-configs", json=cfg).status_code == 201
        assert c.post("/endpoints", json={"name": "e", "config_name": "c"}).status_code == 201
        r = c.post("/endpoints/e/async-invocations", params={"input_location": str(FRAME)})
        assert r.status_code == 202 and r.json()["status"] == "queued"
        iid = r.json()["inference_id"]
        assert c.get(f"/invocations/{iid}").json()["status"] == "queued"  # no wait_s: at once
        assert c.get(f"/invocations/{iid}", params={"wait_s": 0.05}).json()["status"] == "queued"  # nobody ran it

        def worker() -> None:  # what a worker process does, on its own connection: lease, finish, announce
            store = Store(state)
            (lease,) = store.lease("e", "w1", 1, lease_s=30)
            assert store.finish(lease.id, "w1", ok=True)
            announce(state, [lease.id])
            store.close()

        started = threading.Timer(0.3, worker)
        started.start()
        info = c.get(f"/invocations/{iid}", params={"wait_s": 20}).json()  # answered when the worker announces
        started.join()
        assert info["status"] == "completed" and info["attempts"] == 1
        for bad in ("-1", "21", "x"):
            r = c.get(f"/invocations/{iid}", params={"wait_s": bad})
            assert r.status_code == 422 and "wait_s" in r.text
        assert c.get("/invocations/nope", params={"wait_s": 5}).status_code == 404  # unknown: at once


def test_work_for_an_endpoint_without_instances_kicks_the_supervisor(tmp_path: Path) -> None:
    app = create_app(
        tmp_path / "state", supervise=False, policy=access.AccessPolicy.from_specs([str(tmp_path), str(FRAME.parent)])
    )
    kicks: list[int] = []
    app.state.ctx.kick_supervisor = lambda: kicks.append(1)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        c.post("/models", json={"name": "m", "model": "ssd-mobilenet-v2-coco"})
        c.post("/endpoint-configs", json={"name": "c", "model_name": "m", "output_path": str(tmp_path / "out")})
        c.post("/endpoints", json={"name": "e", "config_name": "c"})
        for inference_id in ("a", "a", "b"):  # the repeated id queues nothing the second time
            assert c.post(
                "/endpoints/e/async-invocations", params={"input_location": str(FRAME), "inference_id": inference_id}
            ).status_code == 202  # fmt: skip
    assert len(kicks) == 2


def test_describing_many_invocations_reads_the_store_twice_whatever_their_number(tmp_path: Path) -> None:
    """``POST /invocations/describe`` and an endpoint's list answer like one ``GET`` per id (order asked, notices
    included, an unknown id a 404), and read the repository in two queries (rows, then notices), not 2 per id."""
    from prelabel.service.views import invocation_infos

    app = create_app(
        tmp_path / "state", supervise=False, policy=access.AccessPolicy.from_specs([str(tmp_path), str(FRAME.parent)])
    )
    app.state.ctx.kick_supervisor = lambda: None
    with TestClient(app, base_url="http://127.0.0.1") as c:
        c.post("/models", json={"name": "m", "model": "ssd-mobilenet-v2-coco"})
        c.post("/endpoint-configs", json={"name": "c", "model_name": "m", "output_path": str(tmp_path / "out")})
        c.post("/endpoints", json={"name": "e", "config_name": "c"})
        ids = [f"i{n}" for n in range(12)]
        for iid in ids:
            params = {"input_location": str(FRAME), "inference_id": iid}
            assert c.post("/endpoints/e/async-invocations", params=params).status_code == 202
        store = app.state.ctx.store
        for _ in range(3):  # i0, i1, i2 finished with a notice each, so notices are grouped per invocation
            (lease,) = store.lease("e", "w", 1, 30)
            payload = {"event": "success", "inference_id": lease.id, "endpoint": "e"}
            assert store.finish(lease.id, "w", ok=True, notice=("http://127.0.0.1:9/hook", payload))
        asked = [ids[5], ids[0], ids[11], ids[0], ids[2]]
        one_by_one = [c.get(f"/invocations/{i}").json() for i in asked]
        assert c.post("/invocations/describe", json={"ids": asked}).json() == one_by_one
        assert [i["status"] for i in one_by_one] == ["queued", "completed", "queued", "completed", "completed"]
        assert [len(i["notices"]) for i in one_by_one] == [0, 1, 0, 1, 1]
        assert one_by_one[1]["notices"][0]["key"] == "i0:success"
        listed = c.get("/endpoints/e/invocations").json()
        assert listed == [c.get(f"/invocations/{i}").json() for i in ids]
        r = c.post("/invocations/describe", json={"ids": [ids[1], "nope", "gone"]})
        assert r.status_code == 404 and "'nope'" in r.text

        reads: list[str] = []
        store.db.set_trace_callback(reads.append)  # this thread's connection, which the call below uses
        try:
            infos = invocation_infos(app.state.ctx, ids * 10)
        finally:
            store.db.set_trace_callback(None)
        assert [i.inference_id for i in infos] == ids * 10
        assert len(reads) == 2, reads


def test_the_fast_path_answers_as_the_route_and_leaves_the_rest_to_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prelabel.service import fastpath

    served: list[str] = []
    real_accept = fastpath.accept

    def watched(ctx: Any, name: str, *args: Any) -> Any:  # the fast path's own calls of the route's work
        served.append(name)
        return real_accept(ctx, name, *args)

    monkeypatch.setattr(fastpath, "accept", watched)
    policy = access.AccessPolicy.from_specs([str(tmp_path), str(FRAME.parent)])
    app = create_app(tmp_path / "state", supervise=False, policy=policy, token="a-token-of-16-chars-or-more")
    auth = {"Authorization": "Bearer a-token-of-16-chars-or-more"}
    with TestClient(app, base_url="http://127.0.0.1", headers=auth) as c:
        c.post("/models", json={"name": "m", "model": "ssd-mobilenet-v2-coco"})
        c.post("/endpoint-configs", json={"name": "c", "model_name": "m", "output_path": str(tmp_path / "out")})
        c.post("/endpoints", json={"name": "e", "config_name": "c"})
        url = "/endpoints/e/async-invocations"
        plain = {"input_location": str(FRAME), "inference_id": "same", "min_score": "0.5"}
        fast = c.post(url, params=plain)
        assert served == ["e"]
        routed = c.post(url, params={**plain, "other": "1"})  # a parameter it does not know: FastAPI's route
        assert served == ["e"]
        assert (fast.status_code, fast.json()) == (routed.status_code, routed.json()) == (202, routed.json())
        assert fast.headers["content-type"] == routed.headers["content-type"] == "application/json"
        assert fast.json()["output_location"] == str(tmp_path / "out" / "same.json")

        # what the route refuses is answered by the route, with its documented error
        assert c.post(url, params={"input_location": str(FRAME)}, headers={"Authorization": ""}).status_code == 401
        assert c.post("/endpoints/nope/async-invocations", params={"input_location": str(FRAME)}).json() == {
            "error": "endpoint 'nope' not found; existing: e"
        }
        assert c.post(url, params={"input_location": "/etc/passwd"}).status_code == 403
        assert c.post(url, params={"input_location": "relative.png"}).status_code == 422
        assert c.post(url, params={"input_location": str(FRAME), "inference_id": "a/b"}).status_code == 422
        assert c.post(url, params={"input_location": str(FRAME), "min_score": "1.5"}).status_code == 422
        other = tmp_path / "other.png"
        other.write_bytes(FRAME.read_bytes())
        assert c.post(url, params={"input_location": str(other), "inference_id": "same"}).status_code == 409
        # tried and then answered by the route: the unknown endpoint, both locations, the conflict; the token,
        # the bad id and the bad score never reach the fast path
        assert served == ["e", "nope", "e", "e", "e"]
