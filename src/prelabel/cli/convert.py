"""``prelabel convert`` (any format to any format), ``prelabel export`` (a labels file to a format) and
``prelabel formats`` (what can be read and written)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import typer

from prelabel.cli._common import console, friendly_errors

_FORMAT_HELP = (
    "labels, groundtruth, coco, yolo, voc, kitti, scalabel (bdd), labelstudio, cvat, nuscenes (read only); "
    "3D scenes: groundtruth3d (Ground Truth point cloud manifests; --opt tracking=true for sequences; "
    "also groundtruth-3d, and groundtruth-3d-tracking = tracking)"
)
# the one Ground Truth 3D format (prelabel.formats.groundtruth3d) with tracking=true; groundtruth-3d is a plain alias
GT3D_TRACKING = "groundtruth-3d-tracking"


def _parse_opts(pairs: list[str]) -> dict[str, Any]:
    """``key=value`` pairs; each value stays text until the format reads it as its option's type (JSON for
    numbers, true/false and lists; see :mod:`prelabel.formats.options`)."""
    from prelabel.errors import PrelabelError
    from prelabel.formats.options import OptionText

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise PrelabelError(f"--opt must be KEY=VALUE; got {pair!r}")
        out[key.replace("-", "_")] = OptionText(raw)
    return out


def _size(text: str | None) -> tuple[int, int] | None:
    from prelabel.errors import PrelabelError

    if not text:
        return None
    w, sep, h = text.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit():
        raise PrelabelError(f"--image-size must be WIDTHxHEIGHT, e.g. 1280x720; got {text!r}")
    return int(w), int(h)


def _counted(records: Iterable[Any], counter: list[int]) -> Iterator[Any]:
    for r in records:
        counter[0] += 1
        yield r


def _write(fmt: str, records: Iterable[Any], out: str, opts: dict[str, Any], *, task: str | None) -> Any:
    from prelabel import formats
    from prelabel.errors import PrelabelError
    from prelabel.formats import groundtruth

    if fmt.lower() == GT3D_TRACKING:
        fmt, opts = "groundtruth3d", {"tracking": True, **opts}
    name = formats.canonical(fmt)
    if task is not None and name not in ("yolo", "groundtruth"):
        raise PrelabelError(
            f"--task is for yolo (detect|segment) and groundtruth (adjustment|verification); "
            f"the {name} writer has no task"
        )
    as_job = name == "groundtruth" and not out.endswith(".manifest")
    if as_job:
        opts = formats.check_keywords(groundtruth.write_job, "groundtruth job writer", opts)
        job = groundtruth.write_job(records, out, task=task or "adjustment", **opts)  # type: ignore[arg-type]
        console.print(f"Ground Truth job files: {job.manifest}, {job.label_categories}, {job.template}")
        return job.summary
    if task is not None:
        opts = {**opts, "task": task}
    return formats.get(name).write(records, out, **opts)  # an option it does not take: a clear error


def _run(
    src_fmt: str,
    src: str,
    dst_fmt: str,
    out: str,
    *,
    read_opts: dict[str, Any],
    write_opts: dict[str, Any],
    class_map: str | None,
    task: str | None,
) -> None:
    from prelabel import formats
    from prelabel.core.classmap import ClassMap

    records: Iterable[Any]
    if src_fmt.lower() == GT3D_TRACKING:
        src_fmt = "groundtruth3d"
    records = formats.get(src_fmt).read(src, **read_opts)
    if class_map:
        records = ClassMap.load(class_map).apply(records)
    seen = [0]
    summary = _write(dst_fmt, _counted(records, seen), out, write_opts, task=task)
    console.print(str(summary) if summary is not None else f"read {seen[0]} frames", highlight=False)


def register(app: typer.Typer) -> None:
    @app.command("convert")
    @friendly_errors
    def convert(
        src: str = typer.Argument(..., help="Input file or folder."),
        out: str = typer.Argument(..., help="Output file or folder."),
        from_format: str = typer.Option(..., "--from", "-f", help=f"Input format: {_FORMAT_HELP}."),
        to_format: str = typer.Option(..., "--to", "-t", help="Output format (same names)."),
        class_map: str | None = typer.Option(
            None, "--class-map", help="Rename/merge classes on the way: a shipped map name or a JSON file."
        ),
        image_dir: str | None = typer.Option(None, "--image-dir", help="Where the input's images are."),
        image_size: str | None = typer.Option(None, "--image-size", help="WIDTHxHEIGHT for every frame."),
        categories: str | None = typer.Option(None, "--categories", help="Comma-separated class list (id order)."),
        task: str | None = typer.Option(
            None, "--task", help="yolo: detect|segment; groundtruth: adjustment|verification."
        ),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files."),
        opt: list[str] = typer.Option([], "--opt", help="Extra writer option KEY=VALUE (repeatable)."),
        read_opt: list[str] = typer.Option([], "--read-opt", help="Extra reader-only option KEY=VALUE."),
    ) -> None:
        """Convert labels between formats, streaming frame by frame where the formats allow."""
        read_opts: dict[str, Any] = {**_parse_opts(read_opt)}
        if image_dir:
            read_opts["image_dir"] = image_dir
        if image_size:
            read_opts["image_size"] = _size(image_size)
        write_opts = _write_options(categories, overwrite, opt)
        _run(
            from_format, src, to_format, out, read_opts=read_opts, write_opts=write_opts, class_map=class_map, task=task
        )

    @app.command("export")
    @friendly_errors
    def export(
        labels: str = typer.Argument(..., help="prelabel labels file (*.jsonl)."),
        to_format: str = typer.Option(..., "--to", "-t", help=f"Output format: {_FORMAT_HELP}."),
        out: str = typer.Option(..., "--out", "-o", help="Output file or folder."),
        class_map: str | None = typer.Option(None, "--class-map", help="Shipped class map name or a JSON file."),
        categories: str | None = typer.Option(None, "--categories", help="Comma-separated class list (id order)."),
        task: str | None = typer.Option(
            None, "--task", help="yolo: detect|segment; groundtruth: adjustment|verification."
        ),
        min_score: float = typer.Option(0.0, "--min-score", help="Leave out model labels scored below this."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files."),
        opt: list[str] = typer.Option([], "--opt", help="Extra writer option KEY=VALUE (repeatable)."),
    ) -> None:
        """Export a labels file to a labeling format. groundtruth to a folder writes a whole job: input.manifest,
        label-categories.json and the Liquid worker template; to a *.manifest file, the manifest only."""
        from prelabel import formats
        from prelabel.core.classmap import ClassMap

        records: Iterable[Any] = formats.get("labels").read(labels)
        if min_score > 0:
            records = (
                r.model_copy(update={"labels": [lb for lb in r.labels if lb.score is None or lb.score >= min_score]})
                for r in records
            )
        if class_map:
            records = ClassMap.load(class_map).apply(records)
        summary = _write(to_format, records, out, _write_options(categories, overwrite, opt), task=task)
        console.print(str(summary), highlight=False)

    @app.command("formats")
    def list_formats(
        verbose: bool = typer.Option(False, "--verbose", "-v", help="Also list each reader's and writer's options."),
    ) -> None:
        """List the label formats (built-in and plugins: what each reads, writes and holds) and class maps."""
        from prelabel import formats
        from prelabel.core.classmap import builtin_names

        loaded, failed = formats.all_formats()
        aliases: dict[str, list[str]] = {}
        for alias, name in formats.ALIASES.items():
            aliases.setdefault(name, []).append(alias)
        for name, spec in loaded.items():
            aliases.setdefault(name, []).extend(a for a in spec.aliases if a not in aliases.get(name, []))
            extra = f" (also: {', '.join(sorted(aliases[name]))})" if aliases.get(name) else ""
            can = "read/write" if spec.reads and spec.writes else ("read only" if spec.reads else "write only")
            line = f"{name}{extra}  [{can}; {', '.join(spec.geometries)}]"
            console.print(line, highlight=False, markup=False)
            if verbose:
                for role, options in (("read", spec.read_options), ("write", spec.write_options)):
                    if options:
                        shown = "; ".join(str(o) for o in options.values())
                        console.print(f"    {role} options: {shown}", highlight=False, markup=False)
        for failure in failed:
            console.print(f"plugin failed to load: {failure}", style="yellow", highlight=False, markup=False)
        console.print("class maps: " + ", ".join(builtin_names()), highlight=False)


def _write_options(categories: str | None, overwrite: bool, opt: list[str]) -> dict[str, Any]:
    opts: dict[str, Any] = {"overwrite": overwrite, **_parse_opts(opt)}
    if categories:
        opts["categories"] = [c.strip() for c in categories.split(",") if c.strip()]
    return opts
