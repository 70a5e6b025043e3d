"""``prelabel models``: list, info, pull and verify zoo models."""

from __future__ import annotations

import typer

from prelabel.cli._common import EXIT_SOME_FAILED, console, friendly_errors


def register(app: typer.Typer) -> None:
    models = typer.Typer(help="The model zoo: list, inspect, fetch and verify models.", no_args_is_help=True)
    app.add_typer(models, name="models")

    @models.command("list")
    @friendly_errors
    def list_(cache: str | None = typer.Option(None, "--cache", envvar="PRELABEL_CACHE")) -> None:
        """List zoo models and whether each is in the cache."""
        from rich.table import Table

        from prelabel.models.fetch import verify_entry
        from prelabel.models.zoo import list_entries

        table = Table(show_edge=False)
        for col in ("id", "version", "task", "runtime", "input", "licence", "cached"):
            table.add_column(col)
        for e in list_entries():
            status = _cached(e, cache)
            table.add_row(e.id, e.version, e.task, e.runtime, "x".join(map(str, e.input_size)), e.licence, status)
        console.print(table)

    def _cached(entry: object, cache: str | None) -> str:
        from prelabel.models.fetch import cache_dir, file_path
        from prelabel.models.zoo import ModelEntry

        assert isinstance(entry, ModelEntry)
        root = cache_dir(cache)
        have = sum(file_path(entry, role, root).exists() for role in entry.files)
        return "yes" if have == len(entry.files) else ("partly" if have else "no")

    @models.command("info")
    @friendly_errors
    def info(model: str = typer.Argument(..., help="Model id or id@version.")) -> None:
        """Show a model's manifest entry."""
        from prelabel.models.zoo import get_entry

        console.print_json(get_entry(model).model_dump_json())

    @models.command("pull")
    @friendly_errors
    def pull(
        model: list[str] = typer.Argument(..., help="Model ids to fetch."),
        cache: str | None = typer.Option(None, "--cache", envvar="PRELABEL_CACHE"),
    ) -> None:
        """Fetch model files into the cache and verify their sha256."""
        from prelabel.models.fetch import fetch_entry
        from prelabel.models.zoo import get_entry

        for m in model:
            entry = get_entry(m)
            files = fetch_entry(entry, cache)
            for role, path in files.items():
                console.print(f"{entry.ref} {role}: {path} [green]verified[/]")

    @models.command("verify")
    @friendly_errors
    def verify(
        model: list[str] = typer.Argument(None, help="Model ids (default: every cached model)."),
        cache: str | None = typer.Option(None, "--cache", envvar="PRELABEL_CACHE"),
    ) -> None:
        """Re-hash cached model files; exit 1 if any is corrupt."""
        from prelabel.models.fetch import verify_entry
        from prelabel.models.zoo import get_entry, list_entries

        entries = [get_entry(m) for m in model] if model else list_entries()
        bad = 0
        for e in entries:
            for role, status in verify_entry(e, cache).items():
                if status == "missing" and not model:
                    continue
                color = {"ok": "green", "missing": "yellow", "corrupt": "red"}[status]
                console.print(f"{e.ref} {role}: [{color}]{status}[/]")
                bad += status != "ok"
        if bad:
            raise typer.Exit(EXIT_SOME_FAILED)
