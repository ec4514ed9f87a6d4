"""YAML as a config is read: PyYAML's safe loader (no tags that build objects or run code), with
bounds on what a file can make it do.

- A key given twice in one mapping is an error naming both lines (YAML itself lets the last win,
  so a second ``seed:`` would silently replace the first).
- Aliases (``*name``) are limited in number, and so is the size of the document once they are
  expanded: a "billion laughs" file, where aliases of aliases expand to gigabytes, is refused at
  once instead of hanging whatever reads its result.
- The file size and nesting depth are bounded, so no config can exhaust memory or the stack.
"""

from __future__ import annotations

from typing import Any

import yaml

MAX_BYTES = 4 * 1024 * 1024  # a config is a few kB; generated ones stay far below this
MAX_ALIASES = 100
MAX_VALUES = 100_000  # values in the document with aliases expanded
MAX_DEPTH = 50


class YamlLimitError(yaml.YAMLError):
    """A bound of this module was exceeded; ``problem`` and ``problem_mark`` say where."""

    def __init__(self, problem: str, mark: yaml.Mark | None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


class BoundedSafeLoader(yaml.SafeLoader):
    """:class:`yaml.SafeLoader` with duplicate keys refused and aliases and depth bounded."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark
                msg = f"more than {MAX_ALIASES} aliases (*name): refused, as in a YAML bomb"
                raise YamlLimitError(msg, mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                msg = f"nested more than {MAX_DEPTH} levels deep"
                raise YamlLimitError(msg, mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: the base class says so
                break
            if first is not None:
                problem = (
                    f"key {key!r} is given twice (lines {first.line + 1} and {key_node.start_mark.line + 1}); keep one"
                )
                raise YamlLimitError(problem, key_node.start_mark)
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> Any:
    """Parse ``text`` with :class:`BoundedSafeLoader`.

    Raises:
        yaml.YAMLError: malformed YAML or a bound exceeded (``problem``, ``problem_mark`` set).
    """
    if len(text) > MAX_BYTES:
        msg = f"{len(text)} characters: larger than a config can be ({MAX_BYTES})"
        raise YamlLimitError(msg, None)
    loader = BoundedSafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expanded_size(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _check_expanded_size(root: yaml.Node) -> None:
    """The number of values the document holds once its aliases are expanded (what any reader of
    the result walks, e.g. a validator printing the value), computed on the shared graph."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:  # post-order without recursion: children's sizes before their parent's
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children = _children(node)
        if children_done or not children:
            sizes[id(node)] = 1 + sum(sizes[id(child)] for child in children)
            if sizes[id(node)] > MAX_VALUES:
                problem = (
                    f"more than {MAX_VALUES} values once its aliases (*name) are expanded: refused, as in a YAML bomb"
                )
                raise YamlLimitError(problem, node.start_mark)
            continue
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []
