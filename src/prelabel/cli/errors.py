"""The CLI's one top-level error handler: every failure becomes one line on stderr and exit code 2.

Commands raise :class:`prelabel.errors.PrelabelError` s that name the item and what was wrong; anything else that
escapes a command (a library's exception, a bug) is still reported as one line, with a hint to run again with
``--debug`` (or ``PRELABEL_DEBUG=1``), which lets the full traceback through instead.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import typer
from typer.core import TyperGroup

from prelabel.errors import PrelabelError

ENV_DEBUG = "PRELABEL_DEBUG"
EXIT_USAGE = 2
_MAX_LINE = 600
_debug = False
_LIMIT_ENV = ("PRELABEL_MAX_PIXELS", "PRELABEL_MAX_INPUT_BYTES", "PRELABEL_MAX_BODY_BYTES")


def set_debug(value: bool) -> None:
    global _debug
    _debug = value


def _show_warning(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    from prelabel.cli._common import err_console

    text = _first_line(str(message))
    err_console.print(f"[yellow]warning:[/] {text}", highlight=False, markup=True, soft_wrap=True)


def one_line_warnings() -> None:
    """Warnings (a damaged bag, a torn labels line) as one ``warning: ...`` line each, without source lines."""
    warnings.showwarning = _show_warning


def debug_enabled() -> bool:
    return _debug or os.environ.get(ENV_DEBUG, "").strip().lower() in ("1", "true", "yes", "on")


def _first_line(text: str) -> str:
    line = " ".join(part.strip() for part in text.strip().splitlines() if part.strip())
    return line if len(line) <= _MAX_LINE else line[: _MAX_LINE - 3] + "..."


def _validation(e: Any) -> str:
    errs = e.errors()
    first = errs[0] if errs else {}
    where = ".".join(str(p) for p in first.get("loc", ())) or "(top level)"
    more = f" (and {len(errs) - 1} more problems)" if len(errs) > 1 else ""
    return f"{e.title}: field {where}: {first.get('msg', 'invalid')}{more}"


def one_line(e: BaseException) -> str:
    """What went wrong, in one line that names the item where the exception knows it."""
    hint = f"; run again with --debug (or {ENV_DEBUG}=1) for the traceback"
    if isinstance(e, PrelabelError):
        return _first_line(str(e))
    if isinstance(e, IsADirectoryError):
        return f"{e.filename}: is a folder; expected a file"
    if isinstance(e, NotADirectoryError):
        return f"{e.filename}: a part of this path is a file; expected a folder"
    if isinstance(e, FileNotFoundError):
        return f"not found: {e.filename}"
    if isinstance(e, PermissionError):
        return f"{e.filename}: permission denied"
    if isinstance(e, OSError) and e.filename:
        return f"{e.filename}: {e.strerror or e}"
    if isinstance(e, UnicodeDecodeError):
        return f"input is not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start}){hint}"
    if isinstance(e, RecursionError):
        return f"input is nested too deeply to read{hint}"
    if isinstance(e, MemoryError):
        return f"out of memory{hint}"
    if type(e).__name__ == "ValidationError" and hasattr(e, "errors"):
        return _first_line(_validation(e)) + hint
    return _first_line(f"unexpected {type(e).__name__}: {e}") + hint


def report(e: BaseException) -> None:
    from prelabel.cli._common import err_console

    err_console.print(f"[bold red]error:[/] {one_line(e)}", highlight=False, markup=True, soft_wrap=True)


class PrelabelGroup(TyperGroup):
    """The root command group: catches whatever a command lets escape and reports it as one line."""

    def invoke(self, ctx: Any) -> Any:
        set_debug(False)  # the root callback sets it again when --debug is given
        saved = {k: os.environ.get(k) for k in _LIMIT_ENV}  # limit flags last one command (CliRunner, library use)
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except Exception as e:
            if debug_enabled():
                raise
            report(e)
            raise typer.Exit(EXIT_USAGE) from None
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
