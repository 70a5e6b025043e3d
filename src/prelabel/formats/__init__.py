"""Label formats: each declares a :class:`FormatSpec` (what it reads and writes, the geometries it holds, its typed
options, how to recognise its files) and is found through the ``prelabel.formats`` entry-point group.

``read`` yields :class:`~prelabel.core.labels.FrameRecord` s (streamed where the format allows); ``write`` takes any
iterable of records and returns a :class:`~prelabel.formats._common.WriteSummary`. Boxes inside prelabel are
absolute pixel ``xyxy``; each module converts at its own edge. Modules are imported on first use.

A plugin format is a :class:`FormatSpec` named by an entry point::

    [project.entry-points."prelabel.formats"]
    myformat = "my_package.myformat:SPEC"
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from prelabel.core.labels import FrameRecord
from prelabel.errors import FormatError, InputNotFoundError, PrelabelError, UnknownNameError
from prelabel.formats.options import Option, checked, options_of
from prelabel.plugins import Failure, PluginLoadError, Registry

#: What a format can hold.
Geometry = Literal["box2d", "mask", "polygon", "box3d", "track", "score"]

# format name -> its declaration (the same references pyproject.toml declares as entry points)
BUILTINS: dict[str, str] = {
    "labels": "prelabel.formats.native:SPEC",
    "groundtruth": "prelabel.formats.groundtruth:SPEC",
    "coco": "prelabel.formats.coco:SPEC",
    "yolo": "prelabel.formats.yolo:SPEC",
    "voc": "prelabel.formats.voc:SPEC",
    "kitti": "prelabel.formats.kitti:SPEC",
    "scalabel": "prelabel.formats.scalabel:SPEC",
    "labelstudio": "prelabel.formats.labelstudio:SPEC",
    "cvat": "prelabel.formats.cvat:SPEC",
    "nuscenes": "prelabel.formats.nuscenes:SPEC",
    "mot": "prelabel.formats.mot:SPEC",
    "cvat-video": "prelabel.formats.cvat_video:SPEC",
    "groundtruth-video": "prelabel.formats.groundtruth_video:SPEC",
    "nuscenes-detection": "prelabel.formats.nuscenes_detection:SPEC",
    "av2": "prelabel.formats.av2:SPEC",
    "groundtruth3d": "prelabel.formats.groundtruth3d:SPEC",
}
# other spellings people use for the built-ins (a plugin declares its own in FormatSpec.aliases)
ALIASES: dict[str, str] = {
    "prelabel": "labels",
    "jsonl": "labels",
    "gt": "groundtruth",
    "groundtruth-3d": "groundtruth3d",
    "gt-3d": "groundtruth3d",
    "sagemaker": "groundtruth",
    "bdd": "scalabel",
    "bdd100k": "scalabel",
    "pascal": "voc",
    "pascal_voc": "voc",
    "label-studio": "labelstudio",
    "label_studio": "labelstudio",
    "cvat-images": "cvat",
    "motchallenge": "mot",
    "cvat_video": "cvat-video",
    "gt-video": "groundtruth-video",
}
#: The order :func:`sniff` asks formats in: specific signatures before generic ones (COCO takes any other JSON).
SNIFF_ORDER = (
    "labels",
    "groundtruth",
    "groundtruth-video",
    "labelstudio",
    "scalabel",
    "cvat-video",
    "cvat",
    "voc",
    "mot",
    "yolo",
    "kitti",
    "nuscenes",
    "coco",
)


@dataclass(frozen=True)
class FormatSpec:
    """A label format: its reader and writer functions and what they can do.

    ``reader(src, *, option=...)`` and ``writer(records, dst, *, option=..., overwrite=False)`` take their options
    as typed keyword-only parameters; those parameters are the format's options. ``sniff(src)`` says whether a
    path or URI looks like this format (cheap: a name, a folder listing, the first bytes).
    """

    name: str
    description: str
    geometries: tuple[Geometry, ...]
    reader: Callable[..., Iterator[FrameRecord]] | None = None
    writer: Callable[..., Any] | None = None
    sniff: Callable[[str], bool] | None = None
    aliases: tuple[str, ...] = ()

    @property
    def reads(self) -> bool:
        return self.reader is not None

    @property
    def writes(self) -> bool:
        return self.writer is not None

    @cached_property
    def read_options(self) -> dict[str, Option]:
        return options_of(self.reader)

    @cached_property
    def write_options(self) -> dict[str, Option]:
        return options_of(self.writer)

    def read(self, src: str, **opts: Any) -> Iterator[FrameRecord]:
        """Records from ``src``; an option the reader does not take, or a value of the wrong type, is an error that
        names the option (see :mod:`prelabel.formats.options`)."""
        if self.reader is None:
            raise PrelabelError(f"the {self.name} format cannot be read; formats that read: {', '.join(readers())}")
        return self.reader(src, **check_options(self, "reader", opts))

    def write(self, records: Iterable[FrameRecord], dst: str, **opts: Any) -> Any:
        """Write ``records`` to ``dst``; an option the writer does not take, or a value of the wrong type, is an
        error that names the option (see :mod:`prelabel.formats.options`)."""
        if self.writer is None:
            raise FormatError(dst, f"the {self.name} format is read only; formats that write: {', '.join(writers())}")
        return self.writer(records, dst, **check_options(self, "writer", opts))


def check_options(spec: FormatSpec, role: Literal["reader", "writer"], opts: dict[str, Any]) -> dict[str, Any]:
    """The options checked: one the reader or writer does not declare (it would be ignored silently otherwise) or a
    value of the wrong type is an error; text from a command line (:class:`OptionText`) is read as the type wants."""
    return checked(spec.read_options if role == "reader" else spec.write_options, f"{spec.name} {role}", opts)


def check_keywords(fn: Callable[..., Any], what: str, opts: dict[str, Any]) -> dict[str, Any]:
    """The same check for any function taking keyword-only options (e.g. ``groundtruth.write_job``)."""
    return checked(options_of(fn), what, opts)


def _check_spec(name: str, obj: Any) -> FormatSpec:
    if not isinstance(obj, FormatSpec):
        raise TypeError(f"expected a prelabel.formats.FormatSpec, got {type(obj).__name__}")
    return obj


REGISTRY: Registry[FormatSpec] = Registry("prelabel.formats", "label format", BUILTINS, _check_spec)


def names() -> list[str]:
    """The format names ``get`` accepts (canonical names; aliases also work)."""
    return REGISTRY.names()


def _aliases() -> dict[str, str]:
    table = dict(ALIASES)
    for name in REGISTRY.names():
        if name in BUILTINS:
            continue
        try:
            spec = REGISTRY.get(name)
        except PluginLoadError:
            continue
        table.update({a.lower(): name for a in spec.aliases})
    return table


def canonical(name: str) -> str:
    key = name.strip().lower()
    if key in REGISTRY:
        return key
    key = _aliases().get(key, key)
    if key not in REGISTRY:
        raise UnknownNameError("label format", name, names())
    return key


def get(name: str) -> FormatSpec:
    """The format called ``name`` (or an alias), e.g. ``get("coco").read("instances.json")``."""
    return REGISTRY.get(canonical(name))


def all_formats() -> tuple[dict[str, FormatSpec], list[Failure]]:
    """Every format that loads, and the plugins that failed to (isolated: reported, never raised)."""
    loaded = REGISTRY.load_all()
    return loaded, REGISTRY.failures()


def readers() -> list[str]:
    return [n for n, s in all_formats()[0].items() if s.reads]


def writers() -> list[str]:
    return [n for n, s in all_formats()[0].items() if s.writes]


def sniff(src: str, among: Sequence[str] | None = None) -> str:
    """The name of the format ``src`` looks like, asking each format's ``sniff`` (built-ins in
    :data:`SNIFF_ORDER`, then plugins); ``among`` limits the candidates. Nothing matches: a FormatError that
    says how to name the format; a local path that does not exist: an InputNotFoundError."""
    from prelabel import storage

    if storage.is_local(src) and not storage.local_path(src).exists():
        raise InputNotFoundError(src, what="label set")
    loaded, _ = all_formats()
    wanted = [canonical(n) for n in among] if among is not None else list(loaded)
    order = [n for n in SNIFF_ORDER if n in wanted] + sorted(n for n in wanted if n not in SNIFF_ORDER)
    for name in order:
        spec = loaded.get(name)
        if spec is not None and spec.sniff is not None and spec.sniff(src):
            return name
    raise FormatError(src, f"cannot tell the label format; pass --format (one of {', '.join(sorted(set(order)))})")


def read(name: str, src: str, **opts: Any) -> Iterator[FrameRecord]:
    return get(name).read(src, **opts)


def write(name: str, records: Iterable[FrameRecord], dst: str, **opts: Any) -> Any:
    return get(name).write(records, dst, **opts)
