"""Frames as sequences: which sequence a frame belongs to and where it sits in it.

A frame's place comes from, in order: ``Frame.sequence`` / ``Frame.index``; Scalabel's ``videoName`` /
``frameIndex`` kept in ``Frame.meta``; its name when it ends in a frame number (``<video>-0000012``,
``<video>_12``, or a bare ``000012`` whose sequence is the folder the file is in); its ``timestamp_ns`` within a
named sequence. Frames of several sequences are split by sequence id; a frame with no order, or two frames at
one place, is an error that names the frames.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import PurePosixPath

from prelabel.core.labels import Frame, FrameRecord
from prelabel.errors import PrelabelError

_NAMED_INDEX = re.compile(r"^(?P<seq>.+?)[-_](?P<idx>\d+)$")
_BARE_INDEX = re.compile(r"^\d+$")


class SequenceError(PrelabelError, ValueError):
    """Frames that cannot be put in order: no order, or two frames at one place in a sequence."""


def _stem(text: str) -> str:
    name = PurePosixPath(text.split("?")[0]).name
    return name.rsplit(".", 1)[0] if "." in name else name


def place(frame: Frame) -> tuple[str, int | None, int | None]:
    """(sequence id, frame index or None, timestamp in ns or None) of a frame; the sequence may be ``""``."""
    seq = frame.sequence
    idx = frame.index
    meta = frame.meta
    if seq is None and meta.get("videoName") is not None:
        seq = str(meta["videoName"])
    if idx is None and isinstance(meta.get("frameIndex"), int):
        idx = int(meta["frameIndex"])
    if seq is None or idx is None:
        stem = _stem(str(meta.get("name") or frame.id))
        m = _NAMED_INDEX.match(stem)
        if m:
            seq = seq if seq is not None else m.group("seq")
            idx = idx if idx is not None else int(m.group("idx"))
        elif _BARE_INDEX.match(stem):
            seq = seq if seq is not None else PurePosixPath(frame.uri.split("?")[0]).parent.name
            idx = idx if idx is not None else int(stem)
    return seq or "", idx, frame.timestamp_ns


def group_sequences(records: Iterable[FrameRecord]) -> dict[str, list[FrameRecord]]:
    """Records split by sequence id, each sequence in frame order (index, else timestamp).

    Raises :class:`SequenceError` naming the frames when a frame has neither index nor timestamp, or when two
    frames of one sequence share an index (or a timestamp, when ordered by time).
    """
    groups: dict[str, list[tuple[int | None, int | None, FrameRecord]]] = {}
    for rec in records:
        seq, idx, ts = place(rec.frame)
        groups.setdefault(seq, []).append((idx, ts, rec))
    out: dict[str, list[FrameRecord]] = {}
    for seq, items in groups.items():
        shown = seq or "(no sequence id)"
        by_index = all(i is not None for i, _, _ in items)
        by_time = all(t is not None for _, t, _ in items)
        if not by_index and not by_time:
            missing = [r.frame.id for i, t, r in items if i is None and t is None][:5]
            raise SequenceError(
                f"sequence {shown}: frames {missing} have no order; expected Frame.index, a Scalabel frameIndex, "
                f"a frame number in the name (<video>-000012) or timestamp_ns"
            )
        what = "frame index" if by_index else "timestamp_ns"

        def order(it: tuple[int | None, int | None, FrameRecord], by_index: bool = by_index) -> int:
            return int((it[0] if by_index else it[1]) or 0)

        seen: dict[int, str] = {}
        for it in items:
            k = order(it)
            if k in seen:
                raise SequenceError(
                    f"sequence {shown}: frames {seen[k]} and {it[2].frame.id} share {what} {k}; "
                    f"expected one frame per {what} (give each sequence its own Frame.sequence)"
                )
            seen[k] = it[2].frame.id
        items.sort(key=order)
        out[seq] = [r for _, _, r in items]
    return out


class TrackIdError(PrelabelError, ValueError):
    """One track id on two labels of one frame."""


def check_track_ids(records: Iterable[FrameRecord], where: str = "labels") -> None:
    """Raise :class:`TrackIdError` naming the id and the frame when a frame holds one track id twice."""
    for rec in records:
        seen: set[str] = set()
        for lab in rec.labels:
            if lab.track_id is None:
                continue
            if lab.track_id in seen:
                raise TrackIdError(
                    f"{where}: track id {lab.track_id} appears twice in frame {rec.frame.id}; expected each track "
                    f"at most once per frame (split the track or give one of the boxes a new id)"
                )
            seen.add(lab.track_id)
