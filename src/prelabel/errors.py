"""The exception family. Every message names the item, what was expected, what was got, and the options."""

from __future__ import annotations

from collections.abc import Iterable


class PrelabelError(Exception):
    """Base of every error prelabel raises on purpose. The CLI prints its message as one line."""


class InputNotFoundError(PrelabelError, FileNotFoundError):
    def __init__(self, path: str, what: str = "input") -> None:
        super().__init__(f"{what} not found: {path}")
        self.path = path


class UnreadableInputError(PrelabelError):
    """A file exists but cannot be decoded (corrupt image, not an image, truncated bag...)."""

    def __init__(self, item: str, reason: str) -> None:
        super().__init__(f"cannot read {item}: {reason}")
        self.item = item
        self.reason = reason


class UnknownNameError(PrelabelError, KeyError):
    """A name (model id, format, decoder, executor...) that is not among the known ones."""

    def __init__(self, kind: str, name: str, options: Iterable[str]) -> None:
        opts = sorted(options)
        shown = ", ".join(opts) if opts else "(none)"
        super().__init__(f"unknown {kind} {name!r}; expected one of: {shown}")
        self.kind = kind
        self.name = name
        self.options = opts

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class IntegrityError(PrelabelError):
    """A fetched or cached file whose sha256 does not match the manifest. It is never used."""

    def __init__(self, item: str, expected: str, got: str) -> None:
        super().__init__(f"sha256 mismatch for {item}: expected {expected}, got {got}; the file was refused")
        self.item = item
        self.expected = expected
        self.got = got


class OutputExistsError(PrelabelError, FileExistsError):
    def __init__(self, path: str, hint: str = "pass --overwrite to replace it or --resume to continue") -> None:
        super().__init__(f"output already exists: {path}; {hint}")
        self.path = path


class FormatError(PrelabelError, ValueError):
    """Input in a label format that does not follow that format's rules."""

    def __init__(self, item: str, reason: str) -> None:
        super().__init__(f"{item}: {reason}")
        self.item = item
        self.reason = reason


class LimitExceededError(PrelabelError):
    """An input over a configured bound (decoded pixels, bytes, request body). Names the limit and how to raise it."""

    def __init__(self, item: str, what: str, got: int, limit: int, how: str) -> None:
        super().__init__(f"{item}: {what} {got:,} is over the limit of {limit:,}; {how}")
        self.item = item
        self.what = what
        self.got = got
        self.limit = limit
        self.how = how
