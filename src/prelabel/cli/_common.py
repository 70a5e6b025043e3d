"""Shared CLI plumbing: one-line errors, the console, progress bars."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from prelabel.errors import PrelabelError

# when piped (CI logs, scripts) rich would assume 80 columns and fold tables; allow wide lines instead
_PIPE_WIDTH = None if sys.stdout.isatty() else 160
console = Console(stderr=False, soft_wrap=True, width=_PIPE_WIDTH)
err_console = Console(stderr=True, soft_wrap=True, width=None if sys.stderr.isatty() else 160)

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, markup=True, soft_wrap=True)
    return typer.Exit(code)


def friendly_errors(fn: F) -> F:
    """Turn prelabel's own errors into one clear line on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PrelabelError as e:
            from prelabel.cli.errors import debug_enabled, one_line

            if debug_enabled():
                raise
            raise fail(one_line(e)) from None
        except KeyboardInterrupt:
            err_console.print("interrupted")
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def set_limit(env_name: str, value: int | None) -> None:
    """A limit flag (``--max-pixels``...) for this command: set in the environment, where every decoder (threads,
    and worker processes started meanwhile) reads it. The root command group puts it back afterwards."""
    if value is not None:
        os.environ[env_name] = str(value)


def check_output(dest: str, overwrite: bool) -> str:
    """``dest`` (a path or URI) when it may be written: an existing output is replaced only with ``--overwrite``."""
    from prelabel import storage
    from prelabel.errors import OutputExistsError

    if storage.exists(dest) and not overwrite:
        raise OutputExistsError(dest, "pass --overwrite to replace it")
    return dest


def comma_list(values: list[str] | None) -> list[str] | None:
    """A repeatable option whose values may also be comma-separated (``-t a,b -t c``): its items, or None if none."""
    return [v.strip() for arg in values or [] for v in arg.split(",") if v.strip()] or None


def percent(fraction: float | None) -> str:
    """A fraction as a percentage with two decimals, for tables; ``-`` for none."""
    return "-" if fraction is None else f"{100 * float(fraction):.2f}"


def print_failures(failures: Sequence[tuple[str, object]], *, records: object | None = None, most: int = 20) -> None:
    """The first ``most`` (item, reason) failures, one line each; with ``records`` (where every failure is
    recorded) a last line counts the ones not shown."""
    for item, reason in failures[:most]:
        console.print(f"[red]failed[/] {item}: {reason}", highlight=False)
    if records is not None and len(failures) > most:
        console.print(f"... and {len(failures) - most} more failures (see the records in {records})")


class RateColumn(TextColumn):
    def __init__(self, unit: str = "frames") -> None:
        super().__init__("")
        self.unit = unit

    def render(self, task: Any) -> Any:
        from rich.text import Text

        speed = task.finished_speed or task.speed
        if not speed and task.completed and task.elapsed:  # too few samples for rich's windowed rate
            speed = task.completed / task.elapsed
        return Text(f"{speed:.1f} {self.unit}/s" if speed else f"- {self.unit}/s", style="cyan")


def progress_bar(unit: str = "frames") -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        RateColumn(unit),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err_console,
        transient=False,
    )
