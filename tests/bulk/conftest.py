"""Fixtures for bulk tests: the ROS bags, their stamp -> KITTI frame map, and a helper to run the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

ROSBAGS_DIR = "rosbags"


@pytest.fixture(scope="session")
def rosbags(shared_data: Path) -> Path:
    return shared_data / ROSBAGS_DIR


@pytest.fixture(scope="session")
def stamp_to_kitti(rosbags: Path) -> dict[int, str]:
    frames = json.loads((rosbags / "timestamp_to_kitti_frame.json").read_text())["frames"]
    return {int(k): v for k, v in frames.items()}


def kitti_rgb(kitti: Path, frame: str) -> npt.NDArray[np.uint8]:
    import cv2

    bgr = cv2.imread(str(kitti / "image_2" / f"{frame}.png"), cv2.IMREAD_COLOR)
    assert bgr is not None
    return np.ascontiguousarray(bgr[:, :, ::-1])
