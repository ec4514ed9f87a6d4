"""The config reference, generated from the schema: every section of ``hepopt.yaml`` with each
key's type, bounds, default and description (the field's docstring), as Markdown.

The documentation builds its reference page from :func:`config_reference`, so the page cannot
drift from what :func:`hepopt.config.load_config` accepts.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from hepopt.config.schema import HepoptConfig

_BOUNDS = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤", "min_length": "at least"}


@dataclass(frozen=True)
class Key:
    """One key of the config: its dotted path, type, default and description."""

    path: str
    type: str
    default: str
    description: str


@dataclass(frozen=True)
class SectionDoc:
    """One section (a schema class) at a path: what it is, and its keys."""

    path: str
    model: type[BaseModel]
    keys: tuple[Key, ...]


def sections(model: type[BaseModel] = HepoptConfig, path: str = "") -> Iterator[SectionDoc]:
    """Every section below ``model`` (itself first), depth first, in the order of the fields."""
    keys = []
    nested: list[tuple[str, type[BaseModel]]] = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        dotted = f"{path}.{key}" if path else key
        keys.append(Key(dotted, type_name(info.annotation), default(info), describe(info)))
        for suffix, inner in _models_in(info.annotation):
            nested.append((dotted + suffix, inner))
    yield SectionDoc(path, model, tuple(keys))
    for dotted, inner in nested:
        yield from sections(inner, dotted)


def config_reference() -> str:
    """The whole reference as Markdown: a heading, the section's docstring and a table per section."""
    lines = []
    for section in sections():
        title = f"`{section.path}`" if section.path else "The top level"
        lines += [f"## {title}", "", _clean(section.model.__doc__ or ""), ""]
        lines += ["| key | type | default | description |", "|---|---|---|---|"]
        for key in section.keys:
            cells = (f"`{key.path}`", key.type, key.default, key.description)
            lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
        lines.append("")
    return "\n".join(lines)


def undocumented() -> list[str]:
    """Keys without a description (a test keeps this empty)."""
    return [key.path for section in sections() for key in section.keys if not key.description]


def describe(info: FieldInfo) -> str:
    text = _clean(info.description or "")
    bounds = [f"{_BOUNDS[name]} {value}" for item in info.metadata for name, value in _bounds(item)]
    return f"{text} ({', '.join(bounds)})" if bounds else text


def default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    value = info.default
    if value is PydanticUndefined:
        return ""
    if isinstance(value, BaseModel):
        return "(its defaults)"
    if value is None:
        return "`null`"
    return f"`{value!r}`" if not isinstance(value, str) else f'`"{value}"`'


def type_name(annotation: Any) -> str:
    """As a person reads it: ``int``, ``"a" or "b"``, ``list of str``, ``map of name → section``."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin is Literal:
        return " or ".join(f'`"{a}"`' if isinstance(a, str) else f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        named = [type_name(a) for a in args if a is not type(None)]
        return " or ".join(named) + (" or `null`" if type(None) in args else "")
    if origin is list:
        return f"list of {type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"map of name → {type_name(args[1])}" if args else "map"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    if annotation is Any:
        return "any"
    return getattr(annotation, "__name__", str(annotation))


def _models_in(annotation: Any, suffix: str = "") -> Iterator[tuple[str, type[BaseModel]]]:
    """The sections a field holds, with the path suffix that reaches them (``[]``, ``.<name>``)."""
    origin, args = get_origin(annotation), get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield suffix, annotation
    elif origin is typing.Annotated:
        yield from _models_in(args[0], suffix)
    elif origin in (typing.Union, types.UnionType):
        for arg in args:
            yield from _models_in(arg, suffix)
    elif origin is list and args:
        yield from _models_in(args[0], suffix + "[]")
    elif origin is dict and args:
        yield from _models_in(args[1], suffix + ".<name>")


def _bounds(item: Any) -> Iterator[tuple[str, Any]]:
    for name in _BOUNDS:
        value = getattr(item, name, None)
        if value is not None:
            yield name, value


def _clean(text: str) -> str:
    """One paragraph: a docstring's lines joined."""
    return " ".join(line.strip() for line in text.strip().splitlines() if line.strip())
