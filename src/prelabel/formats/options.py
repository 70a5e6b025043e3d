"""A format's options: the typed keyword-only parameters of its reader and writer, checked where they come in.

An option the reader or writer does not take is an :class:`UnknownOptionError`; a value of the wrong type, or
outside an option's choices (``Literal[...]``), is an :class:`OptionValueError` naming the format, the option,
what it expects and what it got. Values typed on a command line (``--opt KEY=VALUE``) arrive as
:class:`OptionText` and are read as JSON where the option's type wants a number, a flag or a list.
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any, Literal

from prelabel.errors import PrelabelError


class OptionText(str):
    """An option value as the user typed it (``KEY=VALUE`` on a command line): read as the option's type wants."""


@dataclass(frozen=True)
class Option:
    """One keyword option of a reader or writer: its name, type (as written in the signature) and default."""

    name: str
    type: Any
    default: Any

    @property
    def choices(self) -> tuple[Any, ...]:
        """The values a ``Literal[...]`` option allows (with ``None`` when it is optional); empty for any other."""
        return _choices(self.type)

    @property
    def expected(self) -> str:
        """The type in words: ``int``, ``str or None``, ``one of 'detect', 'segment'``, ``list of str``..."""
        return _describe(self.type)

    def accepts(self, value: Any) -> bool:
        return _conforms(value, self.type)

    def convert(self, value: Any, what: str) -> Any:
        """``value`` checked against the option's type (text from a command line read as JSON first where the
        type wants it); a value that does not fit is an :class:`OptionValueError`."""
        if isinstance(value, OptionText):
            value = self._from_text(str(value))
        if not self.accepts(value):
            raise OptionValueError(what, self, value)
        return value

    def _from_text(self, raw: str) -> Any:
        try:
            parsed = json.loads(raw)
        except ValueError:
            return raw
        if self.accepts(parsed) or not self.accepts(raw):
            return parsed
        return raw  # e.g. job_name=2024 for a str option: the text the user typed

    def __str__(self) -> str:
        return f"{self.name}: {self.expected} = {self.default!r}"


class UnknownOptionError(PrelabelError):
    """Options a reader or writer does not take; names them and lists the ones it does."""

    def __init__(self, what: str, unknown: list[str], known: Iterable[str]) -> None:
        shown = ", ".join(sorted(known)) or "(no options)"
        super().__init__(f"the {what} does not take option(s) {unknown}; it takes: {shown}")
        self.unknown = unknown


class OptionValueError(PrelabelError):
    """An option value of the wrong type or outside the option's choices."""

    def __init__(self, what: str, option: Option, value: Any) -> None:
        super().__init__(
            f"the {what} option {option.name!r} expects {option.expected}; got {value!r} ({type(value).__name__})"
        )
        self.option = option.name


def options_of(fn: Callable[..., Any] | None) -> dict[str, Option]:
    """The keyword-only parameters of ``fn``, with their resolved types (the text of one that does not resolve)."""
    if fn is None:
        return {}
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # a plugin's annotation that does not resolve: keep the text
        hints = {}
    out: dict[str, Option] = {}
    for p in inspect.signature(fn).parameters.values():
        if p.kind is p.KEYWORD_ONLY:
            out[p.name] = Option(p.name, hints.get(p.name, p.annotation), p.default)
    return out


def checked(known: Mapping[str, Option], what: str, opts: Mapping[str, Any]) -> dict[str, Any]:
    """``opts`` with every name known and every value of its option's type; ``what`` names the reader or writer
    (``"yolo writer"``) in the errors."""
    unknown = sorted(set(opts) - set(known))
    if unknown:
        raise UnknownOptionError(what, unknown, known)
    return {k: known[k].convert(v, what) for k, v in opts.items()}


_SEQUENCES = (list, set, frozenset, Sequence, AbstractSet)


def _args(tp: Any) -> tuple[Any, ...]:
    return typing.get_args(tp)


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _choices(tp: Any) -> tuple[Any, ...]:
    if typing.get_origin(tp) is Literal:
        return _args(tp)
    if _is_union(tp):
        arms = [a for a in _args(tp) if a is not type(None)]
        if len(arms) == 1 and typing.get_origin(arms[0]) is Literal:
            return (*_args(arms[0]), None)
    return ()


def _known(tp: Any) -> bool:
    """Whether a type is one this module can check (anything else is accepted as it is)."""
    return not (tp is Any or tp is inspect.Parameter.empty or isinstance(tp, str))


def _conforms(value: Any, tp: Any) -> bool:
    if not _known(tp):
        return True
    if tp is None or tp is type(None):
        return value is None
    if _is_union(tp):
        return any(_conforms(value, a) for a in _args(tp))
    origin = typing.get_origin(tp)
    if origin is Literal:
        return any(value == c and type(value) is type(c) for c in _args(tp))
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    if origin is tuple:
        items = _args(tp)
        if not isinstance(value, tuple | list):
            return False
        if len(items) == 2 and items[1] is Ellipsis:
            return all(_conforms(v, items[0]) for v in value)
        return len(value) == len(items) and all(_conforms(v, t) for v, t in zip(value, items, strict=True))
    if origin in _SEQUENCES:
        if isinstance(value, str | bytes | Mapping) or not isinstance(value, list | tuple | set | frozenset):
            return False
        (item,) = _args(tp) or (Any,)
        return all(_conforms(v, item) for v in value)
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            return False
        key, val = _args(tp) or (Any, Any)
        return all(_conforms(k, key) and _conforms(v, val) for k, v in value.items())
    if isinstance(tp, type):
        return isinstance(value, tp)
    return True  # a generic this module does not model (Iterable[FrameRecord], a callable...): not checked here


def _describe(tp: Any) -> str:
    if isinstance(tp, str):
        return tp
    if tp is Any or tp is inspect.Parameter.empty:
        return "any value"
    if tp is None or tp is type(None):
        return "None"
    choices = _choices(tp)
    if choices:
        return "one of " + ", ".join(repr(c) for c in choices)
    if _is_union(tp):
        return " or ".join(_describe(a) for a in _args(tp))
    origin = typing.get_origin(tp)
    if origin is tuple:
        items = _args(tp)
        if len(items) == 2 and items[1] is Ellipsis:
            return f"a list of {_describe(items[0])}"
        return "[" + ", ".join(_describe(t) for t in items) + "]"
    if origin in _SEQUENCES and _args(tp):
        return f"a list of {_describe(_args(tp)[0])}"
    if origin in (dict, Mapping) and len(_args(tp)) == 2:
        return f"a mapping of {_describe(_args(tp)[0])} to {_describe(_args(tp)[1])}"
    return str(getattr(tp, "__name__", tp))
