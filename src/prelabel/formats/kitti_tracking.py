"""KITTI tracking labels written per sequence: ``<sequence>.txt`` with ``frame track_id`` before each object line.

Reading is in :mod:`prelabel.formats.kitti` (it tells tracking files by their first line). Track ids must be whole
numbers in KITTI; other ids are numbered in order of appearance per sequence and counted in the summary. Labels
without a track id (``DontCare`` regions) get -1. One id twice in a frame is refused, naming the id and the frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from prelabel.core.labels import FrameRecord
from prelabel.core.sequences import check_track_ids, group_sequences, place
from prelabel.formats._common import WriteSummary, check_dst, write_small_file


def write_tracking(
    records: Sequence[FrameRecord], out: Path, summary: WriteSummary, *, scores: bool | None, overwrite: bool
) -> WriteSummary:
    from prelabel.formats.kitti import format_line

    recs = list(summary.usable(records))
    check_track_ids(recs, str(out))
    out.mkdir(parents=True, exist_ok=True)
    for seq, frames in group_sequences(recs).items():
        target = out / f"{seq or 'sequence'}.txt"
        check_dst(str(target), overwrite)
        with_score = scores if scores is not None else any(lb.score is not None for r in frames for lb in r.labels)
        renumber: dict[str, int] = {}
        lines: list[str] = []
        for rec in frames:
            frame_no = place(rec.frame)[1] or 0
            for lb in rec.labels:
                if lb.box is None and lb.polygon is None and (lb.box3d is None or lb.box3d.frame != "camera"):
                    summary.drop("labels without a 2D box or camera-frame 3D box")
                    continue
                tid = lb.track_id
                if tid is None:
                    num_id = -1
                elif tid.lstrip("-").isdigit():
                    num_id = int(tid)
                else:
                    if tid not in renumber:
                        renumber[tid] = len(renumber)
                        summary.drop("track ids that are not whole numbers (numbered in order)")
                    num_id = renumber[tid]
                lines.append(f"{frame_no} {num_id} {format_line(lb, with_score=with_score)}")
                summary.labels += 1
            summary.frames += 1
        write_small_file(target, "".join(ln + "\n" for ln in lines))
        summary.files.append(str(target))
    return summary
