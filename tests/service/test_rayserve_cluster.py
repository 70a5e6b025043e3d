"""An endpoint on Ray Serve over a real two-node cluster; the worker node is killed with SIGKILL while invocations
run, and every invocation still completes exactly once (its output names it; none is lost or doubled)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from prelabel import raycluster
from prelabel.client import Client, ScalingPolicy
from prelabel.core.labels import FrameRecord
from prelabel.service.launch import ServiceProcess
from tests.conftest import REPO
from tests.service.conftest import service_options

pytestmark = [pytest.mark.slow, pytest.mark.ray]


def test_serve_endpoint_survives_the_loss_of_a_worker_node(
    ray_cluster: tuple[raycluster.ClusterNode, raycluster.ClusterNode],
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    frames: list[Path],
) -> None:
    head, worker = ray_cluster
    opts = service_options(tmp_path_factory)
    opts["extra_args"] = [*opts["extra_args"], "--ray-address", head.address]
    with (
        ServiceProcess(tmp_path / "state", ray=True, lease_s=5.0, cwd=REPO, **opts) as svc,
        Client(svc.url, timeout_s=180) as client,
    ):
        client.create_model("ssd", "ssd-mobilenet-v2-coco", threads=1)
        client.create_endpoint_config(
            "cfg", "ssd", output_path=str(tmp_path / "out"), max_concurrent_invocations_per_instance=1
        )
        # 0.5 CPU per replica, one CPU per node: four replicas need both nodes
        policy = ScalingPolicy(min_instances=4, max_instances=4, target_backlog_per_instance=1, scale_in_cooldown_s=60)
        client.create_endpoint("ray-ep", "cfg", policy, backend="ray")
        inputs = [f for _ in range(4) for f in frames]
        ids = [client.invoke_async("ray-ep", str(f)).inference_id for f in inputs]

        def replica_on_worker() -> bool:
            return any("ServeReplica" in cmd for cmd in raycluster.node_processes(worker).values())

        def completed() -> int:
            return sum(client.describe_invocation(i).status == "completed" for i in ids)

        deadline = time.monotonic() + 240
        while not (completed() >= 2 and replica_on_worker()) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert replica_on_worker(), "no replica was placed on the worker node"
        assert completed() < len(ids), "every invocation finished before the worker node was killed"
        killed = raycluster.kill_node(worker)
        assert any("ServeReplica" in cmd for cmd in killed.values())

        infos = client.wait_all(ids, timeout_s=300)
        assert [i.status for i in infos] == ["completed"] * len(ids)
        outputs = [Path(i.output_location) for i in infos]
        assert len(set(outputs)) == len(ids)  # one output per invocation
        for info, out in zip(infos, outputs, strict=True):
            rec = FrameRecord.from_json(out.read_text())
            assert rec.frame.meta["inference_id"] == info.inference_id
        client.delete_endpoint("ray-ep", force=True)
