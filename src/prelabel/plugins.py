"""Open registries: formats, decoders, runtimes, sources and models found through ``importlib.metadata`` entry points.

A package adds to prelabel by declaring entry points in one of :data:`GROUPS`, for example in its pyproject::

    [project.entry-points."prelabel.formats"]
    myformat = "my_package.myformat:SPEC"

prelabel's own built-ins are declared the same way (see prelabel's pyproject.toml). Each registry also knows its
built-ins itself, so a lookup still finds them when the installed metadata is older than the code (a source
checkout on ``PYTHONPATH``); for a built-in's name the code's own table wins. A plugin that fails to import is
isolated: it is reported by :meth:`Registry.failures` (``prelabel formats``, ``prelabel models list``); only a
lookup of that very name raises, and nothing else breaks.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from typing import Any, Generic, TypeVar

from prelabel.errors import PrelabelError, UnknownNameError

GROUPS = ("prelabel.formats", "prelabel.decoders", "prelabel.runtimes", "prelabel.sources", "prelabel.models")

T = TypeVar("T")


class PluginLoadError(PrelabelError):
    """A plugin whose entry point could not be loaded (import error, missing attribute, wrong kind of object)."""

    def __init__(self, group: str, name: str, target: str, reason: str) -> None:
        super().__init__(f"plugin {name!r} ({group} = {target}) failed to load: {reason}")
        self.group = group
        self.name = name
        self.target = target
        self.reason = reason


@dataclass(frozen=True)
class Failure:
    group: str
    name: str
    target: str
    reason: str

    def __str__(self) -> str:
        return f"{self.name} ({self.target}): {self.reason}"


@cache
def _installed(group: str) -> dict[str, str]:
    """name -> "module:attr" of the entry points installed for ``group`` (read once per process)."""
    found: dict[str, str] = {}
    for ep in metadata.entry_points(group=group):
        found.setdefault(ep.name, ep.value)
    return found


def refresh() -> None:
    """Forget what was read and loaded (after installing a plugin in the running process)."""
    _installed.cache_clear()
    for registry in _REGISTRIES:
        registry._loaded.clear()
        registry._failed.clear()


def load_target(target: str) -> Any:
    """The object a ``module:attr.attr`` reference names."""
    module_name, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


_REGISTRIES: list[Registry[Any]] = []


class Registry(Generic[T]):
    """Named objects of one entry-point ``group``: built-ins plus whatever installed packages declare.

    ``builtins``: name -> ``module:attr`` (the same references prelabel's pyproject declares). ``check`` turns a
    loaded object into the registry's type, or raises TypeError/ValueError saying what is wrong with it.
    """

    def __init__(
        self, group: str, kind: str, builtins: Mapping[str, str], check: Callable[[str, Any], T] | None = None
    ) -> None:
        self.group = group
        self.kind = kind
        self.builtins = dict(builtins)
        self._check = check
        self._loaded: dict[str, T] = {}
        self._failed: dict[str, Failure] = {}
        _REGISTRIES.append(self)

    def targets(self) -> dict[str, str]:
        """name -> ``module:attr`` for every installed plugin and built-in (a plugin cannot take a built-in's name:
        the code's own table wins, so stale installed metadata never points a built-in elsewhere)."""
        return {**_installed(self.group), **self.builtins}

    def names(self) -> list[str]:
        return sorted(self.targets())

    def get(self, name: str) -> T:
        """The object registered as ``name``; an unknown name lists the valid ones, a broken plugin says why."""
        if name in self._loaded:
            return self._loaded[name]
        targets = self.targets()
        if name not in targets:
            raise UnknownNameError(self.kind, name, targets)
        target = targets[name]
        try:
            obj = load_target(target)
            value: T = self._check(name, obj) if self._check else obj
        except Exception as e:  # anything a third-party import can raise stays inside this plugin
            reason = f"{type(e).__name__}: {e}".splitlines()[0]
            self._failed[name] = Failure(self.group, name, target, reason)
            raise PluginLoadError(self.group, name, target, reason) from e
        self._loaded[name] = value
        return value

    def load_all(self) -> dict[str, T]:
        """Every entry that loads; the others are recorded in :meth:`failures` and left out."""
        out: dict[str, T] = {}
        for name in self.names():
            try:
                out[name] = self.get(name)
            except PluginLoadError:
                continue
        return out

    def failures(self) -> list[Failure]:
        """Plugins that failed to load so far (call :meth:`load_all` first to try them all)."""
        return [self._failed[n] for n in sorted(self._failed)]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.targets()

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
