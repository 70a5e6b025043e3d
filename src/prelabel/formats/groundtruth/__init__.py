"""SageMaker Ground Truth manifests: adjustment/verification job inputs out, output manifests in.

A manifest is JSON lines, at most 100,000 characters each. A bounding-box attribute holds
``{"image_size": [{"width", "height", "depth"}], "annotations": [{"class_id", "left", "top", "width", "height"}]}``
(integer pixels, top-left origin) and ``<attr>-metadata`` holds ``objects`` (one ``confidence`` per box),
``class-map``, ``type`` ``groundtruth/object-detection``, ``human-annotated``, ``creation-date``, ``job-name``; an
adjustment job adds ``adjustment-status`` (``adjusted``/``unadjusted``); a verification job adds ``"<attr>": "0"|"1"``
with metadata ``class-name``, ``type`` ``groundtruth/label-verification`` and optional ``worker-feedback``.

prelabel adds one key of its own, ``"prelabel"``: the frame id and, per attribute it wrote, each box's label id,
source and review state, so labels that come back from a job merge by id. Lines without it (data from other
tools) get stable ids from their position. Boxes are rounded to whole pixels, as Ground Truth stores them.
"""

from __future__ import annotations

from prelabel.formats import FormatSpec
from prelabel.formats.groundtruth.manifest import (
    ACCEPT_NAMES,
    DEFAULT_ATTRIBUTE,
    DOCUMENT_VERSION,
    FORMAT,
    LABEL_VERIFICATION,
    MAX_LINE_CHARS,
    OBJECT_DETECTION,
    PRELABEL_KEY,
    REJECT_NAMES,
    check_attribute,
    iter_manifest_lines,
    sniff,
)
from prelabel.formats.groundtruth.read import line_to_record, line_to_record_checked, read
from prelabel.formats.groundtruth.write import (
    JobFiles,
    label_categories,
    worker_template,
    write,
    write_job,
    write_output_manifest,
)

__all__ = [
    "ACCEPT_NAMES",
    "DEFAULT_ATTRIBUTE",
    "DOCUMENT_VERSION",
    "FORMAT",
    "LABEL_VERIFICATION",
    "MAX_LINE_CHARS",
    "OBJECT_DETECTION",
    "PRELABEL_KEY",
    "REJECT_NAMES",
    "SPEC",
    "JobFiles",
    "check_attribute",
    "iter_manifest_lines",
    "label_categories",
    "line_to_record",
    "line_to_record_checked",
    "read",
    "sniff",
    "worker_template",
    "write",
    "write_job",
    "write_output_manifest",
]


SPEC = FormatSpec(
    name="groundtruth",
    description="SageMaker Ground Truth manifests (input and output, bounding boxes)",
    geometries=("box2d", "score"),
    reader=read,
    writer=write,
    sniff=sniff,
)
