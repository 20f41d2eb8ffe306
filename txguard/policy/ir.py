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
    Compare(left, op, operand, on_missing) one comparison of two expressions
    Check(spec, params)   a built-in check with its compiled parameters

Expressions (:data:`Expr`), each with a static :class:`~txguard.policy.types.Type` computed at load::

    Lit(raw, value)       a literal (numbers, strings, money, dates, datetimes, durations)
    Ref(path)             a path's value
    Now()                 the decision's clock (read once per decision)
    Arith(op, args)       add / sub / mul / div / round: exact Decimal, currency-checked
    Aggregate(fn, path, var, of, where)  count / sum / min / max / distinct over a list
    TableLookup(table, keys, default)    a value of a ``tables:`` entry

Comparison semantics are exact: numbers compare as ``Decimal`` (a float through its ``repr``),
datetimes as instants (across offsets), and no value is ever a binary float.

Size: the IR is one vocabulary (condition nodes, expression nodes and the two tables that
describe them: operators and expression forms); splitting it would split what the parser,
evaluator, lint and schema all read together.
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
from .types import ANY, Currency, Type

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
        return value if value.is_finite() else None
    value = _num(value)
    if isinstance(value, Decimal):
        return value if value.is_finite() else None  # NaN and infinities (host floats, JSON `Infinity`) are no numbers
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
_LIST_OR_REF: dict[str, Any] = {"anyOf": [{"type": "array"}, {"$ref": "#/$defs/expression"}]}
_STRING_OR_EXPR: dict[str, Any] = {"anyOf": [{"type": "string"}, {"$ref": "#/$defs/expression"}]}


def _strings(a: Any, b: Any) -> str:
    if not isinstance(a, str) or not isinstance(b, str):
        raise ConditionError(f"a string operator needs two strings, got `{a}` and `{b}`")
    return a


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
    Operator("startswith", lambda a, b: _strings(a, b).startswith(_strings(b, a)), False, _STRING_OR_EXPR, None,
             "a string that starts with the operand"),
    Operator("endswith", lambda a, b: _strings(a, b).endswith(_strings(b, a)), False, _STRING_OR_EXPR, None,
             "a string that ends with the operand"),
    Operator("ieq", lambda a, b: _strings(a, b).casefold() == _strings(b, a).casefold(), False, _STRING_OR_EXPR, "ine",
             "equal to the operand, ignoring case (Unicode case folding)"),
    Operator("ine", lambda a, b: _strings(a, b).casefold() != _strings(b, a).casefold(), False, _STRING_OR_EXPR, "ieq",
             "not equal to the operand, ignoring case"),
    Operator("exists", lambda a, b: True, False, {"type": "boolean"}, None,
             "`true`: the path has a non-null value; `false`: it has none", presence=True),
)}
"""Every comparison operator of a ``when`` condition, in the order the documentation lists them."""


_STRING_PREDICATES = frozenset({"startswith", "endswith", "ieq", "ine"})
"""Operators that need a string on both sides: a null side is a missing value, as for an ordering."""


def compare(op: Operator, value: Any, other: Any, on_missing: Any, text: str, fixed: Decimal | None = None) -> bool:
    """One comparison on already-fetched values (not ``exists``).

    A value that is not there (a path into the facts that finds nothing, or ``null`` on either
    side of an ordering operator) is decided by ``on_missing``: escalate (the default,
    :class:`MissingFact`), or the boolean given. ``fixed`` is a literal operand's number, read once.
    """
    ordering = op.orders
    if value is MISSING or other is MISSING or ((ordering or op.name in _STRING_PREDICATES)
                                                 and (value is None or other is None)):
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

def _show(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_show(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


@dataclass(frozen=True, slots=True)
class Lit:
    """A literal operand: as written (``raw``, shown in traces) and as compared (``value``)."""

    raw: Any
    value: Any
    number: Decimal | None = None
    """The literal's number, read once for an ordering operator."""
    type: Type = field(default=ANY, compare=False)
    loc: Loc = field(default=NOWHERE, compare=False)

    @property
    def text(self) -> str:
        return _show(self.raw)


@dataclass(frozen=True, slots=True)
class Ref:
    """An operand read from a path of the environment."""

    path: Path
    get: Getter = field(compare=False, repr=False)
    type: Type = field(default=ANY, compare=False)
    loc: Loc = field(default=NOWHERE, compare=False)

    @property
    def text(self) -> str:
        return self.path.text


@dataclass(frozen=True, slots=True)
class Now:
    """The decision's clock (``ctx.now``), read once per decision: every ``now`` of it is equal."""

    type: Type = Type("datetime")
    loc: Loc = field(default=NOWHERE, compare=False)

    @property
    def text(self) -> str:
        return "now"


@dataclass(frozen=True, slots=True)
class Arith:
    """``add``/``sub``/``mul``/``div`` of ``args`` (``round``: ``args[0]`` to ``places`` decimals).

    ``mode``: ``number`` (exact Decimal), ``time`` (datetimes, dates, durations) or ``any``
    (decided on the values at run time). ``currencies``: the currencies of its money operands
    that are only known at run time, checked equal when it runs."""

    op: str
    args: tuple[Expr, ...]
    type: Type
    mode: str
    currencies: tuple[Currency, ...] = ()
    places: int | None = None
    loc: Loc = field(default=NOWHERE, compare=False)

    @property
    def text(self) -> str:
        extra = [str(self.places)] if self.places is not None else []
        return f"{self.op}({', '.join([a.text for a in self.args] + extra)})"


@dataclass(frozen=True, slots=True)
class Aggregate:
    """``fn`` (count/sum/min/max/distinct) over the elements of ``path`` (a mapping: its values)
    bound to ``var`` that satisfy ``where``, of the value ``of`` (default: the element)."""

    fn: str
    path: Path
    var: str
    of: Expr | None
    where: Node | None
    type: Type
    get: Getter = field(compare=False, repr=False)
    loc: Loc = field(default=NOWHERE, compare=False)

    @property
    def text(self) -> str:
        out = f"{self.fn}({self.path.text}"
        if self.of is not None:
            out += f" of {self.of.text}"
        if self.where is not None:
            out += " where ..."
        return out + ")"


@dataclass(frozen=True, slots=True)
class TableLookup:
    """The entry of table ``table`` at ``keys`` (one per nesting level); a key not in the table
    gives ``default``, or no value (a missing fact) without one."""

    table: str
    keys: tuple[Expr, ...]
    default: Lit | None
    type: Type
    data: Mapping[str, Any] = field(compare=False, repr=False)
    loc: Loc = field(default=NOWHERE, compare=False)

    @property
    def text(self) -> str:
        return self.table + "".join(f"[{k.text}]" for k in self.keys)


Expr = Union[Lit, Ref, Now, Arith, Aggregate, TableLookup]
"""An expression: an operand of a comparison."""


@dataclass(frozen=True, slots=True)
class ExprForm:
    """One form of an expression written as a mapping: its key, its other keys, and its doc."""

    name: str
    schema: Mapping[str, Any]
    """The JSON Schema of the whole mapping's properties (its own key included)."""
    required: tuple[str, ...]
    doc: str
    example: str


_E: dict[str, Any] = {"$ref": "#/$defs/expr"}
_AGG: dict[str, Any] = {"as": {"type": "string", "pattern": "^[a-z_][a-z0-9_]*$"}, "where": {"$ref": "#/$defs/condition"}}
_INT: dict[str, Any] = {"type": "integer"}

EXPRESSIONS: Mapping[str, ExprForm] = {f.name: f for f in (
    ExprForm("path", {"path": {"type": "string"}}, (), "the value at a path", "{path: intent.total}"),
    ExprForm("lit", {"lit": {}}, (), "a literal, as written (a string that is not a path)", '{lit: "gold"}'),
    ExprForm("decimal", {"decimal": {"type": ["string", "integer"]}}, (), "an exact decimal number, as written",
             '{decimal: "0.79999999999999999"}'),
    ExprForm("money", {"money": {"type": ["string", "integer"]}, "currency": {"type": "string", "pattern": "^[A-Z]{3}$"}},
             (), "an amount in a currency (default: the policy's `currency`)", '{money: "25.00", currency: EUR}'),
    ExprForm("datetime", {"datetime": {"type": "string"}}, (), "a datetime with a UTC offset (RFC 3339)",
             '{datetime: "2026-03-01T09:00:00+01:00"}'),
    ExprForm("date", {"date": {"type": "string"}}, (), "a calendar date", '{date: "2026-03-01"}'),
    ExprForm("duration", {"duration": {"type": "string"}}, (), "an ISO 8601 duration in weeks, days, hours, minutes, seconds",
             "{duration: P1DT12H}"),
    *(ExprForm(unit, {unit: _INT}, (), f"a duration of whole {unit}", f"{{{unit}: 3}}")
      for unit in ("weeks", "days", "hours", "minutes", "seconds")),
    ExprForm("add", {"add": {"type": "array", "items": _E, "minItems": 2}}, (),
             "the sum of numbers or amounts, or a datetime plus durations", "{add: [intent.total, 5]}"),
    ExprForm("sub", {"sub": {"type": "array", "items": _E, "minItems": 2, "maxItems": 2}}, (),
             "the first minus the second (datetimes: a datetime or a duration)", "{sub: [now, {hours: 24}]}"),
    ExprForm("mul", {"mul": {"type": "array", "items": _E, "minItems": 2}}, (),
             "the product (at most one amount)", "{mul: [line.unit_price, line.quantity]}"),
    ExprForm("div", {"div": {"type": "array", "items": _E, "minItems": 2, "maxItems": 2}}, (),
             "the exact quotient; an inexact one (`10 / 3`) is an error unless `round` takes it directly "
             "(then it is rounded correctly); a division by zero is an error", "{div: [intent.total, 2]}"),
    ExprForm("round", {"round": _E, "places": {"type": "integer", "minimum": 0, "maximum": 18}}, ("places",),
             "a number (or a `div`) rounded to `places` decimals, half to even",
             "{round: {div: [intent.total, 3]}, places: 2}"),
    *(ExprForm(fn, {fn: {"type": "string"}, **({"of": _E} if fn != "count" else {}), **_AGG}, (), doc, ex)
      for fn, doc, ex in (
          ("count", "how many elements (that satisfy `where`)", "{count: intent.items}"),
          ("sum", "the exact sum of `of` over the elements (0 for none)", "{sum: intent.items, of: item.quantity}"),
          ("min", "the least `of` (no value for no elements: a missing fact)", "{min: intent.items, of: item.unit_price}"),
          ("max", "the greatest `of` (no value for no elements)", "{max: intent.items, of: item.unit_price}"),
          ("distinct", "how many distinct values of `of`", "{distinct: intent.items, of: item.product_id}"))),
    ExprForm("table", {"table": {"type": "string"}, "keys": {"type": "array", "items": _E, "minItems": 1}, "default": {}},
             ("keys",), "an entry of a `tables:` table, one key per level", "{table: free_bags, keys: [gold, economy]}"),
)}
"""Every expression written as a mapping (besides a bare path string, `now` and a number)."""


@dataclass(frozen=True, slots=True)
class Compare:
    """``left op operand``; ``mode`` is how an ordering or equality compares: ``plain`` (numbers
    as decimals, as always), ``datetime``, ``date`` or ``duration``."""

    left: Expr
    op: Operator
    operand: Expr
    on_missing: OnMissing
    loc: Loc = field(default=NOWHERE, compare=False)
    mode: str = "plain"
    currencies: tuple[Currency, ...] = ()
    default: Any = None
    """The value the left side takes when it is not there (a declared field absent from a record
    that is there); None: no default, the absence is decided by ``on_missing``."""
    default_parent: Any = field(default=None, compare=False)
    """The getter of the record the left path's field is in: a default applies only when it is there."""

    @property
    def text(self) -> str:
        return self.left.text


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
