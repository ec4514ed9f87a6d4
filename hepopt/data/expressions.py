"""Feature and selection expressions over NanoAOD-style (jagged) branches.

An expression is Python syntax, parsed and checked by :mod:`hepopt.config.expression_syntax`
(only branch names, numbers, arithmetic, comparisons, ``&``/``|``/``~``, indexing and masking,
and the functions in :data:`FUNCTIONS`; bounded in size and in the cost of its constants), and
evaluated here by walking the tree, so a config file can never run code.

Example::

    nth(Jet_pt, 0, fill=-1)                 # leading-jet pT, -1 when there is no jet
    num(Jet_pt[abs(Jet_eta) < 2.4])         # central-jet multiplicity
    sqrt(MET_px**2 + MET_py**2)             # works for flat and jagged branches alike
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import Any

import awkward as ak
import numpy as np

from hepopt.config.expression_syntax import (
    BINARY,
    CONSTANT_NAMES,
    FUNCTION_NAMES,
    branch_names,
    dotted,
    parse_expression,
)

_LISTS: dict[int, tuple[Any, np.ndarray, np.ndarray, np.ndarray]] = {}  # the last lists nth() took apart


def _nth(x: Any, i: int, fill: float = -1.0) -> Any:
    if isinstance(i, int | np.integer) and i >= 0 and isinstance(x, ak.Array) and x.ndim == 2:
        counts, starts, flat = _taken_apart(x)
        if flat is not None:  # numbers in lists: numpy on their offsets, the lists taken apart once
            out = np.full(len(counts), fill, dtype=np.result_type(flat.dtype, np.asarray(fill).dtype))
            has = counts > i
            out[has] = flat[starts[has] + i]
            return out
    padded = ak.pad_none(x, i + 1, axis=1)
    return ak.fill_none(padded[:, i], fill)


def _taken_apart(x: ak.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Counts, start offsets and flat values of lists of numbers (None for anything else); the
    same lists, asked for again (nth(Jet_pt, 0), nth(Jet_pt, 1), ...), are not taken apart again."""
    cached = _LISTS.get(id(x))
    if cached is not None and cached[0] is x:
        return cached[1], cached[2], cached[3]
    flat_array = ak.flatten(x, axis=1)
    if not isinstance(flat_array.layout, ak.contents.NumpyArray):
        return np.empty(0), np.empty(0), None
    counts = np.asarray(ak.num(x, axis=1), dtype=np.int64)
    starts = np.cumsum(counts) - counts
    flat = flat_array.layout.to_backend_array()
    _LISTS.clear()  # keep one: memory stays that of one chunk's branch
    _LISTS[id(x)] = (x, counts, starts, flat)
    return counts, starts, flat


def _reduce(fn: Callable[..., Any]) -> Callable[..., Any]:
    def reducer(x: Any, fill: float = 0.0) -> Any:
        return ak.fill_none(fn(x, axis=1), fill)

    return reducer


def _delta_phi(a: Any, b: Any) -> Any:
    return (a - b + np.pi) % (2 * np.pi) - np.pi


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "num": lambda x: ak.num(x, axis=1),
    "nth": _nth,
    "first": lambda x, fill=-1.0: _nth(x, 0, fill),
    "sum": lambda x: ak.sum(x, axis=1),
    "max": _reduce(ak.max),
    "min": _reduce(ak.min),
    "mean": _reduce(ak.mean),
    "any": lambda x: ak.any(x, axis=1),
    "all": lambda x: ak.all(x, axis=1),
    "abs": np.abs,
    "sqrt": np.sqrt,
    "log": np.log,
    "log10": np.log10,
    "exp": np.exp,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "arctan2": np.arctan2,
    "hypot": np.hypot,
    "minimum": np.minimum,
    "maximum": np.maximum,
    "where": lambda c, a, b: ak.where(c, a, b),
    "clip": np.clip,
    "delta_phi": _delta_phi,
}
CONSTANTS = {"pi": np.pi, "inf": np.inf, "True": True, "False": False}
assert tuple(FUNCTIONS) == FUNCTION_NAMES
assert tuple(CONSTANTS) == CONSTANT_NAMES
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Invert: operator.invert, ast.Not: np.logical_not}
_COMPARE = {
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
}


def as_numpy(value: Any) -> Any:
    """One number per event as a numpy array: the arithmetic and comparisons on it that follow
    (``num(...) >= 3``, ``delta_phi(MET_phi, ...)``) then skip awkward's dispatch, which costs far
    more than the operation on a chunk of events. Lists per event stay awkward."""
    if isinstance(value, ak.Array) and value.ndim == 1:
        layout = value.layout
        if isinstance(layout, ak.contents.NumpyArray):
            return layout.to_backend_array()
    return value


class Expression:
    """A parsed, checked expression; ``evaluate(resolve)`` looks branch names up with ``resolve``."""

    def __init__(self, text: str, where: str = "expression") -> None:
        self.text = text
        self.where = where
        self._tree = parse_expression(text, where)
        self.branches = branch_names(self._tree)

    def evaluate(self, resolve: Callable[[str], Any]) -> Any:
        """The expression's value on the events ``resolve`` reads (the processor names the file
        and the key when the data makes it fail)."""
        # log(0) and friends are not errors here: non-finite features are reported by name later.
        with np.errstate(all="ignore"):
            return _Evaluator(resolve, self.where).visit(self._tree.body)

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"


class _Evaluator(ast.NodeVisitor):
    def __init__(self, resolve: Callable[[str], Any], where: str) -> None:
        self.resolve, self.where = resolve, where

    def visit_Constant(self, node: ast.Constant) -> Any:
        return node.value

    def visit_Name(self, node: ast.Name) -> Any:
        return CONSTANTS[node.id] if node.id in CONSTANTS else self.resolve(node.id)

    def visit_Attribute(self, node: ast.Attribute) -> Any:
        name = dotted(node)
        assert name is not None  # the syntax check allows attributes on branch names only
        return self.resolve(name)

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        return BINARY[type(node.op)](self.visit(node.left), self.visit(node.right))

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        return _UNARY[type(node.op)](self.visit(node.operand))  # type: ignore[operator]  # a unary op: checked

    def visit_BoolOp(self, node: ast.BoolOp) -> Any:
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        values = [self.visit(v) for v in node.values]
        result = values[0]
        for value in values[1:]:
            result = combine(result, value)
        return result

    def visit_Compare(self, node: ast.Compare) -> Any:
        left, result = self.visit(node.left), None
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = self.visit(right_node)
            term = _COMPARE[type(op)](left, right)
            result = term if result is None else np.logical_and(result, term)
            left = right
        return result

    def visit_Call(self, node: ast.Call) -> Any:
        args = [self.visit(a) for a in node.args]
        kwargs = {str(kw.arg): self.visit(kw.value) for kw in node.keywords}
        function: Callable[..., Any] = FUNCTIONS[node.func.id]  # type: ignore[attr-defined]  # a Name: checked
        return as_numpy(function(*args, **kwargs))

    def visit_Subscript(self, node: ast.Subscript) -> Any:
        return self.visit(node.value)[self.visit(node.slice)]

    def visit_Slice(self, node: ast.Slice) -> slice:
        parts = (node.lower, node.upper, node.step)
        return slice(*(None if p is None else self.visit(p) for p in parts))

    def visit_Tuple(self, node: ast.Tuple) -> tuple[Any, ...]:
        return tuple(self.visit(e) for e in node.elts)
