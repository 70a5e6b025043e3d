"""Damaged bags: read a ROS1 bag or an MCAP file front to back, up to the first damage, without its index.

A bag cut short (a recorder killed, a copy interrupted) loses its index, which lives at the end; the usual readers
then refuse the whole file. This reader walks the records in file order instead and stops where they stop making
sense, so the messages before the damage are kept and :class:`Damage` says where it starts (byte offset and how
many messages came before it). Used by :class:`prelabel.sources.rosbag.BagReader` when the usual readers refuse.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROS1_MAGIC = b"#ROSBAG V2.0\n"
MCAP_MAGIC = b"\x89MCAP0\r\n"


@dataclass(frozen=True)
class Damage:
    offset: int  # first byte that could not be read
    messages_before: int  # messages read before it
    reason: str

    def describe(self, name: str) -> str:
        return (
            f"{name} is damaged from byte {self.offset:,} (after message {self.messages_before:,}): {self.reason}; "
            "the messages before it were read"
        )


@dataclass
class Connection:
    topic: str
    msgtype: str  # as stored (ROS1 ``pkg/Type``, MCAP schema name)
    decode: Callable[[bytes], Any] | None
    count: int = 0


@dataclass
class Scan:
    """What one pass found: connections (with message counts) and the damage, if any."""

    connections: dict[int, Connection] = field(default_factory=dict)
    damage: Damage | None = None
    messages: int = 0


def kind(path: Path) -> str | None:
    """``ros1``, ``mcap`` or None, from the file's magic bytes."""
    with open(path, "rb") as f:
        head = f.read(len(ROS1_MAGIC))
    if head.startswith(ROS1_MAGIC):
        return "ros1"
    if head.startswith(MCAP_MAGIC):
        return "mcap"
    return None


def messages(path: Path, scan: Scan) -> Iterator[tuple[int, int, bytes]]:
    """``(connection id, log time ns, raw bytes)`` in file order up to the damage; fills ``scan`` as it goes."""
    k = kind(path)
    if k == "ros1":
        yield from _ros1(path, scan)
    elif k == "mcap":
        yield from _mcap(path, scan)
    else:
        scan.damage = Damage(0, 0, "neither a ROS1 bag nor an MCAP file (unknown magic bytes)")


# --- ROS1 -------------------------------------------------------------------------------------------------------


def _fields(block: bytes) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    pos = 0
    while pos < len(block):
        if pos + 4 > len(block):
            raise ValueError("header field size cut short")
        (size,) = struct.unpack_from("<I", block, pos)
        pos += 4
        if pos + size > len(block):
            raise ValueError(f"header field of {size} bytes runs past its header")
        name, sep, value = block[pos : pos + size].partition(b"=")
        if not sep:
            raise ValueError("header field without '='")
        out[name.decode("ascii", "replace")] = value
        pos += size
    return out


def _read_exact(f: Any, n: int, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise ValueError(f"{what} cut short: {len(data):,} of {n:,} bytes")
    return data


def _record(f: Any, *, partial_data: bool = False) -> tuple[dict[str, bytes], bytes, bool]:
    """``(header fields, data, cut)``: ``cut`` when the data is shorter than declared (only with
    ``partial_data``; otherwise that raises)."""
    (hlen,) = struct.unpack("<I", _read_exact(f, 4, "record header length"))
    header = _fields(_read_exact(f, hlen, "record header"))
    (dlen,) = struct.unpack("<I", _read_exact(f, 4, "record data length"))
    data = f.read(dlen)
    if len(data) != dlen and not partial_data:
        raise ValueError(f"record data cut short: {len(data):,} of {dlen:,} bytes")
    return header, data, len(data) != dlen


def _ros1_decoder(msgtype: str, msgdef: str) -> Callable[[bytes], Any] | None:
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore
    from rosbags.typesys.msg import normalize_msgtype

    try:
        store = get_typestore(Stores.EMPTY)
        name = normalize_msgtype(msgtype)
        store.register(get_types_from_msg(msgdef, name))
    except Exception:
        return None
    return lambda raw: store.deserialize_ros1(raw, name)


def _ros1(path: Path, scan: Scan) -> Iterator[tuple[int, int, bytes]]:
    import bz2

    with open(path, "rb") as f:
        f.read(len(ROS1_MAGIC))
        offset = f.tell()
        try:
            while True:
                offset = f.tell()
                if not f.peek(1)[:1]:
                    return  # a clean end (an unchunked bag without index)
                header, data, cut = _record(f, partial_data=True)
                op = header.get("op", b"\x00")[0]
                if op == 5:  # chunk: records inside, maybe compressed
                    comp = header.get("compression", b"none").decode()
                    if cut and comp != "none":
                        raise ValueError(f"{comp}-compressed chunk cut short")
                    if comp == "bz2":
                        data = bz2.decompress(data)
                    elif comp == "lz4":
                        import lz4.frame

                        data = lz4.frame.decompress(data)
                    elif comp != "none":
                        raise ValueError(f"chunk compression {comp!r} is not supported")
                    yield from _ros1_records(io.BytesIO(data), len(data), scan)
                    if cut:
                        raise ValueError("chunk cut short")
                else:
                    if cut:
                        raise ValueError("record cut short")
                    yield from _ros1_record(header, data, scan)
        except Exception as e:
            scan.damage = Damage(offset, scan.messages, str(e) or type(e).__name__)


def _ros1_records(f: io.BytesIO, end: int, scan: Scan) -> Iterator[tuple[int, int, bytes]]:
    while f.tell() < end:
        header, data, _ = _record(f)
        yield from _ros1_record(header, data, scan)


def _ros1_record(header: dict[str, bytes], data: bytes, scan: Scan) -> Iterator[tuple[int, int, bytes]]:
    op = header.get("op", b"\x00")[0]
    if op == 7:  # connection
        (cid,) = struct.unpack("<I", header["conn"])
        info = _fields(data)
        msgtype = info.get("type", b"").decode()
        msgdef = info.get("message_definition", b"").decode("utf-8", "replace")
        scan.connections.setdefault(
            cid, Connection(header.get("topic", b"").decode(), msgtype, _ros1_decoder(msgtype, msgdef))
        )
    elif op == 2:  # message data
        (cid,) = struct.unpack("<I", header["conn"])
        secs, nsecs = struct.unpack("<II", header["time"])
        if cid in scan.connections:
            scan.connections[cid].count += 1
        scan.messages += 1
        yield cid, secs * 1_000_000_000 + nsecs, data


# --- MCAP -------------------------------------------------------------------------------------------------------


def _mcap_decoder(channel: Any, schema: Any) -> Callable[[bytes], Any] | None:
    from mcap_ros1.decoder import DecoderFactory as Ros1Decoder
    from mcap_ros2.decoder import DecoderFactory as Ros2Decoder

    for factory in (Ros1Decoder(), Ros2Decoder()):
        try:
            dec = factory.decoder_for(channel.message_encoding, schema)
        except Exception:
            dec = None
        if dec is not None:
            return dec
    return None


def _mcap(path: Path, scan: Scan) -> Iterator[tuple[int, int, bytes]]:
    from mcap.records import Channel, Message, Schema
    from mcap.stream_reader import StreamReader

    size = path.stat().st_size
    schemas: dict[int, Any] = {}
    with open(path, "rb") as f:
        reader = StreamReader(f, record_size_limit=size)  # no record is longer than the file
        good = len(MCAP_MAGIC)
        try:
            for record in reader.records:
                if isinstance(record, Schema):
                    schemas[record.id] = record
                elif isinstance(record, Channel):
                    dec = _mcap_decoder(record, schemas.get(record.schema_id))
                    schema = schemas.get(record.schema_id)
                    scan.connections.setdefault(record.id, Connection(record.topic, schema.name if schema else "", dec))
                elif isinstance(record, Message):
                    if record.channel_id in scan.connections:
                        scan.connections[record.channel_id].count += 1
                    scan.messages += 1
                    yield record.channel_id, int(record.log_time), bytes(record.data)
                good = reader._stream.count  # the end of the last record read whole
        except Exception as e:
            reason = "the file ends inside a record (cut short)" if type(e).__name__ == "EndOfFile" else str(e)
            scan.damage = Damage(good, scan.messages, reason or type(e).__name__)
