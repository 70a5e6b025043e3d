"""Frame URIs for frames that live inside containers: a message in a ROS bag or MCAP file, a frame of a video.

- ``bag://<bag>#<topic>@<log_time_ns>``: the message on ``topic`` logged at ``log_time_ns`` (integer ns) in the bag
  at ``<bag>`` (a ROS1 ``.bag``, a rosbag2 folder, an ``.mcap`` or ``.db3`` file; a local path or an ``s3://`` URI).
  ROS topic names never hold ``#`` or ``@``, so the last ``#`` and ``@`` split the parts.
- ``video://<video>#<index>``: the frame with 0-based decode ``index`` in the video at ``<video>``.
"""

from __future__ import annotations

from prelabel.errors import FormatError

BAG = "bag://"
VIDEO = "video://"


def bag_uri(bag: str, topic: str, log_time_ns: int) -> str:
    return f"{BAG}{bag}#{topic}@{int(log_time_ns)}"


def parse_bag_uri(uri: str) -> tuple[str, str, int]:
    """``(bag, topic, log_time_ns)`` of a ``bag://`` URI; :class:`FormatError` naming the URI if malformed."""
    if not uri.startswith(BAG) or "#" not in uri or "@" not in uri.rsplit("#", 1)[1]:
        raise FormatError(uri, "expected a bag frame URI 'bag://<bag path>#<topic>@<log time ns>'")
    bag, rest = uri[len(BAG) :].rsplit("#", 1)
    topic, stamp = rest.rsplit("@", 1)
    try:
        return bag, topic, int(stamp)
    except ValueError:
        raise FormatError(uri, f"log time must be integer nanoseconds; got {stamp!r}") from None


def video_uri(video: str, index: int) -> str:
    return f"{VIDEO}{video}#{int(index)}"


def parse_video_uri(uri: str) -> tuple[str, int]:
    if not uri.startswith(VIDEO) or "#" not in uri:
        raise FormatError(uri, "expected a video frame URI 'video://<video path>#<frame index>'")
    video, index = uri[len(VIDEO) :].rsplit("#", 1)
    try:
        return video, int(index)
    except ValueError:
        raise FormatError(uri, f"frame index must be an integer; got {index!r}") from None


def container_of(uri: str) -> str | None:
    """The bag or video a frame URI points into (None for plain image files): frames of one container are read in
    one sequential pass."""
    if uri.startswith(BAG):
        return BAG + parse_bag_uri(uri)[0]
    if uri.startswith(VIDEO):
        return VIDEO + parse_video_uri(uri)[0]
    return None
