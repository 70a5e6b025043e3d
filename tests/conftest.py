"""Shared fixtures: where the real data is, and models loaded once per session."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("PRELABEL_SHARED_DATA", REPO.parent / "shared" / "data"))
KITTI = SHARED_DATA / "kitti" / "training"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.exists():
        pytest.fail(f"real test data not found at {SHARED_DATA}; CI puts ../shared beside the clone")
    return SHARED_DATA


@pytest.fixture(scope="session")
def kitti(shared_data: Path) -> Path:
    return KITTI


@pytest.fixture(scope="session")
def ssd():
    """The default detector, fetched into the user cache (verified) and loaded once for the whole session."""
    from prelabel.models import load_detector

    return load_detector("ssd-mobilenet-v2-coco", threads=2)
