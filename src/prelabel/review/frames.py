"""Frame images served to workers, confined: only from allowed roots, only images, only within the limits.

A frame's URI comes from job data (a labels file or manifest someone gave), so the portal never trusts it: a local
file must resolve (symlinks followed) to a regular file under one of the allowed roots, an ``s3://`` location must
lie under an allowed ``s3://`` prefix, ``http(s)://`` is fetched only when the operator allowed it, and the bytes
must decode as an image, whose content type comes from the decoded format, never from the name. Bag and video
frames (``bag://``, ``video://``) are decoded from their container (which must be under a root) and sent as PNG.
"""

from __future__ import annotations

import io
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from prelabel import limits, storage
from prelabel.errors import PrelabelError
from prelabel.review.errors import NotAnImageError, NotFoundError, PermissionDeniedError

# Pillow format -> content type browsers show as an image
IMAGE_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif", "BMP": "image/bmp"}
_HTTP = ("http://", "https://")


@dataclass(frozen=True)
class FramePolicy:
    """Where frames may be read from. ``roots``: local folders and ``s3://`` prefixes; ``allow_http``: fetch
    ``http(s)://`` frames server-side (off by default: it lets job data make the server fetch any URL)."""

    roots: tuple[str, ...] = ()
    allow_http: bool = False
    limits: limits.Limits | None = field(default=None)

    def with_roots(self, extra: Iterable[str]) -> FramePolicy:
        return FramePolicy(tuple(dict.fromkeys([*self.roots, *extra])), self.allow_http, self.limits)


def normalise_root(root: str) -> str:
    """A root as stored: an absolute, resolved local folder, or a remote prefix with ``..`` removed."""
    if storage.is_local(root):
        return str(storage.local_path(root).expanduser().resolve())
    scheme, rest = root.split("://", 1)
    return f"{scheme.lower()}://{posixpath.normpath('/' + rest).lstrip('/')}"


def source_root(source: str) -> str:
    """The folder holding a job's source file: its frames often lie beside it."""
    if storage.is_local(source):
        return str(storage.local_path(source).expanduser().resolve().parent)
    return normalise_root(source.rsplit("/", 1)[0])


def check_allowed(uri: str, roots: Iterable[str], item: str, *, folder_ok: bool = False) -> str:
    """``uri`` normalised (local: resolved path) if it lies under one of ``roots``; else
    :class:`PermissionDeniedError` (403). A local path must be an existing regular file (``folder_ok``: or a
    folder, as a rosbag2 bag is), 404 otherwise."""
    roots = [normalise_root(r) for r in roots]
    if storage.is_local(uri):
        try:
            path = storage.local_path(uri).expanduser().resolve()  # symlinks followed, '..' gone
        except (OSError, RuntimeError):
            raise NotFoundError(item, uri) from None
        # the roots are checked first, so that a refusal tells nothing about files outside them
        if not any(storage.is_local(r) and path.is_relative_to(r) for r in roots):
            raise PermissionDeniedError(f"{item}: {uri} is outside the allowed roots; {_HOW}")
        if not (path.is_file() or (folder_ok and path.is_dir())):
            raise NotFoundError(f"{item} (no such regular file)", uri)
        return str(path)
    norm = normalise_root(uri)
    if not any(not storage.is_local(r) and (norm == r or norm.startswith(r.rstrip("/") + "/")) for r in roots):
        raise PermissionDeniedError(f"{item}: {uri} is outside the allowed roots; {_HOW}")
    return norm


_HOW = "the operator allows folders with 'prelabel review serve --root DIR' or 'review create-job --root DIR'"


def image_bytes(uri: str, policy: FramePolicy, item: str) -> tuple[bytes, str]:
    """``(bytes, content type)`` of a frame image, or a :class:`PrelabelError` that maps to a 4xx status."""
    try:
        return _image_bytes(uri, policy, item)
    except PrelabelError:
        raise
    except Exception as e:  # whatever the storage or decoder says: a clean 404, never a 500
        raise NotFoundError(f"{item} ({type(e).__name__}: {str(e)[:200]})", uri) from None


def _image_bytes(uri: str, policy: FramePolicy, item: str) -> tuple[bytes, str]:
    from prelabel.sources import uris

    lim = policy.limits or limits.current()
    if uri.startswith((uris.BAG, uris.VIDEO)):
        container = uris.container_of(uri) or uri
        check_allowed(container.split("://", 1)[1], policy.roots, item, folder_ok=True)  # rosbag2: a folder
        return _decoded_png(uri, item), "image/png"
    if uri.lower().startswith(_HTTP):
        if not policy.allow_http:
            raise PermissionDeniedError(
                f"{item}: the frame is at {uri.split('?')[0]}; the portal does not fetch http(s) frames "
                "(start it with --allow-http-frames to allow this)"
            )
        data = storage.read_bytes(uri)
    else:
        target = check_allowed(uri, policy.roots, item)
        if storage.is_local(target):
            limits.check_bytes(Path(target).stat().st_size, item, lim)
        data = storage.read_bytes(target)
    limits.check_bytes(len(data), item, lim)
    return data, _content_type(data, item, lim)


def _content_type(data: bytes, item: str, lim: limits.Limits) -> str:
    from PIL import Image

    size = limits.image_size(data)
    if size is None:
        raise NotAnImageError(f"{item}: the frame is not an image ({len(data):,} bytes)")
    limits.check_pixels(size[0], size[1], item, lim)
    with Image.open(io.BytesIO(data)) as im:
        fmt = str(im.format or "")
    media = IMAGE_TYPES.get(fmt)
    if media is None:
        raise NotAnImageError(f"{item}: {fmt or 'unknown'} images are not served; expected {', '.join(IMAGE_TYPES)}")
    return media


def _decoded_png(uri: str, item: str) -> bytes:
    import cv2
    import numpy as np

    from prelabel.core.labels import Frame
    from prelabel.sources.frames import load_frame_image

    rgb = load_frame_image(Frame(id=item, uri=uri))
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
    if not ok:
        raise NotAnImageError(f"{item}: could not encode the decoded frame as PNG")
    return bytes(buf)
