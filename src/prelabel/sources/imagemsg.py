"""Decode ROS ``sensor_msgs/Image`` and ``sensor_msgs/CompressedImage`` messages to RGB uint8 (H, W, 3).

Raw encodings: rgb8, bgr8, rgba8, bgra8, mono8, 8UC1, 8UC3 (taken as bgr), 8UC4 (bgra), mono16, 16UC1, rgb16, bgr16,
rgba16, bgra16 (16-bit scaled to 8), bayer_{rggb,bggr,gbrg,grbg}{8,16}, yuv422 (UYVY) and yuv422_yuy2 (YUYV).
Compressed: whatever OpenCV decodes (png, jpeg, ...), as ``format`` strings like ``png`` or ``bgr8; jpeg compressed
bgr8``. Row padding (``step``) and big-endian 16-bit data are honoured.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from prelabel import limits
from prelabel.errors import UnreadableInputError

_CHANNELS = {
    "rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1, "8uc1": 1, "8uc3": 3, "8uc4": 4,
    "mono16": 1, "16uc1": 1, "rgb16": 3, "bgr16": 3, "rgba16": 4, "bgra16": 4,
    "bayer_rggb8": 1, "bayer_bggr8": 1, "bayer_gbrg8": 1, "bayer_grbg8": 1,
    "bayer_rggb16": 1, "bayer_bggr16": 1, "bayer_gbrg16": 1, "bayer_grbg16": 1,
    "yuv422": 2, "uyvy": 2, "yuv422_yuy2": 2, "yuyv": 2,
}  # fmt: skip

# ROS names a Bayer pattern by its first row; OpenCV by the second row's middle pair (cv_bridge's mapping).
_BAYER = {"rggb": "BayerBG2RGB", "bggr": "BayerRG2RGB", "gbrg": "BayerGR2RGB", "grbg": "BayerGB2RGB"}

ENCODINGS = tuple(sorted(_CHANNELS))


def _bytes(data: Any) -> npt.NDArray[np.uint8]:
    if isinstance(data, np.ndarray):
        return data.view(np.uint8).reshape(-1)
    return np.frombuffer(bytes(data), dtype=np.uint8)


def decode_raw(
    data: Any, encoding: str, width: int, height: int, step: int, is_bigendian: bool, item: str
) -> npt.NDArray[np.uint8]:
    """Pixels of a raw ``sensor_msgs/Image`` as RGB uint8."""
    import cv2

    enc = encoding.strip().lower()
    if enc not in _CHANNELS:
        raise UnreadableInputError(item, f"unsupported image encoding {encoding!r}; expected one of {ENCODINGS}")
    limits.check_pixels(width, height, item)
    ch = _CHANNELS[enc]
    depth = 2 if "16" in enc and not enc.startswith("yuv") else 1
    buf = _bytes(data)
    row = width * ch * depth
    step = step or row
    if height <= 0 or width <= 0 or step < row or buf.size < step * (height - 1) + row:
        raise UnreadableInputError(
            item, f"{encoding} image data holds {buf.size} bytes; {height} rows of step {step} need {step * height}"
        )
    rows = np.lib.stride_tricks.as_strided(buf, shape=(height, row), strides=(step, 1))
    if depth == 2:
        dt = np.dtype(">u2" if is_bigendian else "<u2")
        px16 = np.ascontiguousarray(rows).view(dt).reshape(height, width, ch)
        px = (px16 >> 8).astype(np.uint8)
    else:
        px = np.ascontiguousarray(rows).reshape(height, width, ch)
    if enc.startswith("bayer_"):
        code = getattr(cv2, "COLOR_" + _BAYER[enc[6:10]])
        return np.ascontiguousarray(cv2.cvtColor(px[:, :, 0], code))
    if enc in ("yuv422", "uyvy"):
        return np.ascontiguousarray(cv2.cvtColor(px, cv2.COLOR_YUV2RGB_UYVY))
    if enc in ("yuv422_yuy2", "yuyv"):
        return np.ascontiguousarray(cv2.cvtColor(px, cv2.COLOR_YUV2RGB_YUY2))
    if ch == 1:
        return np.ascontiguousarray(np.repeat(px, 3, axis=2))
    if enc.startswith("rgb"):
        return np.ascontiguousarray(px[:, :, :3])
    return np.ascontiguousarray(px[:, :, 2::-1])  # bgr, bgra, 8UC3, 8UC4


def decode_compressed(data: Any, fmt: str, item: str) -> npt.NDArray[np.uint8]:
    import cv2

    buf = _bytes(data)
    if buf.size == 0:
        raise UnreadableInputError(item, "the compressed image is empty")
    limits.check_image_header(buf.tobytes(), item)
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if img is None:
        raise UnreadableInputError(item, f"compressed image (format {fmt!r}) is not decodable")
    return np.ascontiguousarray(img[:, :, ::-1])


def decode_image_msg(msg: Any, item: str) -> npt.NDArray[np.uint8]:
    """An Image or CompressedImage message (rosbags or mcap decoded object) as RGB uint8."""
    if hasattr(msg, "encoding"):
        return decode_raw(
            msg.data,
            str(msg.encoding),
            int(msg.width),
            int(msg.height),
            int(msg.step),
            bool(msg.is_bigendian),
            item,
        )
    if hasattr(msg, "format"):
        return decode_compressed(msg.data, str(msg.format), item)
    raise UnreadableInputError(item, f"not an image message: {type(msg).__name__}")
