"""Distributed mode: the same endpoint API on Ray Serve (a local Ray started by the service through
prelabel.raycluster), the policy mapped onto autoscaling_config with min_replicas 0, scaling from zero and back."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from prelabel.client import Client, ScalingPolicy
from prelabel.core.labels import FrameRecord
from prelabel.service.launch import ServiceProcess
from prelabel.service.rayserve import ray_autoscaling_config
from tests.conftest import KITTI, REPO


@pytest.mark.ray
def test_policy_maps_one_to_one_onto_ray_serve() -> None:
    p = ScalingPolicy(
        min_instances=0,
        max_instances=3,
        target_backlog_per_instance=5,
        scale_in_cooldown_s=300,
        scale_out_cooldown_s=60,
    )
    assert ray_autoscaling_config(p) == {
        "min_replicas": 0,
        "initial_replicas": 0,
        "max_replicas": 3,
        "target_ongoing_requests": 5.0,
        "upscale_delay_s": 60.0,
        "downscale_delay_s": 300.0,
        "downscale_to_zero_delay_s": 300.0,
        "look_back_period_s": 30.0,
    }
    from ray.serve.config import AutoscalingConfig

    AutoscalingConfig(**ray_autoscaling_config(p))  # Ray accepts it as is


@pytest.mark.slow
@pytest.mark.ray
def test_endpoint_on_ray_serve_scales_from_zero_and_back(tmp_path: Path, frames: list[Path]) -> None:
    svc = ServiceProcess(tmp_path / "state", ray=True, cwd=REPO, roots=[tmp_path, KITTI])
    with svc, Client(svc.url, timeout_s=180) as client:
        client.create_model("ssd", "ssd-mobilenet-v2-coco", threads=1)
        client.create_endpoint_config(
            "cfg", "ssd", output_path=str(tmp_path / "out"), max_concurrent_invocations_per_instance=2
        )
        policy = ScalingPolicy(max_instances=1, target_backlog_per_instance=2, scale_in_cooldown_s=2)
        ep = client.create_endpoint("ray-ep", "cfg", policy, backend="ray")
        assert (ep.backend, ep.instances) == ("ray", 0)
        ids = [client.invoke_async("ray-ep", str(f)).inference_id for f in frames[:4]]
        infos = client.wait_all(ids, timeout_s=120)
        assert [i.status for i in infos] == ["completed"] * 4
        for i in infos:
            rec = FrameRecord.from_json(Path(i.output_location).read_text())
            assert rec.frame.meta["inference_id"] == i.inference_id
        assert any(lab.category == "car" for i in infos for lab in client.result(i.inference_id).labels)
        bad = client.invoke_async("ray-ep", str(tmp_path / "missing.png"))
        assert client.wait(bad.inference_id, timeout_s=60).status == "failed"
        assert "input not found" in client.error_document(bad.inference_id)["error"]

        deadline = time.monotonic() + 90
        while client.describe_endpoint("ray-ep").instances and time.monotonic() < deadline:
            time.sleep(1)
        events = client.scaling_events("ray-ep")
        assert '"min_replicas": 0' in events[0].reason
        moves = [(e.action, e.from_instances, e.to_instances) for e in events[1:]]
        assert moves[0] == ("scale_out", 0, 1) and moves[-1] == ("scale_in", 1, 0), moves
        assert 'prelabel_endpoint_instances{endpoint="ray-ep"} 0' in client.metrics()
        client.delete_endpoint("ray-ep")
