"""Strict readers of one value of the trusted facts: of a type (:func:`_typed`) or an amount
(:func:`_amount`), raising :class:`MissingFact` with a located message otherwise; and
:func:`plain_amount`, the fast reader of a plain number that is a valid amount."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ..core.errors import MissingFact, MoneyError
from ..core.money import fact_amount


def _typed(value: Any, kind: type | tuple[type, ...], record: str, key: str | None) -> Any:
    """``value`` if it is of ``kind`` (a bool is not an int, a str not a list), else MissingFact."""
    t = type(value)
    if t is kind or (t is dict and kind is Mapping):  # the common exact types, without the ABC check
        return value
    ok = isinstance(value, kind) and not (isinstance(value, bool) and kind in (int, (int, float)))
    if not ok:
        what = f"{record}: `{key}`" if key is not None else record
        if value is None:
            raise MissingFact(f"{what} is not in the facts" if key is not None else f"{record} is not in the facts")
        raise MissingFact(f"{what} in the facts is a {type(value).__name__}, not a {_type_name(kind)}")
    return value


def _type_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "string", bool: "boolean", list: "list", Mapping: "record"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def plain_amount(value: Any) -> Decimal | None:
    """:func:`~txguard.core.money.fact_amount` of a plain ``float`` or ``int`` that is a valid
    amount (finite, not negative), without its dispatch; None for anything else (the caller then
    asks :func:`_amount`, which words the error). ``tests/test_fast_rules_checks.py`` checks the two."""
    kind = type(value)
    if kind is float:
        result = Decimal(repr(value))  # what exact_decimal gives a float that is not a JSONNumber
    elif kind is int:
        result = Decimal(value)
    else:
        return None
    return result if result.is_finite() and result >= 0 else None


def _amount(value: Any, record: str, key: str) -> Decimal:
    """A money amount of a trusted record, or MissingFact (absent, not a number, negative, NaN)."""
    if value is None:
        raise MissingFact(f"{record}: `{key}` is not in the facts")
    try:
        return fact_amount(value)
    except MoneyError as exc:
        raise MissingFact(f"{record}: `{key}` is not a valid amount ({exc})") from None
