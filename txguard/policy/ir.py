"""The rule IR: what a policy's rules compile to, and the one table of comparison operators.

A ``when`` condition and a built-in check rule are each parsed once (``policy/conditions.py``,
``policy/compile.py``) into frozen, typed nodes, each located (:class:`Loc`: file, line, column
and the path in its document). The evaluator (``engine/conditions.py``, ``engine/rules.py``), its
trace mode, lint (``policy/lint.py``) and the JSON Schema of ``when`` (``policy/schema.py``) all
read this tree and :data:`OPERATORS`; nothing re-reads the condition data.

Node types::

    All(parts)            every part holds (empty: true)
    AnyOf(parts)          some part holds
    Not(body)
    ForEach(path, var, quantifier, body)   ``all``/``any`` elements of a list (a mapping's values)
    Compare(path, op, operand, on_missing) one comparison; ``operand`` is a Lit or a Ref
    Check(spec, params)   a built-in check with its compiled parameters

Comparison semantics are exact: numbers compare as ``Decimal`` (a float through its ``repr``).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, Protocol, Union

from ..core.errors import ConditionError as ConditionError  # re-exported: the evaluator raises them
from ..core.errors import MissingFact as MissingFact
from ..core.jsonio import exact_decimal
from ..core.paths import MISSING, Getter, Path

PathKey = tuple[Union[str, int], ...]
OnMissing = Literal["escalate", True, False]


# -- values ------------------------------------------------------------------------------------------

def _num(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return exact_decimal(value)  # a JSON number from its source text; a host float by its repr
    if isinstance(value, int):
        return Decimal(value)
    return value


def _as_decimal(value: Any) -> Decimal | None:
    if isinstance(value, Decimal):  # intent amounts already are: skip the conversions
        return value
    value = _num(value)
    if isinstance(value, Decimal):
        return value
    if isinstance(value, str):
        try:
            d = Decimal(value)
        except InvalidOperation:
            return None
        return d if d.is_finite() else None
    return None


def _equal(a: Any, b: Any) -> bool:
    a, b = _num(a), _num(b)
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        da, db = _as_decimal(a), _as_decimal(b)
        return da is not None and db is not None and da == db
    return bool(a == b)


def _member(value: Any, container: Any) -> bool:
    if isinstance(container, Mapping):
        return isinstance(value, (str, int)) and value in container
    if isinstance(container, (list, tuple, set, frozenset)):
        return any(_equal(value, c) for c in container)
    raise ConditionError(f"`in` needs a list or a mapping, got {type(container).__name__}")


# -- the operator table --------------------------------------------------------------------------------

_ANY: dict[str, Any] = {}
_LIST_OR_REF: dict[str, Any] = {"oneOf": [{"type": "array"}, {"$ref": "#/$defs/pathref"}]}


@dataclass(frozen=True, slots=True)
class Operator:
    """One comparison operator: its semantics and everything written about it."""

    name: str
    test: Callable[[Any, Any], bool]
    """On two present values (for an ordering operator: two ``Decimal``)."""
    orders: bool
    """Compares numbers by order: ``null`` on either side counts as missing, both sides must be numbers."""
    schema: Mapping[str, Any]
    """The JSON Schema of its operand in a ``when`` comparison."""
    negation: str | None
    """The operator that holds exactly when this one does not (on a present value), for lint."""
    doc: str
    presence: bool = False
    """``exists``: tests whether the path has a value, never reads ``on_missing``."""


OPERATORS: Mapping[str, Operator] = {op.name: op for op in (
    Operator("eq", _equal, False, _ANY, "ne", "equal (numbers exactly, as decimals)"),
    Operator("ne", lambda a, b: not _equal(a, b), False, _ANY, "eq", "not equal"),
    Operator("gt", operator.gt, True, _ANY, "le", "greater than"),
    Operator("ge", operator.ge, True, _ANY, "lt", "greater than or equal"),
    Operator("lt", operator.lt, True, _ANY, "ge", "less than"),
    Operator("le", operator.le, True, _ANY, "gt", "less than or equal"),
    Operator("in", _member, False, _LIST_OR_REF, "not_in", "one of a list, or a key of a mapping"),
    Operator("not_in", lambda a, b: not _member(a, b), False, _LIST_OR_REF, "in", "none of a list, nor a key of a mapping"),
    Operator("exists", lambda a, b: True, False, {"type": "boolean"}, None,
             "`true`: the path has a non-null value; `false`: it has none", presence=True),
)}
"""Every comparison operator of a ``when`` condition, in the order the documentation lists them."""


def compare(op: Operator, value: Any, other: Any, on_missing: Any, text: str, fixed: Decimal | None = None) -> bool:
    """One comparison on already-fetched values (not ``exists``).

    A value that is not there (a path into the facts that finds nothing, or ``null`` on either
    side of an ordering operator) is decided by ``on_missing``: escalate (the default,
    :class:`MissingFact`), or the boolean given. ``fixed`` is a literal operand's number, read once.
    """
    ordering = op.orders
    if value is MISSING or other is MISSING or (ordering and (value is None or other is None)):
        if on_missing == "escalate":
            found = value is None or other is None
            raise MissingFact(f"`{text}` has no value to compare" if found else f"`{text}` is not in the facts")
        return on_missing is True
    if not ordering:
        return op.test(value, other)
    a, b = _as_decimal(value), (fixed if fixed is not None else _as_decimal(other))
    if a is None or b is None:
        raise ConditionError(f"`{text}` {op.name} `{other}`: both sides must be numbers")
    return op.test(a, b)


# -- locations -------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Loc:
    """Where a node is written: file, 1-based line and column, and its path in that document."""

    file: str
    line: int
    col: int
    path: PathKey = ()

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


NOWHERE = Loc("<policy>", 1, 1)


# -- nodes -------------------------------------------------------------------------------------------------
# `loc` and compiled getters never take part in equality: two nodes are equal when they mean the
# same (lint's implication compares conditions written in different places).

@dataclass(frozen=True, slots=True)
class Lit:
    """A literal operand: as written (``raw``, shown in traces) and as compared (``value``)."""

    raw: Any
    value: Any
    number: Decimal | None = None
    """The literal's number, read once for an ordering operator."""


@dataclass(frozen=True, slots=True)
class Ref:
    """An operand read from another path of the environment."""

    path: Path
    get: Getter = field(compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Compare:
    path: Path
    op: Operator
    operand: Lit | Ref
    on_missing: OnMissing
    get: Getter = field(compare=False, repr=False)
    loc: Loc = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class All:
    parts: tuple[Node, ...]
    loc: Loc = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class AnyOf:
    parts: tuple[Node, ...]
    loc: Loc = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class Not:
    body: Node
    loc: Loc = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class ForEach:
    path: Path
    var: str
    quantifier: Literal["all", "any"]
    body: Node
    get: Getter = field(compare=False, repr=False)
    loc: Loc = field(default=NOWHERE, compare=False)


class CheckSpec(Protocol):
    """What the IR reads of a built-in check's spec (:class:`txguard.checks.spec.CheckSpec`):
    the IR does not import the checks, the checks import the IR's errors."""

    @property
    def name(self) -> str: ...
    @property
    def fn(self) -> Callable[[Any, Any], str | None]: ...
    @property
    def implies(self) -> Callable[[Any, Any], bool] | None: ...
    @property
    def currencies(self) -> Callable[[Any], frozenset[str]] | None: ...


@dataclass(frozen=True, slots=True)
class Check:
    """A built-in check rule: its spec and its parameters compiled by ``spec.compile_params``.

    ``locs`` locates each key of the parameters as written (``("max", "USD")`` -> its Loc)."""

    spec: CheckSpec
    params: Any
    loc: Loc = field(default=NOWHERE, compare=False)
    locs: Mapping[PathKey, Loc] = field(default_factory=dict, compare=False, repr=False)

    def at(self, sub: PathKey) -> Loc:
        """The location of a key of the parameters (or of the nearest located one above it)."""
        while sub:
            if sub in self.locs:
                return self.locs[sub]
            sub = sub[:-1]
        return self.loc


Node = Union[All, AnyOf, Not, ForEach, Compare, Check]
"""A compiled rule's test: a condition tree, or one built-in check."""


def walk(node: Node) -> list[Node]:
    """``node`` and every node under it, parents first."""
    out: list[Node] = [node]
    if isinstance(node, (All, AnyOf)):
        for p in node.parts:
            out += walk(p)
    elif isinstance(node, (Not, ForEach)):
        out += walk(node.body)
    return out
