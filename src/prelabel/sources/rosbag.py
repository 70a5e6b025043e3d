"""ROS1 bags, rosbag2 (sqlite3 and MCAP storage) and standalone MCAP files: camera frames, calibration, point clouds.

Reading goes through ``rosbags`` (no ROS install needed); standalone MCAP files that ``rosbags`` refuses (ROS1-profile
MCAP) go through ``mcap`` with the ``mcap-ros1-support`` / ``mcap-ros2-support`` decoders. Frames are addressed as
``bag://<bag>#<topic>@<log_time_ns>`` (see :mod:`prelabel.sources.uris`); a frame's ``timestamp_ns`` is the
message header stamp (capture time), its calibration the ``CameraInfo`` nearest in time on the camera's
``camera_info`` topic.
"""

from __future__ import annotations

import bisect
import threading
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel import storage
from prelabel.core.labels import CameraCalibration, Frame
from prelabel.errors import InputNotFoundError, PrelabelError, UnknownNameError, UnreadableInputError
from prelabel.sources import bagsalvage
from prelabel.sources.imagemsg import decode_image_msg
from prelabel.sources.remote import localize
from prelabel.sources.uris import bag_uri, parse_bag_uri

BAG_SUFFIXES = (".bag", ".mcap", ".db3")
IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
POINTCLOUD = "sensor_msgs/msg/PointCloud2"
IMAGE_TYPES = (IMAGE, COMPRESSED)
DAMAGED = "(damaged)"  # the topic of the one failed frame that stands for a damaged bag's unreadable rest


class DamagedBagWarning(UserWarning):
    """A bag or MCAP file damaged part-way: the messages before the damage are read, the rest is not."""


def is_bag(spec: str) -> bool:
    """A ROS1 bag, an MCAP or sqlite3 file, or a rosbag2 folder (holding ``metadata.yaml``)."""
    if spec.lower().endswith(BAG_SUFFIXES):
        return True
    if storage.is_local(spec):
        return (storage.local_path(spec) / "metadata.yaml").is_file()
    try:
        return storage.exists(storage.join(spec, "metadata.yaml"))
    except Exception:
        return False


def normalise_type(name: str) -> str:
    """``sensor_msgs/Image`` (ROS1) and ``sensor_msgs/msg/Image`` (ROS2) both become ``sensor_msgs/msg/Image``."""
    parts = name.split("/")
    return f"{parts[0]}/msg/{parts[1]}" if len(parts) == 2 else name


def topic_slug(topic: str) -> str:
    return topic.strip("/").replace("/", "_") or "root"


def stamp_ns(msg: Any, fallback: int) -> int:
    """Header stamp in ns (ROS2 ``sec/nanosec``, ROS1 ``secs/nsecs``); ``fallback`` when there is none or it is 0."""
    stamp = getattr(getattr(msg, "header", None), "stamp", None)
    if stamp is None:
        return fallback
    if hasattr(stamp, "sec"):
        ns = int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)
    elif hasattr(stamp, "secs"):
        ns = int(stamp.secs) * 1_000_000_000 + int(stamp.nsecs)
    elif hasattr(stamp, "to_nsec"):
        ns = int(stamp.to_nsec())
    else:
        return fallback
    return ns or fallback


def _field(msg: Any, *names: str) -> Any:
    for n in names:
        if hasattr(msg, n):
            return getattr(msg, n)
    return None


def calibration_from_msg(msg: Any) -> CameraCalibration | None:
    """A ``CameraInfo`` as :class:`CameraCalibration` (ROS2 ``k, p, r, d`` or ROS1 ``K, P, R, D``)."""
    k = _field(msg, "k", "K")
    if k is None:
        return None
    k_arr = np.asarray(k, dtype=float).reshape(3, 3)
    if not k_arr.any():
        return None  # uncalibrated camera
    p = _field(msg, "p", "P")
    r = _field(msg, "r", "R")
    d = _field(msg, "d", "D")
    frame_id = getattr(getattr(msg, "header", None), "frame_id", None)
    return CameraCalibration(
        K=k_arr.tolist(),
        P=np.asarray(p, dtype=float).reshape(3, 4).tolist() if p is not None and len(p) == 12 else None,
        R=np.asarray(r, dtype=float).reshape(3, 3).tolist() if r is not None and len(r) == 9 else None,
        D=[float(v) for v in (d if d is not None else [])],
        distortion_model=str(getattr(msg, "distortion_model", "") or "") or None,
        frame_id=str(frame_id) if frame_id else None,
    )


@dataclass
class BagMessage:
    topic: str
    msgtype: str
    log_time_ns: int
    msg: Any


class BagReader:
    """One open bag. ``backend``: ``auto`` (rosbags, then mcap for MCAP files rosbags refuses), ``rosbags``,
    ``mcap``."""

    def __init__(self, path: str | Path, *, backend: str = "auto", name: str | None = None) -> None:
        self.path = Path(path)
        self.name = name or str(path)
        if not self.path.exists():
            raise InputNotFoundError(str(path), what="bag")
        if backend not in ("auto", "rosbags", "mcap"):
            raise UnknownNameError("bag backend", backend, ["auto", "rosbags", "mcap"])
        self._any: Any = None
        self._mcap: Any = None
        self._fh: Any = None
        self._salvage: Path | None = None
        self._scan: bagsalvage.Scan | None = None
        self.damage: bagsalvage.Damage | None = None
        errors = []
        if backend in ("auto", "rosbags"):
            try:
                self._open_rosbags()
            except Exception as e:
                errors.append(f"rosbags: {e}")
                if backend == "rosbags":
                    raise UnreadableInputError(self.name, f"not a readable ROS bag ({e})") from e
        if self._any is None and backend in ("auto", "mcap") and self.path.is_file() and self.path.suffix == ".mcap":
            try:
                self._open_mcap()
            except Exception as e:
                errors.append(f"mcap: {e}")
                self.close()
                if backend == "mcap":
                    raise UnreadableInputError(self.name, "not a readable MCAP file (" + "; ".join(errors) + ")") from e
        if self._any is None and self._mcap is None:
            self._open_salvage(errors)

    def _open_salvage(self, errors: list[str]) -> None:
        """The usual readers refused the file: read it front to back up to the damage (see :mod:`.bagsalvage`)."""
        target = self.path
        if target.is_dir():  # a rosbag2 folder: its single MCAP file
            files = sorted(target.glob("*.mcap"))
            target = files[0] if len(files) == 1 else target
        what = "not a readable ROS bag or MCAP file (" + "; ".join(errors) + ")"
        if not target.is_file() or bagsalvage.kind(target) is None:
            raise UnreadableInputError(self.name, what)
        scan = bagsalvage.Scan()
        for _ in bagsalvage.messages(target, scan):
            pass
        if scan.messages == 0:
            if scan.damage is None:
                raise UnreadableInputError(self.name, f"{what}; it holds no messages")
            raise UnreadableInputError(
                self.name,
                f"not a readable ROS bag or MCAP file: no message could be read; the damage starts at byte "
                f"{scan.damage.offset:,}: {scan.damage.reason}",
            )
        self._salvage, self._scan, self.damage = target, scan, scan.damage
        if scan.damage is not None:
            warnings.warn(DamagedBagWarning(scan.damage.describe(self.name)), stacklevel=3)

    # -- backends
    def _open_rosbags(self) -> None:
        from rosbags.highlevel import AnyReader
        from rosbags.typesys import Stores, get_typestore

        reader = AnyReader([self.path], default_typestore=get_typestore(Stores.ROS2_HUMBLE))
        reader.open()
        self._any = reader

    def _open_mcap(self) -> None:
        from mcap.reader import make_reader
        from mcap_ros1.decoder import DecoderFactory as Ros1Decoder
        from mcap_ros2.decoder import DecoderFactory as Ros2Decoder

        self._fh = open(self.path, "rb")
        self._mcap = make_reader(self._fh, decoder_factories=[Ros1Decoder(), Ros2Decoder()])
        self._summary = self._mcap.get_summary()
        if self._summary is None:
            raise UnreadableInputError(self.name, "MCAP file has no summary section (truncated?)")

    # -- API
    def topics(self) -> dict[str, tuple[str, int]]:
        """``{topic: (message type, message count)}``."""
        out: dict[str, tuple[str, int]] = {}
        if self._any is not None:
            for c in self._any.connections:
                t, n = out.get(c.topic, (normalise_type(c.msgtype), 0))
                out[c.topic] = (t, n + int(c.msgcount))
            return out
        if self._scan is not None:
            for c in self._scan.connections.values():
                t, n = out.get(c.topic, (normalise_type(c.msgtype), 0))
                out[c.topic] = (t, n + c.count)
            return out
        summary = self._summary
        counts = summary.statistics.channel_message_counts if summary.statistics else {}
        for cid, ch in summary.channels.items():
            schema = summary.schemas.get(ch.schema_id)
            t, n = out.get(ch.topic, (normalise_type(schema.name if schema else ""), 0))
            out[ch.topic] = (t, n + int(counts.get(cid, 0)))
        return out

    def messages(
        self, topics: Iterable[str], start: int | None = None, stop: int | None = None
    ) -> Iterator[BagMessage]:
        """Decoded messages on ``topics`` in log-time order, ``start <= log time < stop`` (ns)."""
        wanted = set(topics)
        if self._any is not None:
            conns = [c for c in self._any.connections if c.topic in wanted]
            if not conns:
                return
            for c, ts, raw in self._any.messages(connections=conns, start=start, stop=stop):
                yield BagMessage(c.topic, normalise_type(c.msgtype), int(ts), self._any.deserialize(raw, c.msgtype))
            return
        if self._salvage is not None:
            yield from self._salvaged_messages(wanted, start, stop)
            return
        for schema, channel, message, decoded in self._mcap.iter_decoded_messages(
            topics=sorted(wanted), starting_at=start, ending_before=stop, log_time_order=True
        ):
            yield BagMessage(
                channel.topic, normalise_type(schema.name if schema else ""), int(message.log_time), decoded
            )

    def _salvaged_messages(self, wanted: set[str], start: int | None, stop: int | None) -> Iterator[BagMessage]:
        assert self._salvage is not None
        scan = bagsalvage.Scan()
        for cid, log_ns, raw in bagsalvage.messages(self._salvage, scan):
            c = scan.connections.get(cid)
            if c is None or c.topic not in wanted or (start is not None and log_ns < start):
                continue
            if stop is not None and log_ns >= stop:
                continue
            if c.decode is None:
                raise UnreadableInputError(f"{self.name} topic {c.topic}", f"no decoder for {c.msgtype}")
            yield BagMessage(c.topic, normalise_type(c.msgtype), log_ns, c.decode(raw))

    def close(self) -> None:
        if self._any is not None:
            self._any.close()
            self._any = None
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        self._mcap = None

    def __enter__(self) -> BagReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_bag(spec: str, *, backend: str = "auto") -> BagReader:
    return BagReader(localize(spec), backend=backend, name=spec)


def camera_info_topic(image_topic: str, available: Iterable[str]) -> str | None:
    """The ``camera_info`` topic beside an image topic (``/cam/image_raw/compressed`` -> ``/cam/camera_info``), or
    under it (Ford style: ``/image_front_left`` -> ``/image_front_left/camera_info``)."""
    avail = set(available)
    parts = image_topic.rstrip("/").split("/")
    while parts:
        parts = parts[:-1]
        cand = "/".join([*parts, "camera_info"]) or "/camera_info"
        if cand in avail:
            return cand
    child = image_topic.rstrip("/") + "/camera_info"
    return child if child in avail else None


def choose_topics(reader: BagReader, topics: Iterable[str] | None, kinds: tuple[str, ...]) -> list[str]:
    """The requested topics (checked), or every topic of the given message types."""
    available = reader.topics()
    fitting = sorted(t for t, (mt, _) in available.items() if mt in kinds)
    if topics:
        chosen = list(topics)
        for t in chosen:
            if t not in available:
                raise UnknownNameError(f"topic in {reader.name}", t, available)
            if available[t][0] not in kinds:
                raise UnreadableInputError(
                    f"{reader.name} topic {t}",
                    f"it carries {available[t][0]}; expected one of {', '.join(kinds)} (topics that fit: "
                    f"{', '.join(fitting) or 'none'})",
                )
        return chosen
    if not fitting:
        raise InputNotFoundError(
            f"{reader.name} (topics: {', '.join(f'{t} [{mt}]' for t, (mt, _) in sorted(available.items()))})",
            what=" or ".join(k.rsplit("/", 1)[1] for k in kinds) + " topics in",
        )
    return fitting


def _calibrations(reader: BagReader, info_topics: set[str]) -> dict[str, tuple[list[int], list[CameraCalibration]]]:
    per: dict[str, list[tuple[int, CameraCalibration]]] = {}
    for m in reader.messages(info_topics):
        cal = calibration_from_msg(m.msg)
        if cal is not None:
            per.setdefault(m.topic, []).append((stamp_ns(m.msg, m.log_time_ns), cal))
    out = {}
    for t, items in per.items():
        items.sort(key=lambda x: x[0])
        out[t] = ([s for s, _ in items], [c for _, c in items])
    return out


def _nearest(stamps: list[int], cals: list[CameraCalibration], t: int) -> CameraCalibration:
    i = bisect.bisect_left(stamps, t)
    if i == 0:
        return cals[0]
    if i == len(stamps):
        return cals[-1]
    return cals[i] if stamps[i] - t < t - stamps[i - 1] else cals[i - 1]


def bag_frames(
    spec: str, topics: Iterable[str] | None = None, *, camera_info: dict[str, str] | None = None
) -> Iterator[Frame]:
    """Camera frames of a bag in log-time order (all image topics unless ``topics`` names some).

    ``camera_info`` maps an image topic to its CameraInfo topic when it is not the usual sibling ``camera_info``.
    """
    with open_bag(spec) as reader:
        chosen = choose_topics(reader, topics, IMAGE_TYPES)
        available = reader.topics()
        info_for = {
            t: (camera_info or {}).get(t)
            or camera_info_topic(t, [a for a, (mt, _) in available.items() if mt == CAMERA_INFO])
            for t in chosen
        }
        cals = _calibrations(reader, {i for i in info_for.values() if i})
        for m in reader.messages(chosen):
            stamp = stamp_ns(m.msg, m.log_time_ns)
            info = info_for.get(m.topic)
            cal = _nearest(*cals[info], stamp) if info and info in cals else None
            width = int(getattr(m.msg, "width", 0) or 0) or None
            height = int(getattr(m.msg, "height", 0) or 0) or None
            meta: dict[str, Any] = {"log_time_ns": m.log_time_ns, "msgtype": m.msgtype}
            frame_id = getattr(getattr(m.msg, "header", None), "frame_id", "")
            if frame_id:
                meta["frame_id"] = str(frame_id)
            enc = getattr(m.msg, "encoding", None) or getattr(m.msg, "format", None)
            if enc:
                meta["encoding"] = str(enc)
            if info:
                meta["camera_info_topic"] = info
            yield Frame(
                id=f"{topic_slug(m.topic)}/{stamp}",
                uri=bag_uri(spec, m.topic, m.log_time_ns),
                width=width,
                height=height,
                sensor=m.topic,
                sequence=topic_slug(m.topic),
                timestamp_ns=stamp,
                calibration=cal,
                meta=meta,
            )
        if reader.damage is not None:  # the unreadable rest, as one failed item that says where it starts
            yield damaged_frame(spec, reader.damage)


def damaged_frame(spec: str, damage: bagsalvage.Damage) -> Frame:
    return Frame(
        id=f"damaged-from-byte-{damage.offset}",
        uri=bag_uri(spec, DAMAGED, damage.offset),
        sensor=DAMAGED,
        meta={"damaged": damage.describe(spec)},
    )


_local = threading.local()


def _cached_reader(bag: str) -> BagReader:
    """Readers stay open per thread (at most 4) so random access to many frames of one bag does not reopen it."""
    cache: dict[str, BagReader] = getattr(_local, "readers", None) or {}
    _local.readers = cache
    reader = cache.get(bag)
    if reader is None:
        if len(cache) >= 4:
            old = next(iter(cache))
            cache.pop(old).close()
        reader = open_bag(bag)
        cache[bag] = reader
    return reader


def load_bag_image(frame: Frame) -> npt.NDArray[np.uint8]:
    """Decode one ``bag://`` frame (random access by topic and log time)."""
    bag, topic, log_ns = parse_bag_uri(frame.uri)
    if topic == DAMAGED:
        raise UnreadableInputError(frame.uri, str(frame.meta.get("damaged") or "the bag is damaged here"))
    reader = _cached_reader(bag)
    for m in reader.messages([topic], start=log_ns, stop=log_ns + 1):
        return decode_image_msg(m.msg, frame.uri)
    raise UnreadableInputError(frame.uri, f"no message on {topic} logged at {log_ns} ns in {bag}")


Decoded = tuple[Frame, npt.NDArray[np.uint8] | None, str | None]


def _damaged(frames: list[Frame]) -> Iterator[Decoded]:
    for f in frames:
        yield f, None, f"cannot read {f.uri}: {f.meta.get('damaged') or 'the bag is damaged here'}"


def read_bag_images(bag: str, frames: list[Frame]) -> Iterator[Decoded]:
    """Decode many frames of one bag in a single sequential pass (log-time order); frames not found are failures."""
    wanted: dict[tuple[str, int], list[Frame]] = {}
    damaged: list[Frame] = []
    for f in frames:
        _, topic, log_ns = parse_bag_uri(f.uri)
        if topic == DAMAGED:
            damaged.append(f)
            continue
        wanted.setdefault((topic, log_ns), []).append(f)
    yield from _damaged(damaged)
    if not wanted:
        return
    start = min(k[1] for k in wanted)
    stop = max(k[1] for k in wanted) + 1
    try:
        reader = _cached_reader(bag)
        for m in reader.messages({k[0] for k in wanted}, start=start, stop=stop):
            for f in wanted.pop((m.topic, m.log_time_ns), []):
                try:
                    yield f, decode_image_msg(m.msg, f.uri), None
                except PrelabelError as e:
                    yield f, None, str(e)
                except Exception as e:
                    yield f, None, f"{type(e).__name__}: {e}"
    except Exception as e:  # a corrupt bag: every frame not yet read fails with the reason
        reason = str(e) if isinstance(e, PrelabelError) else f"cannot read {bag}: {type(e).__name__}: {e}"
        for fs in wanted.values():
            for f in fs:
                yield f, None, reason
        return
    for (topic, log_ns), fs in wanted.items():
        for f in fs:
            yield f, None, f"cannot read {f.uri}: no message on {topic} logged at {log_ns} ns in {bag}"
