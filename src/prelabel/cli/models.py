"""``prelabel models``: the zoo, the private registry and offline bundles."""

from __future__ import annotations

from typing import Any

import typer

from prelabel.cli._common import EXIT_SOME_FAILED, check_output, console, friendly_errors

CACHE_OPT = typer.Option(None, "--cache", envvar="PRELABEL_CACHE", help="Model cache folder.")
REGISTRY_OPT = typer.Option(
    None, "--registry", envvar="PRELABEL_REGISTRY", help="Private registry: a folder or an s3:// prefix."
)


def _entry(model: str, registry: str | None) -> Any:
    from prelabel.models.loader import is_registry_ref
    from prelabel.models.zoo import get_entry

    if is_registry_ref(model):
        from prelabel.models.registry import Registry

        return Registry.open(registry).resolve(model)
    return get_entry(model)


def _cached(entry: Any, cache: str | None) -> str:
    from prelabel.models.fetch import cache_dir, file_path

    root = cache_dir(cache)
    have = sum(file_path(entry, role, root).exists() for role in entry.files)
    return "yes" if have == len(entry.files) else ("partly" if have else "no")


def _parse_options(pairs: list[str]) -> dict[str, Any]:
    import json

    from prelabel.errors import FormatError

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise FormatError(f"--option {pair!r}", "expected KEY=VALUE (VALUE as JSON, or a plain string)")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _parse_size(text: str | None) -> list[int] | None:
    from prelabel.errors import FormatError

    if not text:
        return None
    w, sep, h = text.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit():
        raise FormatError(f"--input-size {text!r}", "expected WIDTHxHEIGHT, e.g. 640x640")
    return [int(w), int(h)]


def register(app: typer.Typer) -> None:
    models = typer.Typer(
        help="Models: the built-in zoo, your team's private registry, offline bundles.", no_args_is_help=True
    )
    app.add_typer(models, name="models")

    @models.command("list")
    @friendly_errors
    def list_(cache: str | None = CACHE_OPT, registry: str | None = REGISTRY_OPT) -> None:
        """List zoo models (and registry models when a registry is set) and whether each is in the cache."""
        from rich.table import Table

        from prelabel.models.zoo import list_entries

        entries = [("zoo", e) for e in list_entries()]
        if registry:
            from prelabel.models.registry import Registry

            entries += [("registry", e) for e in Registry.open(registry).entries()]
        table = Table(show_edge=False)
        for col in ("id", "version", "from", "runtime", "decoder", "input", "classes", "licence", "cached"):
            table.add_column(col)
        for origin, e in entries:
            classes = e.classes if isinstance(e.classes, str) else f"{len(e.classes)} classes"
            table.add_row(
                e.id, e.version, origin, e.runtime, e.decoder, "x".join(map(str, e.input_size)), classes,
                e.licence, _cached(e, cache),
            )  # fmt: skip
        console.print(table)
        from prelabel.models.zoo import failures

        for failure in failures():
            console.print(f"model plugin failed to load: {failure}", style="yellow", highlight=False)

    @models.command("info")
    @friendly_errors
    def info(
        model: str = typer.Argument(..., help="Zoo id[@version] or registry team/name[@version]."),
        registry: str | None = REGISTRY_OPT,
    ) -> None:
        """Show a model's manifest entry."""
        console.print_json(_entry(model, registry).model_dump_json())

    @models.command("pull")
    @friendly_errors
    def pull(
        model: list[str] = typer.Argument(..., help="Model ids or registry references to fetch."),
        cache: str | None = CACHE_OPT,
        registry: str | None = REGISTRY_OPT,
    ) -> None:
        """Fetch model files into the cache, verify their sha256, and convert models that need it."""
        from prelabel.models.loader import prepare_entry

        for m in model:
            entry = _entry(m, registry)
            for role, path in prepare_entry(entry, cache).items():
                console.print(f"{entry.ref} {role}: {path} [green]verified[/]", highlight=False)

    @models.command("verify")
    @friendly_errors
    def verify(
        model: list[str] = typer.Argument(None, help="Model ids (default: every cached zoo model)."),
        cache: str | None = CACHE_OPT,
        registry: str | None = REGISTRY_OPT,
    ) -> None:
        """Re-hash cached model files (and converted models); exit 1 if any is corrupt."""
        from prelabel.models.convert import verify_converted
        from prelabel.models.fetch import cache_dir, model_dir, verify_entry
        from prelabel.models.zoo import list_entries

        entries = [_entry(m, registry) for m in model] if model else list_entries()
        bad = 0
        for e in entries:
            status = verify_entry(e, cache)
            if e.convert:
                status["converted"] = verify_converted(model_dir(e, cache_dir(cache)))
            for role, st in status.items():
                if st == "missing" and not model:
                    continue
                color = {"ok": "green", "missing": "yellow", "corrupt": "red"}[st]
                console.print(f"{e.ref} {role}: [{color}]{st}[/]", highlight=False)
                bad += st == "corrupt" or (st == "missing" and role != "converted")
        if bad:
            raise typer.Exit(EXIT_SOME_FAILED)

    @models.command("register")
    @friendly_errors
    def register_(
        model_file: str = typer.Argument(..., help="The ONNX model file."),
        name: str = typer.Option(..., "--name", help="team/name, e.g. team/ped-detector."),
        version: str = typer.Option(..., "--version", help="Version label; versions are immutable."),
        decoder: str | None = typer.Option(
            None,
            "--decoder",
            help="Output decoder: ssd, yolov5, yolov8, yolo-e2e, nanodet-gfl, centernet, detr "
            "(default: read from an Ultralytics export's metadata and outputs).",
        ),
        classes: str | None = typer.Option(
            None, "--classes", help="Class list file (one name per line) or 'coco80' (default: the file's names)."
        ),
        input_size: str | None = typer.Option(None, "--input-size", help="WIDTHxHEIGHT when the input is dynamic."),
        option: list[str] = typer.Option(
            [], "--option", "-O", help="Backend option KEY=VALUE (JSON value), e.g. -O channels=bgr -O scale=0.00392"
        ),
        description: str = typer.Option("", "--description"),
        licence: str = typer.Option("private", "--licence"),
        registry: str | None = REGISTRY_OPT,
    ) -> None:
        """Register an ONNX detector in the team registry as name@version."""
        from prelabel.models.registry import Registry

        size = _parse_size(input_size)
        opts = _parse_options(option)
        class_spec: Any = classes
        if decoder is None or classes is None:  # read what the file says about itself (an Ultralytics export)
            from prelabel.models.onnx_file import registry_settings
            from prelabel.models.registry import read_classes
            from prelabel.models.zoo import CLASS_LISTS

            given = read_classes(classes) if classes else None
            names = list(CLASS_LISTS[given]) if isinstance(given, str) else given
            found = registry_settings(model_file, decoder, names)
            decoder = decoder or found["decoder"]
            class_spec = classes or found["classes"]
            size = size or found["input_size"]
            opts = {**found["options"], **opts}
        entry = Registry.open(registry).register(
            model_file, name=name, version=version, decoder=str(decoder), classes=class_spec,
            input_size=size, options=opts, description=description, licence=licence,
        )  # fmt: skip
        console.print(f"registered {entry.ref} ({len(entry.class_names)} classes, decoder {entry.decoder})")

    @models.command("remove")
    @friendly_errors
    def remove(
        model: str = typer.Argument(..., help="team/name@version to delete from the registry."),
        yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
        registry: str | None = REGISTRY_OPT,
    ) -> None:
        """Delete one version from the registry."""
        from prelabel.models.registry import Registry

        reg = Registry.open(registry)
        entry = reg.resolve(model) if "@" in model else None
        if entry is not None and not yes:
            typer.confirm(f"delete {entry.ref} from {reg.root}?", abort=True)
        removed = reg.remove(model)
        console.print(f"removed {removed.ref} from {reg.root}")

    @models.command("bundle")
    @friendly_errors
    def bundle(
        model: list[str] = typer.Argument(..., help="Zoo ids and/or registry references."),
        out: str = typer.Option(..., "--out", "-o", help="The bundle file to write (a tar)."),
        cache: str | None = CACHE_OPT,
        registry: str | None = REGISTRY_OPT,
    ) -> None:
        """Write models (manifest + files + sha256) into one tar for an air-gapped site."""
        from prelabel.models.bundle import write_bundle

        entries = write_bundle(model, out, cache, registry)
        console.print(f"bundled {', '.join(e.ref for e in entries)} into {out}")

    @models.command("import")
    @friendly_errors
    def import_(
        bundle_file: str = typer.Argument(..., help="A bundle written by 'prelabel models bundle'."),
        cache: str | None = CACHE_OPT,
        registry: str | None = REGISTRY_OPT,
    ) -> None:
        """Verify every file of a bundle, then place zoo models in the cache and registry models in the registry."""
        from prelabel.models.bundle import import_bundle

        for r in import_bundle(bundle_file, cache, registry):
            console.print(f"{r.ref} ({r.origin}): {r.status} -> {r.where}", highlight=False)

    @models.command("convert-tfjs")
    @friendly_errors
    def convert_tfjs_(
        model_json: str = typer.Argument(
            ..., help="A TensorFlow.js graph model (model.json, weight shards beside it)."
        ),
        out: str = typer.Option(..., "--out", "-o", help="The ONNX file to write."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
    ) -> None:
        """Convert a TF.js graph model to ONNX (no TensorFlow needed), e.g. to register it."""
        from pathlib import Path

        from prelabel.errors import InputNotFoundError
        from prelabel.models.convert.tfjs_onnx import convert_tfjs

        src, dest = Path(model_json), Path(out)
        if not src.is_file():
            raise InputNotFoundError(str(src), what="TF.js model.json")
        check_output(str(dest), overwrite)
        convert_tfjs(src, dest)
        console.print(f"wrote {dest} ({dest.stat().st_size / 1e6:.1f} MB)")
