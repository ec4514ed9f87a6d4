"""Sphinx extension: the config reference page is generated from the schema at build time
(``<!-- config-reference -->`` in a page is replaced by :func:`hepopt.config.reference.config_reference`)."""

from __future__ import annotations

from typing import Any

MARKER = "<!-- config-reference -->"


def _fill(app: Any, docname: str, source: list[str]) -> None:
    if MARKER in source[0]:
        from hepopt.config.reference import config_reference

        source[0] = source[0].replace(MARKER, config_reference())


def setup(app: Any) -> dict[str, Any]:
    app.connect("source-read", _fill)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
