"""The syntax of feature and selection expressions, checked when the config is read.

An expression is Python syntax parsed with :mod:`ast` and checked here before anything is
evaluated: only branch names, numbers, arithmetic, comparisons, ``&``/``|``/``~``, indexing and
masking, and the functions of :data:`FUNCTION_NAMES` (implemented in
:mod:`hepopt.data.expressions`) are allowed, so a config can never run code. Its cost is bounded
too: its length, nesting depth and size are limited, a tuple may only index, and the constant
parts are computed here under limits, so ``10**10**10`` or ``(x,)*10**8`` is an error in
milliseconds instead of a hang.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from hepopt.errors import ConfigError

FUNCTION_NAMES = (
    "num", "nth", "first", "sum", "max", "min", "mean", "any", "all", "abs", "sqrt", "log", "log10", "exp",
    "sin", "cos", "tan", "sinh", "cosh", "arctan2", "hypot", "minimum", "maximum", "where", "clip", "delta_phi",
)  # fmt: skip
CONSTANT_NAMES = ("pi", "inf", "True", "False")
MAX_CHARS = 4000  # a long hand-written expression is a few hundred
MAX_DEPTH = 100  # nesting of the syntax tree (a sum of n terms nests n deep)
MAX_NODES = 2000
MAX_EXPONENT = 1000  # |constant exponent|; a physicist's largest is a few
MAX_CONSTANT_BITS = 4096  # integer constants computed while checking

BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.BitAnd: operator.and_,
    ast.BitOr: operator.or_,
    ast.BitXor: operator.xor,
}
UNARY_OPS = (ast.USub, ast.UAdd, ast.Invert, ast.Not)
COMPARE_OPS = (ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq)
_ALLOWED = (
    ast.Expression, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.Call, ast.Name, ast.Attribute,
    ast.Constant, ast.Subscript, ast.Slice, ast.Tuple, ast.Load, ast.keyword, ast.operator, ast.unaryop,
    ast.boolop, ast.cmpop,
)  # fmt: skip


@lru_cache(maxsize=512)
def parse_expression(text: str, where: str) -> ast.Expression:
    """The checked syntax tree of ``text``.

    Raises:
        ConfigError: ``where: 'text': what is not allowed``, for bad syntax, a name or function
            outside the language, or a bound exceeded.
    """
    if len(text) > MAX_CHARS:
        _fail(where, _short(text), f"{len(text)} characters: longer than an expression can be ({MAX_CHARS})")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        msg = f"{where}: cannot parse {_short(text)!r}: {err.msg}"
        raise ConfigError(msg) from None
    except (RecursionError, MemoryError):
        _fail(where, _short(text), f"nested more than {MAX_DEPTH} levels deep")
    _check_size(tree, where, text)
    _Validator(where, text).visit(tree)
    return tree


def feature_where(index: int, name: str) -> str:
    """How an error names feature ``index`` (a bare expression is its own name: kept short)."""
    return f"features.{index} ({_short(name, 40)})"


def _fail(where: str, text: str, problem: str) -> None:
    msg = f"{where}: {text!r}: {problem}"
    raise ConfigError(msg)


def _check_size(tree: ast.AST, where: str, text: str) -> None:
    """Depth and node count, walked without recursion (a deep tree must not exhaust the stack)."""
    stack, nodes = [(tree, 1)], 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if depth > MAX_DEPTH:
            _fail(where, _short(text), f"nested more than {MAX_DEPTH} levels deep")
        if nodes > MAX_NODES:
            _fail(where, _short(text), f"more than {MAX_NODES} terms")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _short(text: str, length: int = 80) -> str:
    return text if len(text) <= length else text[: length - 3] + "..."


def dotted(node: ast.AST) -> str | None:
    """``Jet.pt`` -> 'Jet.pt'; anything that is not a plain dotted name -> None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def branch_names(tree: ast.AST) -> tuple[str, ...]:
    """The branch names an expression reads, in order of appearance."""
    names: list[str] = []

    def walk(node: ast.AST) -> None:
        name = dotted(node)
        if name is not None and name not in CONSTANT_NAMES:
            names.append(name)
            return
        if isinstance(node, ast.Call):
            for arg in [*node.args, *(kw.value for kw in node.keywords)]:
                walk(arg)
            return
        for child in ast.iter_child_nodes(node):
            walk(child)

    walk(tree)
    return tuple(dict.fromkeys(names))


class _Validator(ast.NodeVisitor):
    """Rejects any syntax outside the small language, and constant parts that cannot be computed
    cheaply, before anything is evaluated."""

    def __init__(self, where: str, text: str) -> None:
        self.where, self.text = where, _short(text)

    def generic_visit(self, node: ast.AST) -> None:
        if not isinstance(node, _ALLOWED):
            self._fail(f"'{type(node).__name__}' syntax is not allowed")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTION_NAMES:
                name = dotted(node.func) or ast.unparse(node.func)
                self._fail(f"unknown function '{name}'; available: {sorted(FUNCTION_NAMES)}")
            for arg in [*node.args, *(kw.value for kw in node.keywords)]:
                self.visit(arg)
            return
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Tuple):
            self.visit(node.value)
            for element in node.slice.elts:  # a tuple indexes (Jet_pt[:, 0]); nowhere else
                self.visit(element)
            return
        if isinstance(node, ast.Tuple):
            self._fail("a tuple is only allowed inside [...], e.g. Jet_pt[:, 0]")
        if isinstance(node, ast.BinOp) and type(node.op) not in BINARY:
            symbol = {ast.LShift: "<<", ast.RShift: ">>", ast.MatMult: "@"}.get(type(node.op), type(node.op).__name__)
            self._fail(f"operator '{symbol}' is not allowed")
        if isinstance(node, ast.UnaryOp) and not isinstance(node.op, UNARY_OPS):
            self._fail(f"'{type(node.op).__name__}' is not allowed")
        if isinstance(node, ast.Compare) and not all(isinstance(op, COMPARE_OPS) for op in node.ops):
            self._fail("only <, <=, >, >=, == and != compare")
        if isinstance(node, ast.Attribute) and dotted(node) is None:
            self._fail("attributes are only allowed on branch names, e.g. Jet.pt")
        branch = dotted(node)
        if branch is not None and "__" in branch:
            self._fail(f"'{branch}' is not a branch name")
        if isinstance(node, ast.Compare) and any(
            isinstance(part, ast.BinOp) and isinstance(part.op, ast.BitAnd | ast.BitOr)
            for part in [node.left, *node.comparators]
        ):
            # Python binds & and | tighter than comparisons: 'a > 1 & b > 2' means 'a > (1 & b) > 2'.
            self._fail("'&' and '|' bind tighter than comparisons: write (a > 1) & (b > 2), or a > 1 and b > 2")
        if isinstance(node, ast.Constant) and (
            isinstance(node.value, complex) or not isinstance(node.value, int | float)
        ):
            self._fail(f"constant {node.value!r} is not a number")
        if isinstance(node, ast.BinOp):
            self._check_constants(node)
        super().generic_visit(node)

    def _check_constants(self, node: ast.BinOp) -> None:
        """Compute the constant part of an operation under bounds (a constant exponent stays
        within :data:`MAX_EXPONENT` whatever it is applied to)."""
        if isinstance(node.op, ast.Pow):
            exponent = self._constant(node.right)
            if exponent is not None and abs(exponent) > MAX_EXPONENT:
                self._fail(f"exponent {_magnitude(exponent)} is out of range (at most {MAX_EXPONENT} in size)")
        self._constant(node)

    def _constant(self, node: ast.AST) -> float | int | None:
        """The value of a constant subexpression (None when it reads a branch), computed with
        the bounds checked before each step."""
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.Name) and node.id in ("pi", "inf"):
            return math.pi if node.id == "pi" else math.inf
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            value = self._constant(node.operand)
            return None if value is None else (-value if isinstance(node.op, ast.USub) else value)
        if not isinstance(node, ast.BinOp) or type(node.op) not in BINARY:
            return None
        left, right = self._constant(node.left), self._constant(node.right)
        if left is None or right is None:
            return None
        if isinstance(node.op, ast.Pow) and abs(right) > MAX_EXPONENT:
            self._fail(f"exponent {_magnitude(right)} is out of range (at most {MAX_EXPONENT} in size)")
        if isinstance(left, int) and isinstance(right, int) and _too_big(node.op, left, right):
            self._fail(f"the constant {ast.unparse(node)} is too large")
        try:
            return BINARY[type(node.op)](left, right)
        except (ArithmeticError, ValueError, TypeError) as err:
            self._fail(f"the constant {ast.unparse(node)} cannot be computed ({err})")
        return None

    def _fail(self, text: str) -> None:
        _fail(self.where, self.text, text)


def _too_big(op: ast.operator, left: int, right: int) -> bool:
    bits = max(left.bit_length(), right.bit_length())
    if isinstance(op, ast.Pow):
        return right > 0 and left.bit_length() * right > MAX_CONSTANT_BITS
    if isinstance(op, ast.Mult):
        return left.bit_length() + right.bit_length() > MAX_CONSTANT_BITS
    return bits > MAX_CONSTANT_BITS


def _magnitude(value: float) -> str:
    if isinstance(value, int) and value.bit_length() > 64:
        return f"~1e{int(value.bit_length() * math.log10(2))}"
    return f"{value:g}"
