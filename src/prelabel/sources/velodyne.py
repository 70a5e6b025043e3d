"""Raw Velodyne packets in ROS bags (Ford Multi-AV Seasonal style) to merged point-cloud sweeps in the vehicle frame.

Each ``velodyne_msgs/VelodyneScan`` message (one revolution of 1206-byte packets) is decoded with the maintained
``velodyne-decoder`` (PyPI, the ``ros`` extra) into ``x y z intensity`` in the sensor's frame (x forward, y left,
z up, metres), moved into the vehicle frame with the rig from ``/tf_static`` (or a URDF's fixed joints), and the
scans of all LiDAR topics nearest in time to each scan of the first topic are merged into one sweep. A scan with
no partner within ``tolerance_ms`` is reported per item and the sweep goes on without it.

Ford's four HDL-32E sensors publish ``/lidar_{red,blue,green,yellow}_scan`` with frame ids ``lidar_red`` etc.;
their intrinsics are the standard HDL-32E table (``ford_demo/params/lidarIntrinsics.yaml``, or the decoder's own).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel.core.labels import Frame
from prelabel.errors import InputNotFoundError, PrelabelError, UnreadableInputError
from prelabel.sources.rig import bag_rig, vehicle_from_root
from prelabel.sources.rig import rig_from_tf as rig_from_tf
from prelabel.sources.rig import rig_from_urdf as rig_from_urdf

F64 = npt.NDArray[np.float64]
FORD_TOPICS = ("/lidar_red_scan", "/lidar_blue_scan", "/lidar_green_scan", "/lidar_yellow_scan")
SCAN_TYPE = "velodyne_msgs/msg/VelodyneScan"

# message definitions, to write such bags (reading takes them from the bag itself)
VELODYNE_MSGS = {
    "velodyne_msgs/msg/VelodynePacket": "time stamp\nuint8[1206] data\n",
    "velodyne_msgs/msg/VelodyneScan": "std_msgs/Header header\nvelodyne_msgs/VelodynePacket[] packets\n",
}


def register_velodyne_types(typestore: Any) -> None:
    """Add ``velodyne_msgs`` VelodynePacket and VelodyneScan to a rosbags typestore."""
    from rosbags.typesys import get_types_from_msg

    types: dict[str, Any] = {}
    for name, text in VELODYNE_MSGS.items():
        types.update(get_types_from_msg(text, name))
    typestore.register(types)


@dataclass
class Sweep:
    """One merged sweep: ``points`` (N, 4) float32 x y z intensity in the vehicle frame, per-LiDAR counts."""

    timestamp_ns: int
    points: npt.NDArray[np.float32]
    counts: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)  # topics with no scan within the tolerance
    vehicle_from_root: F64 = field(default_factory=lambda: np.eye(4))  # the rig root to the vehicle frame
    origins: dict[str, list[float]] = field(default_factory=dict)  # topic -> its LiDAR's x y z in the vehicle frame

    @property
    def sensor_origin(self) -> list[float]:
        """The mean position of the merged LiDARs (vehicle frame, m): where the 3D lifting starts its viewing rays."""
        return np.mean(list(self.origins.values()), axis=0).tolist() if self.origins else [0.0, 0.0, 0.0]


def _decoder(model: str, calibration: str | None) -> Any:
    try:
        import velodyne_decoder as vd
    except ImportError as e:
        raise PrelabelError("decoding Velodyne packets needs velodyne-decoder: pip install 'prelabel[ros]'") from e
    models = {m: getattr(vd.Model, m) for m in ("HDL32E", "HDL64E_S2", "HDL64E_S3", "VLP16", "VLP32C", "VLS128")}
    if model not in models:
        from prelabel.errors import UnknownNameError

        raise UnknownNameError("Velodyne model", model, models)
    cfg: dict[str, Any] = {"model": models[model]}
    if calibration is not None:
        if not Path(calibration).exists():
            raise InputNotFoundError(calibration, "Velodyne calibration")
        cfg["calibration"] = vd.Calibration.read(str(calibration))
    return vd, vd.ScanDecoder(vd.Config(**cfg))


def decode_scan(vd: Any, decoder: Any, msg: Any, item: str = "scan") -> npt.NDArray[np.float32]:
    """(N, 4) float32 x y z intensity in the sensor frame from one VelodyneScan message.

    Raises ``UnreadableInputError`` naming ``item`` for a scan with no packets (the decoder would crash on it),
    a packet that is not 1206 bytes, or packets the decoder refuses (e.g. another sensor model)."""
    packets = []
    for k, p in enumerate(msg.packets):
        data = np.asarray(p.data, dtype=np.uint8)
        if data.size != vd.PACKET_SIZE:
            raise UnreadableInputError(item, f"packet {k} has {data.size} bytes; expected {vd.PACKET_SIZE}")
        stamp = float(p.stamp.sec) + 1e-9 * float(p.stamp.nanosec)
        packets.append(vd.VelodynePacket(stamp, data.tolist()))
    if not packets:
        raise UnreadableInputError(item, "expected VelodyneScan packets; got an empty scan")
    try:
        _, pts = decoder.decode(vd.PacketVector(packets))
    except (RuntimeError, ValueError) as e:
        raise UnreadableInputError(item, f"velodyne-decoder refused the packets: {e}") from e
    arr = np.asarray(pts, dtype=np.float32)
    return np.ascontiguousarray(arr[:, :4]) if arr.size else np.zeros((0, 4), np.float32)


def scan_topics(reader: Any) -> list[str]:
    """The VelodyneScan topics of an open ``rosbags`` reader, sorted."""
    return sorted({c.topic for c in reader.connections if c.msgtype == SCAN_TYPE})


def read_sweeps(
    bag: str | Path,
    topics: Sequence[str] | None = None,
    *,
    model: str = "HDL32E",
    calibration: str | None = None,
    urdf: str | Path | None = None,
    tolerance_ms: float = 60.0,
    errors: list[str] | None = None,
) -> Iterator[Sweep]:
    """Merged sweeps from a bag with VelodyneScan topics (all of them when ``topics`` is None), in time order, in
    the vehicle frame (x forward, y left, z up: the rig's root, turned when it is z-down, see
    :func:`prelabel.sources.rig.vehicle_from_root`).

    A scan that cannot be decoded raises ``UnreadableInputError``; with an ``errors`` list it is recorded there
    (one line naming the bag, topic and time) and left out, and the other scans go on."""
    from rosbags.highlevel import AnyReader

    from prelabel.sources.remote import localize

    path = localize(str(bag))
    vd, decoder = _decoder(model, calibration)
    with AnyReader([path]) as reader:
        have = scan_topics(reader)
        wanted = list(topics) if topics else have
        absent = [t for t in wanted if t not in have]
        if not wanted or absent:
            raise UnreadableInputError(
                str(bag), f"expected VelodyneScan topics {absent or 'any'}; the bag has {have or 'none'}"
            )
        scan_conns = [c for c in reader.connections if c.msgtype == SCAN_TYPE and c.topic in wanted]
        rig = bag_rig(reader, urdf)
        scans: dict[str, list[tuple[int, npt.NDArray[np.float32]]]] = {t: [] for t in wanted}
        frames: set[str] = set()
        topic_frame: dict[str, str] = {}
        for conn, t_ns, raw in reader.messages(connections=scan_conns):
            msg: Any = reader.deserialize(raw, conn.msgtype)
            frame_id = str(msg.header.frame_id).lstrip("/")
            if frame_id not in rig:
                raise UnreadableInputError(
                    f"{bag}:{conn.topic}",
                    f"no transform for frame {frame_id!r} in the bag's /tf_static or the given rig; the rig has "
                    f"{sorted(rig) or 'no frames'}; give one with --rig (a URDF or TransformStamped YAML files)",
                )
            frames.add(frame_id)
            topic_frame[conn.topic] = frame_id
            item = f"{bag}:{conn.topic}@{t_ns}"
            try:
                pts = decode_scan(vd, decoder, msg, item)
            except UnreadableInputError as e:
                if errors is None:
                    raise
                errors.append(str(e))
                continue
            m = rig[frame_id]
            pts[:, :3] = (pts[:, :3].astype(np.float64) @ m[:3, :3].T + m[:3, 3]).astype(np.float32)
            stamp = int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec) or int(t_ns)
            scans[conn.topic].append((stamp, pts))
    turn = vehicle_from_root(rig, frames)
    where = {t: (turn @ rig[f])[:3, 3].tolist() for t, f in topic_frame.items()}
    ref, others = wanted[0], wanted[1:]
    tol = int(tolerance_ms * 1e6)
    for stamp, pts in sorted(scans[ref], key=lambda s: s[0]):
        parts, counts, missing = [pts], {ref: len(pts)}, []
        for t in others:
            near = min(scans[t], key=lambda s: abs(s[0] - stamp), default=None)
            if near is None or abs(near[0] - stamp) > tol:
                missing.append(t)
                continue
            parts.append(near[1])
            counts[t] = len(near[1])
        merged = np.concatenate(parts)
        merged[:, :3] = (merged[:, :3].astype(np.float64) @ turn[:3, :3].T).astype(np.float32)
        yield Sweep(stamp, merged, counts, missing, turn, {t: where[t] for t in counts})


def extract_frames(bag: str | Path, out: str, **opts: Any) -> Iterator[Frame]:
    """Write each merged sweep as ``<out>/vehicle/<stamp ns>.bin`` (KITTI-style float32 x y z intensity rows, vehicle
    frame; ``out`` a folder or ``s3://`` prefix, as ``prelabel extract`` lays out PointCloud2 sweeps) and yield its
    pointcloud :class:`Frame`. ``meta.root_from_sensor`` is the sweep's frame in the rig's root frame (for camera
    extrinsics from the same rig); ``meta.lidar_origins`` each merged LiDAR's position in the vehicle frame and
    ``meta.sensor_origin`` their mean (where the 3D lifting's viewing rays start). ``opts`` go to
    :func:`read_sweeps`."""
    from prelabel import storage
    from prelabel.sources.pointcloud import COLUMNS, write_bin

    for i, sw in enumerate(read_sweeps(bag, **opts)):
        fid = f"vehicle/{sw.timestamp_ns}"
        uri = storage.join(out, f"{fid}.bin")
        write_bin(sw.points, uri)
        yield Frame(
            id=fid,
            uri=uri,
            kind="pointcloud",
            sensor="vehicle",
            timestamp_ns=sw.timestamp_ns,
            sequence=Path(str(bag)).stem,
            index=i,
            point_format="kitti_bin",
            meta={
                "source": str(bag),
                "frame_id": "ego",
                "points": int(sw.points.shape[0]),
                "columns": list(COLUMNS),
                "dtype": "float32",
                "lidars": sw.counts,
                "missing_lidars": sw.missing,
                "root_from_sensor": np.linalg.inv(sw.vehicle_from_root).tolist(),
                "lidar_origins": sw.origins,
                "sensor_origin": sw.sensor_origin,
            },
        )
