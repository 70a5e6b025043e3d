"""ROS1 bags, rosbag2 (sqlite3, mcap) and standalone MCAP: frames, pixels, stamps, calibration, point clouds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prelabel.core.labels import Frame
from prelabel.errors import InputNotFoundError, UnknownNameError, UnreadableInputError
from prelabel.sources.frames import input_kind, iter_decoded, iter_frames, load_frame_image
from prelabel.sources.rosbag import BagReader, bag_frames
from tests.helpers.kitti import kitti_p2, load_rgb

BAGS = [
    ("kitti_object_10f.bag", 10, "/kitti/camera_color_left/image_raw"),
    ("kitti_object_10f_mcap", 10, "/kitti/camera_color_left/image_raw/compressed"),
    ("kitti_object_3f_sqlite3", 3, "/kitti/camera_color_left/image_raw/compressed"),
    ("kitti_object_10f_mcap/kitti_object_10f_mcap.mcap", 10, "/kitti/camera_color_left/image_raw/compressed"),
]


@pytest.mark.parametrize(("bag", "count", "topic"), BAGS)
def test_bag_frames_decode_to_the_kitti_pixels(
    bag: str, count: int, topic: str, rosbags: Path, kitti: Path, stamp_to_kitti: dict[int, str]
) -> None:
    spec = str(rosbags / bag)
    assert input_kind(spec) == "bag"
    frames = list(iter_frames(spec))
    assert len(frames) == count
    assert [f.timestamp_ns for f in frames] == sorted(stamp_to_kitti)[:count]
    for f in frames:
        assert f.sensor == topic
        assert f.meta["frame_id"] == "camera_color_left"
        assert f.uri.startswith("bag://") and f.uri.endswith(f"#{topic}@{f.meta['log_time_ns']}")
        cal = f.calibration
        assert cal is not None and cal.P is not None
        p2 = kitti_p2(kitti, stamp_to_kitti[f.timestamp_ns or 0])
        np.testing.assert_allclose(np.array(cal.P)[:, :3], p2[:, :3], rtol=1e-6)
        assert cal.frame_id == "camera_color_left" and cal.distortion_model == "plumb_bob"
    seen = 0
    for f, rgb, err in iter_decoded(frames):
        assert err is None and rgb is not None
        expected = load_rgb(kitti, stamp_to_kitti[f.timestamp_ns or 0])
        assert rgb.shape == expected.shape and np.array_equal(rgb, expected)
        seen += 1
    assert seen == count
    # random access (what Ray actors and the service use) gives the same pixels
    last = frames[-1]
    assert np.array_equal(load_frame_image(last), load_rgb(kitti, stamp_to_kitti[last.timestamp_ns or 0]))


def test_standalone_mcap_through_the_mcap_library(rosbags: Path, stamp_to_kitti: dict[int, str]) -> None:
    path = rosbags / "kitti_object_10f_mcap" / "kitti_object_10f_mcap.mcap"
    with BagReader(path, backend="mcap") as mc, BagReader(path, backend="rosbags") as rb:
        assert mc.topics() == rb.topics()
        topic = "/kitti/camera_color_left/camera_info"
        a = [(m.log_time_ns, list(m.msg.k)) for m in mc.messages([topic])]
        b = [(m.log_time_ns, list(m.msg.k)) for m in rb.messages([topic])]
        assert a == b and len(a) == 10
        imgs = list(mc.messages(["/kitti/camera_color_left/image_raw/compressed"], start=a[2][0], stop=a[2][0] + 1))
        assert len(imgs) == 1 and bytes(imgs[0].msg.data[:4]) == b"\x89PNG"


def test_topic_choice_is_checked(rosbags: Path) -> None:
    bag = str(rosbags / "kitti_object_10f.bag")
    with pytest.raises(UnknownNameError, match="'/nope'; expected one of: .*/kitti/camera_color_left/image_raw"):
        list(bag_frames(bag, ["/nope"]))
    with pytest.raises(UnreadableInputError, match="carries sensor_msgs/msg/PointCloud2"):
        list(bag_frames(bag, ["/kitti/velo/pointcloud"]))


def test_a_truncated_bag_is_a_clear_error(rosbags: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.bag"
    broken.write_bytes((rosbags / "kitti_object_10f.bag").read_bytes()[:5000])
    with pytest.raises(UnreadableInputError, match=r"cannot read .*broken\.bag"):
        list(iter_frames(str(broken)))
    with pytest.raises(InputNotFoundError):
        list(iter_frames(str(tmp_path / "missing.bag")))


def test_a_frame_missing_from_its_bag_fails_alone(rosbags: Path) -> None:
    frames = list(iter_frames(str(rosbags / "kitti_object_3f_sqlite3")))
    ghost = frames[1].model_copy(update={"id": "ghost", "uri": frames[1].uri.rsplit("@", 1)[0] + "@123"})
    out = {f.id: (rgb is not None, err) for f, rgb, err in iter_decoded([frames[0], ghost, frames[2]])}
    assert out[frames[0].id][0] and out[frames[2].id][0]
    assert out["ghost"][0] is False and "no message on" in (out["ghost"][1] or "")


def test_image_encodings_round_trip_through_a_written_bag(kitti: Path, tmp_path: Path) -> None:
    """Write one real KITTI frame in several raw encodings into a rosbag2 bag, read them back."""
    import cv2
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_HUMBLE)
    Image = ts.types["sensor_msgs/msg/Image"]
    Header = ts.types["std_msgs/msg/Header"]
    Time = ts.types["builtin_interfaces/msg/Time"]
    rgb = load_rgb(kitti, "000003")[:200, :320].copy()
    h, w = rgb.shape[:2]
    bayer = np.zeros((h, w), np.uint8)  # RGGB mosaic of the real frame
    bayer[0::2, 0::2] = rgb[0::2, 0::2, 0]
    bayer[0::2, 1::2] = rgb[0::2, 1::2, 1]
    bayer[1::2, 0::2] = rgb[1::2, 0::2, 1]
    bayer[1::2, 1::2] = rgb[1::2, 1::2, 2]
    padded = np.zeros((h, w * 3 + 16), np.uint8)
    padded[:, : w * 3] = rgb.reshape(h, -1)
    rgb16 = (rgb.astype(">u2") * 257).reshape(h, -1)
    cases = {
        "bgr8": (np.ascontiguousarray(rgb[:, :, ::-1]).reshape(-1), w * 3, False),
        "mono8": (cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).reshape(-1), w, False),
        "bayer_rggb8": (bayer.reshape(-1), w, False),
        "rgb8": (padded.reshape(-1), w * 3 + 16, False),  # row padding
        "rgb16": (rgb16.view(np.uint8).reshape(-1), w * 6, True),  # big-endian 16 bit
    }
    bag = tmp_path / "encodings"
    with Writer(bag, version=8) as writer:
        for i, (enc, (data, step, big)) in enumerate(cases.items()):
            conn = writer.add_connection(f"/cam_{i}/image_raw", Image.__msgtype__, typestore=ts)
            stamp = 1_000_000_000 + i
            msg = Image(
                header=Header(stamp=Time(sec=1, nanosec=i), frame_id=f"cam_{i}"),
                height=h, width=w, encoding=enc, is_bigendian=int(big), step=step, data=data,
            )  # fmt: skip
            writer.write(conn, stamp, ts.serialize_cdr(msg, Image.__msgtype__))
    frames = {f.meta["encoding"]: f for f in iter_frames(str(bag))}
    assert set(frames) == set(cases)
    decoded = {f.meta["encoding"]: img for f, img, err in iter_decoded(frames.values()) if img is not None}
    assert np.array_equal(decoded["bgr8"], rgb)
    assert np.array_equal(decoded["rgb8"], rgb)
    assert np.array_equal(decoded["rgb16"], rgb)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    assert np.array_equal(decoded["mono8"], np.repeat(gray[:, :, None], 3, axis=2))
    # demosaicing recovers the frame closely (not exactly: 2/3 of each colour was never recorded)
    err = np.abs(decoded["bayer_rggb8"].astype(int) - rgb.astype(int)).mean()
    assert err < 12, err
    swapped = np.abs(decoded["bayer_rggb8"][:, :, ::-1].astype(int) - rgb.astype(int)).mean()
    assert swapped > err + 5  # the pattern mapping is right, not a red/blue swap


def test_frames_as_index_lines_keep_calibration(rosbags: Path) -> None:
    f = next(iter(iter_frames(str(rosbags / "kitti_object_3f_sqlite3"))))
    again = Frame.model_validate_json(f.model_dump_json())
    assert again == f and again.calibration is not None


def test_ros1_profile_mcap_falls_back_to_the_mcap_reader(
    rosbags: Path, kitti: Path, stamp_to_kitti: dict[int, str], tmp_path: Path
) -> None:
    """The ROS1 bag's messages copied byte for byte into a ROS1-profile MCAP file (which rosbags refuses)."""
    from mcap.writer import Writer
    from rosbags.highlevel import AnyReader

    path = tmp_path / "ros1.mcap"
    with open(path, "wb") as fh, AnyReader([rosbags / "kitti_object_10f.bag"]) as reader:
        writer = Writer(fh)
        writer.start(profile="ros1", library="prelabel-tests")
        channels = {}
        for c in reader.connections:
            schema = writer.register_schema(
                name=c.msgtype.replace("/msg/", "/"), encoding="ros1msg", data=c.msgdef.data.encode()
            )
            channels[c.id] = writer.register_channel(topic=c.topic, message_encoding="ros1", schema_id=schema)
        for c, ts, raw in reader.messages():
            writer.add_message(channel_id=channels[c.id], log_time=ts, data=raw, publish_time=ts)
        writer.finish()
    with pytest.raises(UnreadableInputError, match="Profile is not ros2"):
        BagReader(path, backend="rosbags")
    frames = list(iter_frames(str(path)))
    assert len(frames) == 10 and frames[0].meta["encoding"] == "rgb8"
    assert [f.timestamp_ns for f in frames] == sorted(stamp_to_kitti)
    assert all(f.calibration is not None and f.calibration.P is not None for f in frames)
    for f, rgb, err in iter_decoded(frames[:3]):
        assert err is None and np.array_equal(rgb, load_rgb(kitti, stamp_to_kitti[f.timestamp_ns or 0]))
