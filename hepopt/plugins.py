"""Classes that installed packages register under an entry-point group (objectives, stages)."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from typing import TypeVar

from hepopt.errors import PluginError

T = TypeVar("T")


def load_plugins(
    group: str, base: type[T], kind: str, check: Callable[[str, type[T]], str | None] | None = None
) -> dict[str, type[T]]:
    """Every class registered under ``group`` by name, each checked to subclass ``base`` and to
    pass ``check`` (which returns what is wrong with the class registered as that name, or None).

    Raises:
        PluginError: naming the entry point (and its distribution) that cannot be imported, is
            not a ``base`` subclass, or fails ``check``.
    """
    found: dict[str, type[T]] = {}
    for ep in importlib.metadata.entry_points(group=group):
        dist = ep.dist.name if ep.dist is not None else "?"
        try:
            obj = ep.load()
        except Exception as err:
            msg = f"{kind} plugin {ep.name!r} = {ep.value!r} (from {dist}) cannot be imported: {err}"
            raise PluginError(msg) from err
        if not (isinstance(obj, type) and issubclass(obj, base)):
            msg = f"{kind} plugin {ep.name!r} = {ep.value!r} (from {dist}) is not a subclass of {base.__name__}"
            raise PluginError(msg)
        problem = check(ep.name, obj) if check is not None else None
        if problem:
            msg = f"{kind} plugin {ep.name!r} = {ep.value!r} (from {dist}): {problem}"
            raise PluginError(msg)
        found[ep.name] = obj
    return found
