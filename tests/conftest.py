"""Shared fixtures: where the real data is, and models loaded once per session."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("PRELABEL_SHARED_DATA", REPO.parent / "shared" / "data"))
KITTI = SHARED_DATA / "kitti" / "training"


#: Fixtures that tie a test to the shared data, to real model weights or to a server process. Tests using any of
#: them (directly or through other fixtures) are marked automatically; ``make test-fast`` leaves them out.
NEEDS = {
    "data": {"shared_data"},
    "model": {"ssd", "zoo_detectors", "sam", "ssd_kitti", "nanodet_kitti"},
    "server": {"s3_server", "server", "service", "label_studio", "webhooks", "ray_cluster"},
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for marker, fixtures in NEEDS.items():
            if used & fixtures:
                item.add_marker(marker)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session", autouse=True)
def _private_job_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Jobs that tests start keep their state in a temporary folder, never in the user's ~/.local/state."""
    old = os.environ.get("PRELABEL_STATE")
    os.environ["PRELABEL_STATE"] = str(tmp_path_factory.mktemp("job-state"))
    yield
    if old is None:
        os.environ.pop("PRELABEL_STATE", None)
    else:
        os.environ["PRELABEL_STATE"] = old


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.fail(f"real test data not found at {SHARED_DATA}; CI puts ../shared beside the clone")
    return SHARED_DATA


@pytest.fixture(scope="session")
def kitti(shared_data: Path) -> Path:
    return KITTI


@pytest.fixture()
def kitti_frames(kitti: Path, tmp_path: Path) -> Callable[..., Path]:
    """Copies of KITTI frames in a folder of the test's own: ``kitti_frames("000001", "000008")`` copies
    ``image_2/000001.png`` and ``000008.png`` into ``tmp_path / "frames"`` (``into=`` names another folder) and
    returns the folder."""

    def copy(*stems: str, into: str = "frames") -> Path:
        folder = tmp_path / into
        folder.mkdir(parents=True, exist_ok=True)
        for stem in stems:
            shutil.copy(kitti / "image_2" / f"{stem}.png", folder)
        return folder

    return copy


@pytest.fixture(scope="session")
def rosbags(shared_data: Path) -> Path:
    """The ROS bags (ROS 1, rosbag2 sqlite3/mcap, MCAP) made from KITTI frames."""
    return shared_data / "rosbags"


@pytest.fixture(scope="session")
def stamp_to_kitti(rosbags: Path) -> dict[int, str]:
    """A bag message's stamp (ns) -> the KITTI frame it was made from."""
    import json

    frames = json.loads((rosbags / "timestamp_to_kitti_frame.json").read_text())["frames"]
    return {int(k): v for k, v in frames.items()}


@pytest.fixture(scope="session")
def kitti_gt(kitti: Path) -> list[Any]:
    """The KITTI ground truth (30 frames) as records."""
    from prelabel.quality.inputs import load_records

    return load_records(kitti)


@pytest.fixture(scope="session")
def ssd():
    """The default detector, fetched into the user cache (verified) and loaded once for the whole session."""
    from prelabel.models import load_detector

    return load_detector("ssd-mobilenet-v2-coco", threads=2)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A real S3-protocol server (moto's threaded server, in memory) on 127.0.0.1 at a free port.

    Yields the endpoint URL and points prelabel's storage (``PRELABEL_S3_ENDPOINT``) and boto/s3fs (dummy AWS
    credentials, region) at it. Create buckets with ``s3fs`` or boto3 against the yielded endpoint.
    """
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        "PRELABEL_S3_ENDPOINT": endpoint,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield endpoint
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture()
def ray_cluster() -> Iterator[tuple[Any, Any]]:
    """A real two-node Ray cluster on this machine (``ray start --head`` + ``ray start --address``, one CPU each),
    started and stopped by :mod:`prelabel.raycluster`: ``(head, worker)``; the worker can be killed alone."""
    import tempfile

    from prelabel import raycluster

    base = Path(tempfile.mkdtemp(prefix="plrc-"))  # short: Ray's socket paths must stay under ~107 bytes
    try:
        head = raycluster.start_node(base, port=free_port(), num_cpus=1)
        worker = raycluster.start_node(base, address=head.address, num_cpus=1, node_manager_port=free_port())
        yield head, worker
    finally:
        raycluster.stop_cluster(base)


# real model outputs on the 30 KITTI frames, computed once per session (quality and refine tests score them)


@pytest.fixture(scope="session")
def ssd_kitti(kitti: Path) -> list[Any]:
    """The default SSD on every KITTI frame, scores down to 0.05 (AP needs the low-scored tail too)."""
    from prelabel.inference.predictor import Predictor
    from prelabel.sources.images import image_frames

    predictor = Predictor("ssd-mobilenet-v2-coco", min_score=0.05, threads=2)
    return predictor(image_frames(str(kitti / "image_2")))


@pytest.fixture(scope="session")
def ssd_kitti_file(ssd_kitti: list[Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    from prelabel.labelfile import write_records

    p = tmp_path_factory.mktemp("ssd") / "ssd_kitti.jsonl"
    write_records(p, ssd_kitti)
    return p


@pytest.fixture(scope="session")
def nanodet_kitti(kitti: Path) -> list[Any]:
    """NanoDet-m (a second, different zoo detector) on every KITTI frame, scores down to 0.05."""
    from prelabel.inference.predictor import Predictor
    from prelabel.sources.images import image_frames

    predictor = Predictor("nanodet-m-coco", min_score=0.05, threads=2)
    return predictor(image_frames(str(kitti / "image_2")))
