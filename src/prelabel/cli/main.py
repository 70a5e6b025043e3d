"""The ``prelabel`` command. Each command group lives in its own module with a ``register(app)`` function."""

from __future__ import annotations

import importlib

import typer

from prelabel import __version__
from prelabel.cli.errors import ENV_DEBUG, PrelabelGroup, one_line_warnings, set_debug

app = typer.Typer(
    name="prelabel",
    help="Pre-label driving data with pretrained models, review it, fuse it, export it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=PrelabelGroup,
)

# command modules, in help order; each has register(app)
COMMAND_MODULES = [
    "prelabel.cli.label",
    "prelabel.cli.extract",
    "prelabel.cli.jobs",
    "prelabel.cli.show",
    "prelabel.cli.models",
    "prelabel.cli.quality",
    "prelabel.cli.serve",
    "prelabel.cli.review",
    "prelabel.cli.convert",
    "prelabel.cli.tracking",
    "prelabel.cli.track3d",
    "prelabel.cli.anonymise",
    "prelabel.cli.calibcheck",
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"prelabel {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    debug: bool = typer.Option(
        False, "--debug", envvar=ENV_DEBUG, help="Show the full traceback of a failure instead of one line."
    ),
) -> None:
    """prelabel: open auto-labeling for driving data."""
    set_debug(debug)
    one_line_warnings()


for _mod in COMMAND_MODULES:
    try:
        importlib.import_module(_mod).register(app)
    except Exception as _e:  # one broken command group must not take the whole CLI down
        import sys

        print(f"prelabel: commands from {_mod} are unavailable: {type(_e).__name__}: {_e}", file=sys.stderr)


if __name__ == "__main__":
    app()
