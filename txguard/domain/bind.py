"""What consent binds of a declared kind: every field, canonicalised, except the ``unbound`` ones.

The bound form is what a confirmation's digest covers and what the confirmation screen shows, so
two intents with the same bound form are the same action and any other difference is a different
action. Values are written so that equal values have one text: amounts at their currency's
exponent with their currency code, decimals without trailing zeros, datetimes as the UTC instant, durations in seconds,
``unordered`` lists sorted, a ``one_of`` value as the option it was read as (lists of a ``same_length`` group that are all unordered are sorted
together, row by row, so their pairing is kept).

The fields playing the roles ``confidence`` and ``candidates`` (:data:`ASSESSMENT_ROLES`) are not bound
either: they are the agent's own assessment of its choice (how sure it is, what else it weighed), not
part of the action the user confirms, and an agent re-proposing a confirmed action with another
confidence proposes the same action.

:func:`compile_bound` turns a kind's declaration into one function per kind, built once (the
declaration is walked at compile time, not on every call); :func:`bound_form` is the reference it
must equal (``tests/properties/test_bound_compiled.py``).
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from ..core.canonical import canonical_json
from ..core.money import format_amount
from .declare import FieldType
from .models import plain, walk

ASSESSMENT_ROLES = ("confidence", "candidates")
"""Roles that are the agent's assessment of its choice, not the action: consent does not bind them."""

if typing.TYPE_CHECKING:
    from .domain import KindSpec


def bound_form(spec: KindSpec, intent: Any) -> dict[str, Any]:
    """The canonical bound fields of ``intent``, a model of the declared kind ``spec``."""
    unbound = frozenset(spec.unbound) | {path for role, path in spec.roles.items() if role in ASSESSMENT_ROLES}
    currencies = {steps: _currency(intent, cur, is_path) for steps, cur, is_path in spec.money}
    out: dict[str, Any] = {"kind": spec.name}
    joint: dict[str, list[Any]] = {}
    for group in spec.same_length:
        if all(spec.fields.fields[name].unordered for name in group):
            rows = [list(row) for row in zip(*(_value(spec.fields.fields[n], getattr(intent, n), (n,), n, unbound,
                                                      currencies, keep_order=True) or () for n in group))]
            rows.sort(key=canonical_json)
            for i, name in enumerate(group):
                joint[name] = [row[i] for row in rows]
    for name, tp in spec.fields.fields.items():
        if name in unbound:
            continue
        out[name] = joint[name] if name in joint else _value(tp, getattr(intent, name), (name,), name, unbound, currencies)
    return out


def _currency(intent: Any, cur: str, is_path: bool) -> str | None:
    if not is_path:
        return cur
    found = [v for _, v in walk(intent, tuple(cur.split(".")))]
    return found[0] if len(found) == 1 and isinstance(found[0], str) else None


def _value(tp: FieldType, value: Any, steps: tuple[str, ...], dotted: str, unbound: frozenset[str],
           currencies: Mapping[tuple[str, ...], str | None], keep_order: bool = False) -> Any:
    if value is None:
        return None
    kind = tp.kind
    if kind == "money":
        cur = currencies.get(steps)
        return format_amount(value, cur) if cur else _decimal_text(value)  # with its code: `100.00 USD`
    if kind == "decimal":
        return _decimal_text(value)
    if kind == "datetime":
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if kind == "date" and isinstance(value, date):
        return value.isoformat()
    if kind == "duration" and isinstance(value, timedelta):
        return f"PT{value.days * 86400 + value.seconds}.{value.microseconds:06d}S"
    if kind == "list" and tp.of is not None:
        items = [_value(tp.of, v, steps + ("[]",), dotted, unbound, currencies) for v in value]
        if tp.unordered and not keep_order:
            items.sort(key=canonical_json)
        return items
    if kind == "map" and tp.of is not None:
        return {k: _value(tp.of, v, steps + ("{}",), dotted, unbound, currencies) for k, v in value.items()}
    if kind == "record":
        return {name: _value(sub, getattr(value, name), steps + (name,), f"{dotted}.{name}", unbound, currencies)
                for name, sub in tp.fields.items() if f"{dotted}.{name}" not in unbound}
    if kind == "one_of":
        return _option(value)
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    return value


def _option(value: Any) -> Any:
    """A ``one_of`` value in the canonical form of the option it was read as (``1.50`` is ``1.5``)."""
    if isinstance(value, Decimal):
        return _decimal_text(value)
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return f"PT{value.days * 86400 + value.seconds}.{value.microseconds:06d}S"
    return value


def _decimal_text(value: Decimal) -> str:
    """One text per decimal value: no exponent, no trailing zeros (``1.50`` and ``1.5`` are one value)."""
    text = format(plain(value), "f")
    return "0" if text in ("-0", "0") else text


Conv = Callable[[Any, Mapping[tuple[str, ...], "str | None"]], Any]
"""One compiled field: (value, the intent's currencies by money leaf path) -> its bound form."""


def compile_bound(spec: KindSpec) -> Callable[[Any], dict[str, Any]]:
    """``bound_form(spec, ·)`` as one function: the field types, unbound paths and currency sources
    are resolved once, so a call only reads the intent's values."""
    unbound = frozenset(spec.unbound) | {path for role, path in spec.roles.items() if role in ASSESSMENT_ROLES}
    const = {steps: cur for steps, cur, is_path in spec.money if not is_path}
    paths = [(steps, cur) for steps, cur, is_path in spec.money if is_path]
    fields = spec.fields.fields
    groups = [[(name, _compile(fields[name], (name,), name, unbound, True)) for name in group]
              for group in spec.same_length if all(fields[name].unordered for name in group)]
    plain = [(name, _compile(tp, (name,), name, unbound, False)) for name, tp in fields.items() if name not in unbound]
    kind = spec.name

    def bound(intent: Any) -> dict[str, Any]:
        currencies: Mapping[tuple[str, ...], str | None] = const
        if paths:
            found: dict[str, str | None] = {}
            currencies = dict(const)
            for steps, cur in paths:
                if cur not in found:
                    found[cur] = _currency(intent, cur, True)
                currencies[steps] = found[cur]
        out: dict[str, Any] = {"kind": kind}
        joint: dict[str, list[Any]] = {}
        for group in groups:
            rows = [list(row) for row in zip(*(conv(getattr(intent, name), currencies) or () for name, conv in group))]
            rows.sort(key=canonical_json)
            for i, (name, _) in enumerate(group):
                joint[name] = [row[i] for row in rows]
        for name, conv in plain:
            out[name] = joint[name] if name in joint else conv(getattr(intent, name), currencies)
        return out

    return bound


def _leaf(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    return value


def _compile(tp: FieldType, steps: tuple[str, ...], dotted: str, unbound: frozenset[str], keep_order: bool) -> Conv:
    """The compiled :func:`_value` of one field type at ``steps`` (the same branches, in the same order)."""
    kind = tp.kind
    if kind == "money":
        def money(v: Any, cur: Mapping[tuple[str, ...], str | None]) -> Any:
            if v is None:
                return None
            code = cur.get(steps)
            return format_amount(v, code) if code else _decimal_text(v)  # with its code, as `_value`
        return money
    if kind == "decimal":
        return lambda v, cur: None if v is None else _decimal_text(v)
    if kind == "datetime":
        return lambda v, cur: None if v is None else v.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if kind == "date":
        return lambda v, cur: None if v is None else v.isoformat() if isinstance(v, date) else _leaf(v)
    if kind == "duration":
        return lambda v, cur: (None if v is None else f"PT{v.days * 86400 + v.seconds}.{v.microseconds:06d}S"
                               if isinstance(v, timedelta) else _leaf(v))
    if kind == "list" and tp.of is not None:
        elem = _compile(tp.of, steps + ("[]",), dotted, unbound, False)
        if tp.unordered and not keep_order:
            def unordered(v: Any, cur: Mapping[tuple[str, ...], str | None]) -> Any:
                if v is None:
                    return None
                items = [elem(x, cur) for x in v]
                items.sort(key=canonical_json)
                return items
            return unordered
        return lambda v, cur: None if v is None else [elem(x, cur) for x in v]
    if kind == "map" and tp.of is not None:
        value_conv = _compile(tp.of, steps + ("{}",), dotted, unbound, False)
        return lambda v, cur: None if v is None else {k: value_conv(x, cur) for k, x in v.items()}
    if kind == "record":
        subs = [(name, _compile(sub, steps + (name,), f"{dotted}.{name}", unbound, False))
                for name, sub in tp.fields.items() if f"{dotted}.{name}" not in unbound]
        return lambda v, cur: None if v is None else {name: conv(getattr(v, name), cur) for name, conv in subs}
    if kind == "one_of":
        return lambda v, cur: None if v is None else _option(v)
    return lambda v, cur: None if v is None else _leaf(v)
