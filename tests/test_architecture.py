"""The package's floors: every import goes down (or sideways within a floor), never up, and no
import circle, between modules or between the rooms (subpackages) of a floor.

Read from the source with ``ast`` (imports inside functions and under ``TYPE_CHECKING`` count: a
circle a type checker or a lazy import walks is still a circle). ``python tests/test_architecture.py``
prints the figures (modules, circles, upward imports, the largest module).
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "hepopt"

# Lowest first. A module may import modules of its own floor (without a circle) and of any floor below.
FLOORS: list[tuple[str, ...]] = [
    ("hepopt", "hepopt.errors", "hepopt.runtime", "hepopt.plugins"),  # the root only imports errors
    ("hepopt.stats",),  # pure figures of merit: arrays in, numbers out
    ("hepopt.config",),
    ("hepopt.data",),
    ("hepopt.models",),
    ("hepopt.training",),
    ("hepopt.objectives",),
    ("hepopt.scoring",),  # train one model and score it
    ("hepopt.search", "hepopt.elimination"),
    ("hepopt.results",),  # what a person reads: tables, plots, reports, exported models
    ("hepopt.stages",),
    ("hepopt.api", "hepopt.workflow", "hepopt.testing"),
    ("hepopt.cli",),
]


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the hepopt modules it imports (``from pkg import sub`` names the submodule)."""
    mods = modules()

    def known(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {name: set() for name in mods}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*parts, base] if base else parts)
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in mods else base for alias in node.names]
            for target in targets:
                resolved = known(target) if target.split(".")[0] == "hepopt" else None
                if resolved and resolved != name:
                    graph[name].add(resolved)
    return graph


def room(module: str) -> str:
    """The subpackage (or top-level module) a module belongs to."""
    return ".".join(module.split(".")[:2])


def floor(module: str) -> int:
    for level, names in enumerate(FLOORS):
        if room(module) in names or module in names:
            return level
    msg = f"{module} is on no floor: add its room to FLOORS"
    raise AssertionError(msg)


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def room_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    rooms: dict[str, set[str]] = defaultdict(set)
    for source, targets in graph.items():
        rooms[room(source)] |= {room(t) for t in targets if room(t) != room(source)}
    # the root package's __init__ is every module's parent: an edge to it is not a room's choice
    return {r: t - {"hepopt"} for r, t in rooms.items()}


def upward(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted((s, t) for s, targets in graph.items() for t in targets if floor(t) > floor(s))


def test_every_module_is_on_a_floor() -> None:
    for module in modules():
        floor(module)


def test_no_import_goes_up_a_floor() -> None:
    assert upward(import_graph()) == []


def test_no_circle_between_modules() -> None:
    assert circles(import_graph()) == []


def test_no_circle_between_rooms() -> None:
    assert circles(room_graph(import_graph())) == []


def test_the_statistics_know_nothing_of_hepopt_above_them() -> None:
    graph = import_graph()
    for module, targets in graph.items():
        if room(module) == "hepopt.stats":
            assert {room(t) for t in targets} <= {"hepopt", "hepopt.stats", "hepopt.errors"}, module


def figures() -> dict[str, object]:
    graph = import_graph()
    mods = modules()
    top = sorted(m for m, p in mods.items() if m.count(".") == 1 and p.name != "__init__.py")
    sizes = sorted(((len(p.read_text().splitlines()), m) for m, p in mods.items()), reverse=True)
    try:
        up = upward(graph)
    except AssertionError:
        up = None
    readme = PACKAGE.parent / "README.md"
    return {
        "modules": len(mods),
        "top_level_modules": len(top),
        "top_level": top,
        "rooms": len({room(m) for m in mods}),
        "module_circles": circles(graph),
        "room_circles": circles(room_graph(graph)),
        "upward_imports": up,
        "largest_modules": sizes[:3],
        "readme_characters": len(readme.read_text(encoding="utf-8")),
    }


if __name__ == "__main__":
    for key, value in figures().items():
        print(f"{key}: {value}")  # noqa: T201 - the figures for a closing note
