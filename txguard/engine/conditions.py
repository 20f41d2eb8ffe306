"""The evaluator of ``when`` conditions over the IR, with an optional trace of every comparison.

``eval_node(node, env)`` decides a condition; ``eval_node(node, env, out)`` decides it the same way (same
order, short-circuiting and errors) and appends a :class:`Comparison` to ``out`` for each ``all``/``any``/
``not``/``for_each`` and comparison it evaluates; at most :data:`MAX_ELEMENTS` elements of a ``for_each``.

Size: conditions and the expressions they compare are one evaluator (same values, same errors);
the compiled closures (:mod:`.compiled`) import its pieces, so splitting it would split that contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from fractions import Fraction
from decimal import ROUND_HALF_EVEN, Context, Decimal, DecimalException, DivisionByZero, Inexact, InvalidOperation, Overflow
from typing import Any

from ..core.paths import MISSING
from ..policy import types as T
from ..policy.ir import (
    Aggregate,
    All,
    AnyOf,
    Arith,
    Compare,
    ConditionError,
    Expr,
    ForEach,
    Lit,
    MissingFact,
    Node,
    Not,
    Now,
    Ref,
    TableLookup,
    _as_decimal,
    compare,
)
from .trace import MAX_ELEMENTS, Comparison

NOW = "$now"
"""The environment's key of the decision's clock (``ctx.now``): no path can name it."""

EXACT = Context(prec=60, rounding=ROUND_HALF_EVEN, traps=[Inexact, InvalidOperation, DivisionByZero, Overflow])
"""Arithmetic of expressions: 60 digits, and a result that does not fit exactly is an error."""


def eval_node(node: Node, env: Mapping[str, Any], out: list[Comparison] | None = None, depth: int = 0) -> bool:
    """Whether ``node`` holds in ``env``; raises :class:`MissingFact` or :class:`ConditionError`."""
    if isinstance(node, Compare):
        return _compare(node, env, out, depth)
    if isinstance(node, (All, AnyOf)):
        every = isinstance(node, All)
        if out is None:
            results = (eval_node(p, env) for p in node.parts)
            return all(results) if every else any(results)
        word = "all" if every else "any"
        slot = len(out)
        out.append(Comparison(depth, word))
        traced = (eval_node(p, env, out, depth + 1) for p in node.parts)
        result = all(traced) if every else any(traced)
        out[slot] = Comparison(depth, word, result=result)
        return result
    if isinstance(node, Not):
        if out is None:
            return not eval_node(node.body, env)
        slot = len(out)
        out.append(Comparison(depth, "not"))
        result = not eval_node(node.body, env, out, depth + 1)
        out[slot] = Comparison(depth, "not", result=result)
        return result
    if isinstance(node, ForEach):
        return _for_each(node, env, out, depth)
    raise TypeError(f"{type(node).__name__} is not a condition: a built-in check is run by the rule loop")


def _for_each(node: ForEach, env: Mapping[str, Any], out: list[Comparison] | None, depth: int) -> bool:
    text = node.path.text
    seq = node.get(env)
    if seq is MISSING:
        if out is not None:
            out.append(Comparison(depth, f"for_each {text}: <missing>"))
        raise MissingFact(f"`{text}` is not in the facts")
    if seq is None and node.path.root in ("intent", "request"):
        seq = ()  # an optional list the intent or request leaves out has no elements
    if isinstance(seq, Mapping):
        seq = list(seq.values())
    if not isinstance(seq, (list, tuple)):
        raise ConditionError(f"`{text}` is not a list")
    name, body, every = node.var, node.body, node.quantifier == "all"
    if out is None:
        results = (eval_node(body, {**env, name: x}) for x in seq)
        return all(results) if every else any(results)
    slot = len(out)
    head = f"for_each {text} as {name} ({node.quantifier}, {len(seq)} elements)"
    out.append(Comparison(depth, head))

    def element(n: int, elem: Any) -> bool:
        if n >= MAX_ELEMENTS:  # judged, not traced
            return eval_node(body, {**env, name: elem})
        out.append(Comparison(depth + 1, f"{name} = {text}[{n}]"))
        return eval_node(body, {**env, name: elem}, out, depth + 2)

    traced = (element(n, elem) for n, elem in enumerate(seq))
    result = all(traced) if every else any(traced)
    out[slot] = Comparison(depth, head, result=result)
    return result


def _compare(node: Compare, env: Mapping[str, Any], out: list[Comparison] | None, depth: int) -> bool:
    left, operand, op = node.left, node.operand, node.op
    value = left.get(env) if type(left) is Ref else value_of(left, env)
    if value is MISSING and node.default is not None:
        parent = node.default_parent
        if parent is None or parent(env) not in (MISSING, None):  # a missing record is still a missing fact
            value = node.default
    if type(operand) is Lit:
        other, fixed = operand.value, operand.number
    else:
        other, fixed = (operand.get(env) if type(operand) is Ref else value_of(operand, env)), None
    if out is None:
        return _decide(node, value, other, fixed, env)
    label = f"{left.text} {op.name} {operand.text}"
    try:
        result = _decide(node, value, other, fixed, env)
    except (MissingFact, ConditionError):
        out.append(Comparison(depth, label, value, op.name, other, None))
        raise
    out.append(Comparison(depth, label, value, op.name, other, result))
    return result


def _decide(node: Compare, value: Any, other: Any, fixed: Any, env: Mapping[str, Any]) -> bool:
    op = node.op
    if op.presence:
        return (value is not MISSING and value is not None) == bool(other)
    if node.currencies and value is not MISSING and other is not MISSING:
        _same_currency(node.currencies, env, strict=False)
    mode = node.mode
    if mode == "auto":
        mode = _auto_mode(value, other)
    text = node.left.text if value in _ABSENT or other not in _ABSENT or type(node.operand) is Lit else node.operand.text
    if mode == "plain":
        return compare(op, value, other, node.on_missing, text, fixed)
    if value is MISSING or other is MISSING or value is None or other is None:
        return compare(op, value, other, node.on_missing, text, fixed)  # decides the missing side
    try:
        a, b = T.read_temporal(value, mode), T.read_temporal(other, mode)
    except T.ValueTypeError as exc:
        raise ConditionError(f"`{node.left.text}`: {exc}") from None
    return bool(op.test(a, b)) if op.orders else op.test(a, b)


def _auto_mode(a: Any, b: Any) -> str:
    """How two untyped values order: as numbers, unless they are datetimes or dates."""
    for v in (a, b):
        if isinstance(v, datetime) or (isinstance(v, str) and T.temporal_kind_of_text(v) == "datetime"):
            return "datetime"
        if isinstance(v, date) or (isinstance(v, str) and T.temporal_kind_of_text(v) == "date"):
            return "date"
        if isinstance(v, timedelta):
            return "duration"
    return "plain"


def _same_currency(currencies: tuple[T.Currency, ...], env: Mapping[str, Any], strict: bool = True) -> None:
    """Amounts in two currencies are an error; an unknown currency too when computing
    (``strict``), not when comparing (a comparison of amounts compares them as numbers, as always)."""
    seen: dict[str, str] = {}
    for cur in currencies:
        code = cur.code if cur.code is not None else (cur.get(env) if cur.get is not None else None)
        if not isinstance(code, str):
            if not strict:
                continue
            raise ConditionError(f"the currency of `{cur.text}` is unknown: amounts cannot be combined")
        seen.setdefault(code, cur.text)
    if len(seen) > 1:
        raise ConditionError("amounts in different currencies: " + " and ".join(f"{c} (`{w}`)" for c, w in seen.items()))


# -- expressions -------------------------------------------------------------------------------------

def value_of(e: Expr, env: Mapping[str, Any]) -> Any:
    """The value of an expression in ``env`` (:data:`MISSING` when a value it needs is missing)."""
    t = type(e)
    if t is Ref:
        return e.get(env)  # type: ignore[union-attr]
    if t is Lit:
        return e.value  # type: ignore[union-attr]
    if t is Now:
        now = env.get(NOW, MISSING)
        if not isinstance(now, datetime):
            raise ConditionError("`now`: the decision's clock is not available here")
        return now
    if t is Arith:
        return _arith(e, env)  # type: ignore[arg-type]
    if t is Aggregate:
        return _aggregate(e, env)  # type: ignore[arg-type]
    if t is TableLookup:
        return _lookup(e, env)  # type: ignore[arg-type]
    raise TypeError(f"{t.__name__} is not an expression")


def _number(value: Any, text: str) -> Decimal:
    d = None if isinstance(value, bool) else _as_decimal(value)
    if d is None:
        raise ConditionError(f"`{text}` is `{value}`, not a number")
    return d


def _arith(e: Arith, env: Mapping[str, Any]) -> Any:
    inner = e.args[0]
    if e.op == "round" and type(inner) is Arith and inner.op == "div":
        return _rounded_quotient(inner, e.places or 0, env)
    values = [value_of(a, env) for a in e.args]
    if any(v is MISSING or v is None for v in values):
        return MISSING
    if e.currencies:
        _same_currency(e.currencies, env)
    mode = e.mode
    if mode == "any":
        mode = "time" if any(isinstance(v, (date, timedelta)) for v in values) else "number"
    if mode == "time":
        return _time(e, values)
    nums = [_number(v, a.text) for v, a in zip(values, e.args)]
    try:
        if e.op == "round":
            return nums[0].quantize(Decimal(1).scaleb(-(e.places or 0)), rounding=ROUND_HALF_EVEN,
                                    context=Context(prec=60, traps=[InvalidOperation]))
        result = nums[0]
        for n in nums[1:]:
            if e.op == "add":
                result = EXACT.add(result, n)
            elif e.op == "sub":
                result = EXACT.subtract(result, n)
            elif e.op == "mul":
                result = EXACT.multiply(result, n)
            else:
                result = EXACT.divide(result, n)
        return result
    except DivisionByZero:
        raise ConditionError(f"`{e.text}` divides by zero") from None
    except Inexact:
        raise ConditionError(f"`{e.text}` is not exact in 60 digits (round explicitly with `round`)") from None
    except DecimalException as exc:
        raise ConditionError(f"`{e.text}` cannot be computed ({type(exc).__name__})") from None


_MICROSECOND = timedelta(microseconds=1)  # a duration divided by another is exact on their microseconds
_ABSENT = (MISSING, None)  # a missing value is named by its own side: the operand's when only it is missing

_EXACT_SCALE = 1000
"""The largest exponent and digit count of an operand of ``round(a / b)``, computed on exact rationals."""


def _rounded_quotient(div: Arith, places: int, env: Mapping[str, Any]) -> Any:
    """``round(a / b, places)`` correctly rounded (half to even), computed on exact rationals."""
    values = [value_of(a, env) for a in div.args]
    if any(v is MISSING or v is None for v in values):
        return MISSING
    if div.currencies:
        _same_currency(div.currencies, env)
    a, b = (_micros_or_number(v, x.text) for v, x in zip(values, div.args))
    for d, x in ((a, div.args[0]), (b, div.args[1])):
        if d and (abs(d.adjusted()) > _EXACT_SCALE or len(d.as_tuple().digits) > _EXACT_SCALE):
            raise ConditionError(f"`{x.text}` is too large or too precise to divide exactly")  # 1e999999999: a 10**999999999 ratio
    if not b:
        raise ConditionError(f"`{div.text}` divides by zero")
    q = Fraction(a) / Fraction(b) * 10 ** places
    n = round(q)  # a Fraction rounds half to even, exactly
    try:
        return EXACT.scaleb(Decimal(n), -places)
    except DecimalException:
        raise ConditionError(f"`{div.text}` is too large") from None


def _micros_or_number(value: Any, text: str) -> Decimal:
    """An operand of ``round(a / b)``: a duration (read, if a declared fact's text) as its microseconds."""
    try:
        value = T.read_duration(value) if isinstance(value, str) and T.is_duration_text(value) else value
    except T.ValueTypeError as exc:
        raise ConditionError(f"`{text}`: {exc}") from None
    return Decimal(value // _MICROSECOND) if isinstance(value, timedelta) else _number(value, text)


def _point_or_span(value: Any, text: str) -> Any:
    if isinstance(value, (date, timedelta)):
        if isinstance(value, datetime):
            return T.read_datetime(value)
        return value
    if isinstance(value, str):
        try:
            if T.is_duration_text(value) or ("T" not in value and len(value) != 10):  # `PT3H` has a `T` too
                return T.read_duration(value)
            return T.read_datetime(value) if "T" in value else T.read_date(value)
        except T.ValueTypeError as exc:
            raise ConditionError(f"`{text}`: {exc}") from None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, Decimal) and value.is_finite() and value.adjusted() < 60 and value == value.to_integral_value():
        return int(value)  # bounded: int(Decimal("1e999999")) alone takes half a minute
    raise ConditionError(f"`{text}` is `{value}`, not a datetime, a date or a duration")


def _time(e: Arith, values: list[Any]) -> Any:
    try:
        vs = [_point_or_span(v, a.text) for v, a in zip(values, e.args)]
    except T.ValueTypeError as exc:
        raise ConditionError(f"`{e.text}`: {exc}") from None
    try:
        result = vs[0]
        for v in vs[1:]:
            if e.op == "add":
                result = result + v
            elif e.op == "sub":
                result = result - v
            elif e.op == "mul" and isinstance(v, int) != isinstance(result, int):
                result = result * v
            elif e.op == "div" and isinstance(result, timedelta) and isinstance(v, timedelta):
                return EXACT.divide(Decimal(result // _MICROSECOND), Decimal(v // _MICROSECOND))
            else:
                raise TypeError
        if isinstance(result, int) and not isinstance(result, bool):
            raise TypeError
        return result
    except (ZeroDivisionError, DivisionByZero):
        raise ConditionError(f"`{e.text}` divides by zero") from None
    except Inexact:
        raise ConditionError(f"`{e.text}` is not exact in 60 digits (round explicitly with `round`)") from None
    except (TypeError, OverflowError):
        raise ConditionError(f"`{e.text}` cannot be computed on {', '.join(type(v).__name__ for v in vs)}") from None


def _elements(e: Aggregate, env: Mapping[str, Any]) -> list[Any] | None:
    seq = e.get(env)
    if seq is MISSING or seq is None:
        return None
    if isinstance(seq, Mapping):
        seq = list(seq.values())
    if not isinstance(seq, (list, tuple)):
        raise ConditionError(f"`{e.path.text}` is not a list")
    if e.where is None:
        return list(seq)
    return [x for x in seq if eval_node(e.where, {**env, e.var: x})]


def _key(value: Any) -> Any:
    if isinstance(value, bool):
        return ("b", value)
    d = _as_decimal(value) if isinstance(value, (int, float, Decimal)) else None
    if d is not None:
        return ("n", d.normalize() if d else Decimal(0))
    if isinstance(value, (str, date, timedelta)):
        return (type(value).__name__, value)
    return ("r", repr(value))


def _aggregate(e: Aggregate, env: Mapping[str, Any]) -> Any:
    elems = _elements(e, env)
    if elems is None:
        return MISSING
    if e.fn == "count":
        return len(elems)
    values = [value_of(e.of, {**env, e.var: x}) for x in elems] if e.of is not None else elems
    if any(v is MISSING or v is None for v in values):
        return MISSING
    if e.fn == "distinct":
        return len({_key(v) for v in values})
    text = e.of.text if e.of is not None else e.path.text
    if all(isinstance(v, timedelta) for v in values) and values:
        if e.fn == "sum":
            try:
                return sum(values, timedelta())
            except OverflowError:
                raise ConditionError(f"`{e.text}` is longer than a duration can be (999999999 days)") from None
        return min(values) if e.fn == "min" else max(values)
    if e.fn == "sum":
        total = Decimal(0)
        try:
            for v in values:
                total = EXACT.add(total, _number(v, text))
        except Inexact:
            raise ConditionError(f"`{e.text}` is not exact in 60 digits") from None
        return total
    if not values:
        return MISSING
    kind = e.type.kind
    if kind in ("datetime", "date") or (kind == "any" and all(isinstance(v, (str, date)) for v in values)
                                         and all(isinstance(v, date) or T.temporal_kind_of_text(v) for v in values)):
        try:
            points = [T.read_datetime(v) if kind == "datetime" or isinstance(v, datetime)
                      or (isinstance(v, str) and "T" in v) else T.read_date(v) for v in values]
            return min(points) if e.fn == "min" else max(points)
        except (T.ValueTypeError, TypeError) as exc:
            raise ConditionError(f"`{e.text}`: {exc}") from None
    nums = [_number(v, text) for v in values]
    return min(nums) if e.fn == "min" else max(nums)


def _lookup(e: TableLookup, env: Mapping[str, Any]) -> Any:
    cur: Any = e.data
    for k in e.keys:
        v = value_of(k, env)
        if v is MISSING or v is None:
            return MISSING
        key = v if isinstance(v, str) else (str(v) if isinstance(v, int) and not isinstance(v, bool) else None)
        if key is None and isinstance(v, Decimal) and v.is_finite() and v.adjusted() < 60 and v == v.to_integral_value():
            key = str(int(v))
        if key is None or not isinstance(cur, Mapping) or key not in cur:
            return e.default.value if e.default is not None else MISSING
        cur = cur[key]
    return cur
