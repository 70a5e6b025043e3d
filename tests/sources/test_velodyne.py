"""Ford-style raw Velodyne packets: a ROS1 bag of HDL-32E packets made from real KITTI points, decoded by
velodyne-decoder and merged from four LiDARs into the vehicle frame with the rig from /tf_static.

No Ford bag is at hand, so the encoder below writes the HDL-32E packet layout (12 blocks of 0xEEFF, azimuth in
0.01 degree, 32 x (distance in 2 mm, intensity); then a timestamp and the return-mode / product bytes) for KITTI
points snapped to the HDL-32E laser nearest in elevation (Ford's intrinsics table) and to a 0.2 degree column grid.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import yaml  # velodyne-decoder depends on PyYAML

from prelabel.core.scene import Pose
from prelabel.errors import UnreadableInputError
from prelabel.sources import velodyne as vel
from tests.conftest import KITTI, SHARED_DATA

pytestmark = pytest.mark.data  # KITTI and Ford files from the shared data (not through the fixture)
FORD = SHARED_DATA / "ford_av"
INTRINSICS = FORD / "ford_demo" / "params" / "lidarIntrinsics.yaml"
URDF = FORD / "fusion_description" / "urdf" / "fusion.urdf"
STEP = 20  # block azimuth step, 0.01 degree units (about 1800 columns a turn at 10 Hz)
F64 = npt.NDArray[np.float64]


def _elevations() -> F64:
    lasers = yaml.safe_load(INTRINSICS.read_text())["lasers"]
    return np.array([v["vert_correction"] for v in sorted(lasers, key=lambda v: v["laser_id"])])


def encode_hdl32e(points: F64) -> tuple[list[bytes], F64, F64]:
    """Packets for one revolution, the points the decoder should return (sensor frame, in decode order), and the
    source points they came from."""
    el_tab = _elevations()
    r = np.linalg.norm(points, axis=1)
    az = np.degrees(-np.arctan2(points[:, 1], points[:, 0])) % 360.0
    el = np.arcsin(np.clip(points[:, 2] / np.maximum(r, 1e-9), -1, 1))
    laser = np.abs(el[:, None] - el_tab[None, :]).argmin(axis=1)
    ok = (np.abs(el - el_tab[laser]) < math.radians(0.7)) & (r > 1.0) & (r < 120.0)
    # the decoder places laser l of a block at the block azimuth + l/40 of the step (1.152 us of a 46.08 us block)
    col = np.round((az - laser * STEP / 100 / 40) / (STEP / 100)).astype(np.int64) % (36000 // STEP)
    cells: dict[tuple[int, int], int] = {}
    for i in np.flatnonzero(ok):
        cells.setdefault((int(col[i]), int(laser[i])), int(i))
    n_cols = 36000 // STEP
    dist = np.zeros((n_cols, 32), np.uint16)
    for (c, ln), j in cells.items():
        dist[c, ln] = round(r[j] / 0.002)
    packets = []
    for p in range(n_cols // 12):
        b = bytearray()
        for c in range(p * 12, p * 12 + 12):
            b += b"\xff\xee" + struct.pack("<H", c * STEP)
            for ln in range(32):
                b += struct.pack("<HB", int(dist[c, ln]), 40)
        b += struct.pack("<I", p * 553) + bytes([0x37, 0x21])
        assert len(b) == 1206
        packets.append(bytes(b))
    order = sorted(cells)  # decode order: column, then laser
    src = np.array([points[cells[k]] for k in order])
    rq = np.array([dist[c, ln] * 0.002 for c, ln in order])
    azq = np.radians(np.array([c * STEP / 100 + ln * STEP / 100 / 40 for c, ln in order]))
    elq = el_tab[[ln for _, ln in order]]
    expected = np.stack([rq * np.cos(elq) * np.cos(azq), -rq * np.cos(elq) * np.sin(azq), rq * np.sin(elq)], 1)
    return packets, expected, src


def write_bag(path: Path, scans: dict[str, list[bytes]], rig: dict[str, F64], stamp_ns: int) -> None:
    from rosbags.rosbag1 import Writer
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS1_NOETIC)
    vel.register_velodyne_types(ts)
    if "tf2_msgs/msg/TFMessage" not in ts.types:
        from rosbags.typesys import get_types_from_msg

        ts.register(get_types_from_msg("geometry_msgs/TransformStamped[] transforms\n", "tf2_msgs/msg/TFMessage"))
    T = ts.types
    t = T["builtin_interfaces/msg/Time"](sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9)
    with Writer(path) as w:
        tf_conn = w.add_connection("/tf_static", "tf2_msgs/msg/TFMessage", typestore=ts)
        trs = []
        for frame, m in rig.items():
            pose = Pose.from_matrix(m)
            q, tr = pose.rotation, pose.translation
            trs.append(
                T["geometry_msgs/msg/TransformStamped"](
                    header=T["std_msgs/msg/Header"](seq=0, stamp=t, frame_id="body"),
                    child_frame_id=frame,
                    transform=T["geometry_msgs/msg/Transform"](
                        translation=T["geometry_msgs/msg/Vector3"](x=tr[0], y=tr[1], z=tr[2]),
                        rotation=T["geometry_msgs/msg/Quaternion"](x=q[1], y=q[2], z=q[3], w=q[0]),
                    ),
                )
            )
        msg: Any = T["tf2_msgs/msg/TFMessage"](transforms=trs)
        w.write(tf_conn, stamp_ns, ts.serialize_ros1(msg, "tf2_msgs/msg/TFMessage"))
        for k, (topic, packets) in enumerate(scans.items()):
            conn = w.add_connection(topic, vel.SCAN_TYPE, typestore=ts)
            pk = [
                T["velodyne_msgs/msg/VelodynePacket"](stamp=t, data=np.frombuffer(p, dtype=np.uint8).copy())
                for p in packets
            ]
            scan_t = stamp_ns + k * 5_000_000  # the four sensors are a few ms apart
            hdr = T["std_msgs/msg/Header"](
                seq=0,
                stamp=T["builtin_interfaces/msg/Time"](sec=scan_t // 10**9, nanosec=scan_t % 10**9),
                frame_id=topic.strip("/").removesuffix("_scan"),
            )
            msg = T["velodyne_msgs/msg/VelodyneScan"](header=hdr, packets=pk)
            w.write(conn, scan_t, ts.serialize_ros1(msg, vel.SCAN_TYPE))


def _kitti() -> F64:
    return np.fromfile(KITTI / "velodyne" / "000000.bin", dtype=np.float32).reshape(-1, 4)[:, :3].astype(np.float64)


def test_one_hdl32e_scan_decodes_to_the_kitti_points(tmp_path: Path) -> None:
    packets, expected, src = encode_hdl32e(_kitti())
    assert len(expected) > 20000
    write_bag(tmp_path / "one.bag", {"/lidar_red_scan": packets}, {"lidar_red": np.eye(4)}, 1_500_000_000 * 10**9)
    sweeps = list(vel.read_sweeps(tmp_path / "one.bag", calibration=str(INTRINSICS)))
    assert len(sweeps) == 1
    got = sweeps[0].points[:, :3].astype(np.float64)
    assert got.shape == expected.shape
    # decoded vs what was encoded: the range to float32 precision, the direction within 0.02 degree (the decoder's
    # own per-laser firing-time model moves each laser's azimuth a little from the block azimuth)
    r_exp = np.linalg.norm(expected, axis=1)
    assert np.abs(np.linalg.norm(got, axis=1) - r_exp).max() < 1e-4
    assert _angle_deg(got, expected).max() < 0.02
    # decoded vs the KITTI points: the same range (1 mm rounding), the direction moved by at most the snap to the
    # HDL-32E beam (0.7 degree in elevation, 0.1 degree in azimuth)
    r_got, r_src = np.linalg.norm(got, axis=1), np.linalg.norm(src, axis=1)
    assert np.abs(r_got - r_src).max() < 0.0011 + 1e-4
    assert _angle_deg(got, src).max() < 0.75


def _angle_deg(a: F64, b: F64) -> F64:
    cosang = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    out: F64 = np.degrees(np.arccos(np.clip(cosang, -1, 1)))
    return out


def test_four_lidars_merge_in_the_vehicle_frame(tmp_path: Path) -> None:
    rig = {k: v for k, v in vel.rig_from_urdf(URDF).items() if k.startswith("lidar_")}
    assert sorted(rig) == ["lidar_blue", "lidar_green", "lidar_red", "lidar_yellow"]
    body = _kitti()  # KITTI points stand in for the vehicle-frame scene
    quadrant = (np.degrees(np.arctan2(body[:, 1], body[:, 0])) + 180.0) // 90.0
    scans, expected, origins = {}, [], []
    for q, topic in enumerate(vel.FORD_TOPICS):
        m = rig[topic.strip("/").removesuffix("_scan")]
        part = body[quadrant == q]
        sensor = (part - m[:3, 3]) @ m[:3, :3]  # inverse rigid transform
        packets, exp, _ = encode_hdl32e(sensor)
        scans[topic] = packets
        expected.append(exp @ m[:3, :3].T + m[:3, 3])
        origins.append(np.repeat(m[None, :3, 3], len(exp), axis=0))
    write_bag(tmp_path / "ford.bag", scans, rig, 1_500_000_000 * 10**9)
    sweeps = list(vel.read_sweeps(tmp_path / "ford.bag", topics=vel.FORD_TOPICS, calibration=str(INTRINSICS)))
    assert len(sweeps) == 1 and sweeps[0].missing == []
    got = sweeps[0].points[:, :3].astype(np.float64)
    # Ford's body is x forward, y right, z down (the LiDARs' z axes point down it): the sweep is turned to z up
    np.testing.assert_array_equal(sweeps[0].vehicle_from_root, np.diag([1.0, -1.0, -1.0, 1.0]))
    turn = sweeps[0].vehicle_from_root[:3, :3]
    want = np.concatenate(expected) @ turn.T
    assert got.shape == want.shape and len(got) > 5000
    origin = np.concatenate(origins) @ turn.T
    err = np.linalg.norm(got - want, axis=1)
    assert np.all(err < 1e-3 + np.linalg.norm(want - origin, axis=1) * math.radians(0.02))
    assert set(sweeps[0].counts) == set(vel.FORD_TOPICS)
    # the same rig from the URDF file gives the same sweep
    again = next(vel.read_sweeps(tmp_path / "ford.bag", topics=vel.FORD_TOPICS, urdf=URDF, calibration=str(INTRINSICS)))
    assert np.abs(again.points[:, :3] - sweeps[0].points[:, :3]).max() < 1e-3
    # as a source: pointcloud frames with KITTI-style .bin sweeps
    out = str(tmp_path / "out")
    frames = list(vel.extract_frames(tmp_path / "ford.bag", out, topics=vel.FORD_TOPICS, calibration=str(INTRINSICS)))
    assert len(frames) == 1 and frames[0].kind == "pointcloud" and frames[0].point_format == "kitti_bin"
    back = np.fromfile(frames[0].uri, dtype=np.float32).reshape(-1, 4)
    assert back.shape[0] == len(got) == frames[0].meta["points"]
    assert np.array_equal(back, sweeps[0].points)


def test_missing_topic_names_the_bag(tmp_path: Path) -> None:
    packets, _, _ = encode_hdl32e(_kitti()[:2000])
    write_bag(tmp_path / "one.bag", {"/lidar_red_scan": packets}, {"lidar_red": np.eye(4)}, 10**18)
    with pytest.raises(UnreadableInputError, match="lidar_blue_scan"):
        list(vel.read_sweeps(tmp_path / "one.bag", topics=["/lidar_red_scan", "/lidar_blue_scan"]))


def test_a_corrupt_or_empty_scan_is_reported_and_the_sweep_goes_on(tmp_path: Path) -> None:
    packets, expected, _ = encode_hdl32e(_kitti())
    bad = [bytes(p[:-1]) + b"\x00" for p in packets]  # product id byte wiped: not an HDL-32E packet
    rig = {"lidar_red": np.eye(4), "lidar_blue": np.eye(4), "lidar_green": np.eye(4)}
    scans = {"/lidar_red_scan": packets, "/lidar_blue_scan": bad, "/lidar_green_scan": []}
    write_bag(tmp_path / "bad.bag", scans, rig, 10**18)
    topics = list(scans)
    with pytest.raises(UnreadableInputError, match="lidar_blue_scan"):
        list(vel.read_sweeps(tmp_path / "bad.bag", topics=topics, calibration=str(INTRINSICS)))
    errors: list[str] = []
    sweeps = list(vel.read_sweeps(tmp_path / "bad.bag", topics=topics, calibration=str(INTRINSICS), errors=errors))
    assert len(sweeps) == 1 and len(sweeps[0].points) == len(expected)
    assert sweeps[0].missing == ["/lidar_blue_scan", "/lidar_green_scan"]
    assert len(errors) == 2
    assert "lidar_blue_scan" in errors[0] and "model ID" in errors[0]
    assert "lidar_green_scan" in errors[1] and "empty scan" in errors[1]
