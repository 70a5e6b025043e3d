"""A Ford-style bag pre-labelled in 3D with two commands: ``prelabel extract BAG -o OUT --scenes`` then
``prelabel label OUT/scenes.jsonl --3d``.

The bag is written from real KITTI frames 000000 (a pedestrian 8.4 m ahead) and 000003 (a car 13 m ahead): their
full scans as HDL-32E packets from Ford's four LiDARs (the URDF rig; each LiDAR sees one quadrant), Ford's ``body``
frame (x forward, y right, z down) in ``/tf_static`` with the camera ``camera_front_left`` placed where KITTI's
left colour camera is, and ``/image_front_left`` (rgb8) with its ``CameraInfo`` (K and P from KITTI's P2).
The two frames come from two KITTI drives with slightly different LiDAR-camera calibrations; the bag's one rig
is 000000's, so 000003's boxes score lower (their projections fit the 2D boxes less well) but still land.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from prelabel.cli.main import app
from prelabel.core.geometry import boxes3d as b3
from prelabel.core.geometry import transforms as tf
from prelabel.core.scene import Pose
from prelabel.formats import kitti as kitti_format
from prelabel.labelfile import read_records
from prelabel.lidar.run import sensor_origin
from prelabel.sources import velodyne as vel
from prelabel.sources.rig import FLU_FROM_FRD
from prelabel.sources.scenes.kitti import parse_calib, rect_from_lidar
from tests.conftest import KITTI
from tests.sources.test_velodyne import INTRINSICS, URDF, encode_hdl32e

pytestmark = pytest.mark.data  # KITTI frames from the shared data (not through the fixture)
T0 = 1_500_000_000 * 10**9
FRAMES = ("000000", "000003")
CAMERA = "camera_front_left"


def _stamp(T: Any, t: int) -> Any:
    return T["builtin_interfaces/msg/Time"](sec=t // 10**9, nanosec=t % 10**9)


def _header(T: Any, t: int, frame: str) -> Any:
    return T["std_msgs/msg/Header"](seq=0, stamp=_stamp(T, t), frame_id=frame)


def _tf(T: Any, t: int, parent: str, child: str, m: np.ndarray) -> Any:
    pose = Pose.from_matrix(m)
    q, tr = pose.rotation, pose.translation
    return T["geometry_msgs/msg/TransformStamped"](
        header=_header(T, t, parent),
        child_frame_id=child,
        transform=T["geometry_msgs/msg/Transform"](
            translation=T["geometry_msgs/msg/Vector3"](x=tr[0], y=tr[1], z=tr[2]),
            rotation=T["geometry_msgs/msg/Quaternion"](x=q[1], y=q[2], z=q[3], w=q[0]),
        ),
    )


def ford_rig() -> dict[str, np.ndarray]:
    """``body_from_frame`` of the four LiDARs (Ford's URDF) and the camera (where KITTI 000000's camera is)."""
    rig = {k: v for k, v in vel.rig_from_urdf(URDF).items() if k.startswith("lidar_")}
    flu_from_cam = np.linalg.inv(rect_from_lidar(parse_calib(KITTI / "calib" / "000000.txt"), "calib"))
    return {**rig, CAMERA: FLU_FROM_FRD @ flu_from_cam}  # KITTI velodyne = vehicle frame; FLU_FROM_FRD = its inverse


def write_ford_bag(
    path: Path, frames: tuple[str, ...] = FRAMES, *, camera: bool = True, tf_static: bool = True, info: bool = True
) -> None:
    """The bag described in the module docstring (one sweep and one image every 100 ms); without ``tf_static`` or
    ``info`` it leaves out the rig or the CameraInfo, as Ford's recorded bags do (their calibration is in files)."""
    from rosbags.rosbag1 import Writer
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    ts = get_typestore(Stores.ROS1_NOETIC)
    vel.register_velodyne_types(ts)
    ts.register(get_types_from_msg("geometry_msgs/TransformStamped[] transforms\n", "tf2_msgs/msg/TFMessage"))
    T = ts.types
    rig = ford_rig()
    with Writer(path) as w:
        if tf_static:
            conn = w.add_connection("/tf_static", "tf2_msgs/msg/TFMessage", typestore=ts)
            trs = [_tf(T, T0, "body", f, m) for f, m in rig.items()]
            msg = T["tf2_msgs/msg/TFMessage"](transforms=trs)
            w.write(conn, T0, ts.serialize_ros1(msg, "tf2_msgs/msg/TFMessage"))
        scan_conns = {t: w.add_connection(t, vel.SCAN_TYPE, typestore=ts) for t in vel.FORD_TOPICS}
        img_conn = w.add_connection("/image_front_left", "sensor_msgs/msg/Image", typestore=ts)
        info_topic = "/image_front_left/camera_info"
        info_conn = w.add_connection(info_topic, "sensor_msgs/msg/CameraInfo", typestore=ts) if info else None
        for n, stem in enumerate(frames):
            t = T0 + n * 100_000_000
            flu = np.fromfile(KITTI / "velodyne" / f"{stem}.bin", dtype=np.float32).reshape(-1, 4)[:, :3]
            body = flu.astype(np.float64) @ FLU_FROM_FRD[:3, :3].T
            quadrant = (np.degrees(np.arctan2(body[:, 1], body[:, 0])) + 180.0) // 90.0
            for q, topic in enumerate(vel.FORD_TOPICS):
                m = rig[topic.strip("/").removesuffix("_scan")]
                packets, _, _ = encode_hdl32e((body[quadrant == q] - m[:3, 3]) @ m[:3, :3])
                st = t + q * 5_000_000
                pk = [
                    T["velodyne_msgs/msg/VelodynePacket"](stamp=_stamp(T, st), data=np.frombuffer(p, np.uint8).copy())
                    for p in packets
                ]
                msg = T["velodyne_msgs/msg/VelodyneScan"](header=_header(T, st, topic[1:-5]), packets=pk)
                w.write(scan_conns[topic], st, ts.serialize_ros1(msg, vel.SCAN_TYPE))
            if not camera:
                continue
            rgb = cv2.imread(str(KITTI / "image_2" / f"{stem}.png"))[:, :, ::-1]
            h, wd = rgb.shape[:2]
            img = T["sensor_msgs/msg/Image"](
                header=_header(T, t, CAMERA), height=h, width=wd, encoding="rgb8", is_bigendian=0, step=3 * wd,
                data=np.ascontiguousarray(rgb).reshape(-1),
            )  # fmt: skip
            w.write(img_conn, t, ts.serialize_ros1(img, "sensor_msgs/msg/Image"))
            if info_conn is None:
                continue
            p2 = parse_calib(KITTI / "calib" / f"{stem}.txt")["P2"].reshape(3, 4)
            info = T["sensor_msgs/msg/CameraInfo"](
                header=_header(T, t, CAMERA), height=h, width=wd, distortion_model="plumb_bob",
                D=np.zeros(5), K=p2[:, :3].reshape(-1).copy(), R=np.eye(3).reshape(-1), P=p2.reshape(-1).copy(),
                binning_x=0, binning_y=0,
                roi=T["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
            )  # fmt: skip
            w.write(info_conn, t, ts.serialize_ros1(info, "sensor_msgs/msg/CameraInfo"))


@pytest.fixture(scope="module")
def ford_bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ford") / "ford.bag"
    write_ford_bag(path)
    return path


def _gt_zup(stem: str, category: str) -> np.ndarray:
    rec = next(kitti_format.read(str(KITTI / "label_2" / f"{stem}.txt")))
    return np.array([b3.from_box3d(lb.box3d) for lb in rec.labels if lb.category == category and lb.box3d])


@pytest.mark.model
def test_a_ford_style_bag_extracts_to_scenes_and_labels_in_3d(ford_bag: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    runner = CliRunner()
    res = runner.invoke(
        app, ["extract", str(ford_bag), "-o", str(out), "--scenes", "--velodyne-calibration", str(INTRINSICS)]
    )
    assert res.exit_code == 0, res.output
    assert "vehicle (merged VelodyneScan): 2 files" in res.output and "2 scenes, 0 failed" in res.output
    scenes = list(read_records(out / "scenes.jsonl"))
    assert [r.status for r in scenes] == ["ok", "ok"]
    (cam,) = scenes[0].frame.cameras or []
    # the camera's extrinsics from /tf_static (Ford's z-down body turned to the vehicle frame) equal KITTI's
    rect = rect_from_lidar(parse_calib(KITTI / "calib" / "000000.txt"), "calib")
    want = np.asarray(Pose.from_matrix(rect).matrix())
    p2 = parse_calib(KITTI / "calib" / "000000.txt")["P2"].reshape(3, 4)
    shift = np.eye(4)
    shift[:3, 3] = np.linalg.solve(p2[:, :3], p2[:, 3])
    np.testing.assert_allclose(cam.camera_from_lidar.matrix(), shift @ want, atol=1e-6)
    assert abs(cam.time_offset_ms or 0.0) <= 15.0
    # the merged sweep is the KITTI scan (z up: the road 1.73 m below the KITTI LiDAR)
    pts = np.fromfile(scenes[1].frame.uri, dtype=np.float32).reshape(-1, 4)
    assert len(pts) > 20000 and np.median(pts[np.hypot(pts[:, 0], pts[:, 1]) < 15, 2]) < -1.0
    # the lifting's viewing rays start at the four LiDARs' mean position in the vehicle frame (the rig's, turned)
    lidars = [(FLU_FROM_FRD @ m)[:3, 3] for k, m in ford_rig().items() if k.startswith("lidar_")]
    assert sorted(scenes[1].frame.meta["lidar_origins"]) == sorted(vel.FORD_TOPICS)
    np.testing.assert_allclose(scenes[1].frame.meta["sensor_origin"], np.mean(lidars, axis=0), atol=1e-6)
    assert sensor_origin(scenes[1].frame) == pytest.approx((1.118, 0.016, 1.278), abs=1e-3)

    labels = tmp_path / "labels3d.jsonl"
    res = runner.invoke(app, ["label", str(out / "scenes.jsonl"), "--3d", "-o", str(labels)])
    assert res.exit_code == 0, res.output
    recs = {r.frame.id: r for r in read_records(labels)}
    assert len(recs) == 2
    for n, (stem, kitti_cls, cls) in enumerate([("000000", "Pedestrian", "pedestrian"), ("000003", "Car", "car")]):
        rec = next(r for r in recs.values() if r.frame.timestamp_ns is not None and r.frame.index == n)
        boxes = [lb for lb in rec.labels if lb.category == cls]
        assert boxes, f"{stem}: no {cls} box in {[(lb.category, lb.score) for lb in rec.labels]}"
        rows = np.array([[b.x, b.y, b.z, b.length, b.width, b.height, b.yaw] for lb in boxes if (b := lb.box3d)])
        rect = rect_from_lidar(parse_calib(KITTI / "calib" / f"{stem}.txt"), "calib")
        pred = b3.camera_to_zup(tf.lidar_to_kitti_rect_boxes(rows, rect))
        gt = _gt_zup(stem, kitti_cls)
        centre = np.linalg.norm(pred[:, None, :2] - gt[None, :, :2], axis=2).min()
        assert centre < 0.6, f"{stem}: nearest {cls} box {centre:.2f} m from the ground truth"
        if cls == "car":
            assert b3.iou3d(gt, pred).max() > 0.5


def test_a_scan_frame_missing_from_the_rig_is_one_line(ford_bag: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(
        app, ["extract", str(ford_bag), "-o", str(tmp_path / "o"), "--urdf", str(tmp_path / "none.urdf")]
    )
    assert res.exit_code == 2 and "none.urdf" in res.output and "Traceback" not in res.output


@pytest.mark.model
def test_a_ford_style_bag_labels_in_3d_in_one_command(ford_bag: Path, tmp_path: Path) -> None:
    labels = tmp_path / "labels3d.jsonl"
    res = CliRunner().invoke(app, ["label", str(ford_bag), "--3d", "-o", str(labels)])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "ford-scenes" / "scenes.jsonl").is_file()
    recs = list(read_records(labels))
    assert len(recs) == 2 and all(r.status == "ok" for r in recs)
    ped = [lb for lb in recs[0].labels if lb.category == "pedestrian" and (lb.score or 0) > 0.5]
    assert ped and ped[0].box3d is not None and 8.0 < ped[0].box3d.x < 9.5  # the pedestrian 8.4 m ahead


def test_a_bag_without_rig_or_camera_info_takes_them_from_calibration_files(tmp_path: Path) -> None:
    """Ford's recorded bags keep their calibration in files: TransformStamped YAMLs (as ford_demo's
    extrinsics_broadcaster.py reads them) and the camera's intrinsics; given with --rig and --camera-info."""
    bag = tmp_path / "ford_nocal.bag"
    write_ford_bag(bag, ("000000",), tf_static=False, info=False)
    cal = tmp_path / "calibration"
    cal.mkdir()
    for frame, m in ford_rig().items():
        pose = Pose.from_matrix(m)
        w, x, y, z = pose.rotation
        tx, ty, tz = pose.translation
        doc = {
            "header": {"frame_id": "body"},
            "child_frame_id": frame,
            "transform": {"translation": {"x": tx, "y": ty, "z": tz}, "rotation": {"x": x, "y": y, "z": z, "w": w}},
        }
        (cal / f"{frame}_body.yaml").write_text(yaml.safe_dump(doc))
    p2 = parse_calib(KITTI / "calib" / "000000.txt")["P2"].reshape(3, 4)
    intr = {
        "image_width": 1242, "image_height": 375, "camera_name": CAMERA,
        "camera_matrix": {"rows": 3, "cols": 3, "data": p2[:, :3].reshape(-1).tolist()},
        "distortion_model": "plumb_bob", "distortion_coefficients": {"rows": 1, "cols": 5, "data": [0.0] * 5},
        "rectification_matrix": {"rows": 3, "cols": 3, "data": np.eye(3).reshape(-1).tolist()},
        "projection_matrix": {"rows": 3, "cols": 4, "data": p2.reshape(-1).tolist()},
    }  # fmt: skip
    (cal / "cameraFrontLeftIntrinsics.yaml").write_text(yaml.safe_dump(intr))  # in the same folder: not a transform
    runner = CliRunner()
    res = runner.invoke(app, ["extract", str(bag), "-o", str(tmp_path / "bare"), "--scenes"])
    assert res.exit_code == 2 and "no transform for frame 'lidar_" in res.output and "--rig" in res.output
    out = tmp_path / "out"
    args = ["extract", str(bag), "-o", str(out), "--scenes", "--rig", str(cal)]
    res = runner.invoke(app, [*args, "--camera-info", f"/image_front_left={cal / 'cameraFrontLeftIntrinsics.yaml'}"])
    assert res.exit_code == 0, res.output
    (scene,) = list(read_records(out / "scenes.jsonl"))
    (cam,) = scene.frame.cameras or []
    shift = np.eye(4)
    shift[:3, 3] = np.linalg.solve(p2[:, :3], p2[:, 3])
    rect = rect_from_lidar(parse_calib(KITTI / "calib" / "000000.txt"), "calib")
    np.testing.assert_allclose(cam.camera_from_lidar.matrix(), shift @ Pose.from_matrix(rect).matrix(), atol=1e-6)
    np.testing.assert_allclose(cam.K, p2[:, :3], atol=1e-9)
    # without the intrinsics the scene fails, naming the image and what it lacks
    res = runner.invoke(app, [*args[:3], str(tmp_path / "o2"), "--scenes", "--rig", str(cal)])
    assert res.exit_code == 0 and "1 failed" in res.output and "no CameraInfo calibration" in res.output
