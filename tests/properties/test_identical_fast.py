"""Consent's identical-arguments shortcut (``binding.identical``) decides exactly as its former body.

The reference is the former code, kept here as the oracle. On random JSON-like data and a twin of
it (the same data re-read from JSON text, with numbers as :class:`JSONNumber`; or with one leaf
changed to an equal value of another type: ``1``, ``1.0``, ``True``, ``Decimal``; a tuple for a
list; a non-``str`` key; a ``dict`` subclass; one object on both sides), both say the same.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from txguard.consent.binding import identical
from txguard.core.jsonio import exact_decimal

from ..helpers import counterpart

_LEAVES = frozenset((str, int, float, bool))


def ref_identical(a: Any, b: Any) -> bool:
    try:
        return a == b and ref_same_types(a, b)
    except Exception:  # noqa: BLE001
        return False


def ref_same_types(a: Any, b: Any) -> bool:
    t = type(a)
    if t is not type(b):
        return ref_same_number(a, b)
    if t is dict:
        if any(type(key) is not str for key in a):
            return False
        return ref_same_pairs(zip(a.values(), (b[key] for key in a)))
    if t is list:
        return ref_same_pairs(zip(a, b))
    return t in _LEAVES or a is None or ref_same_number(a, b)


def ref_same_pairs(pairs: Iterable[tuple[Any, Any]]) -> bool:
    for x, y in pairs:
        tx = type(x)
        if tx is str and type(y) is str:
            continue
        if tx is not type(y) and not ref_same_number(x, y):
            return False
        if tx is dict or tx is list:
            if not ref_same_types(x, y):
                return False
        elif isinstance(x, float):
            if not ref_same_number(x, y):
                return False
        elif tx not in _LEAVES and x is not None:
            return False
    return True


def ref_same_number(a: Any, b: Any) -> bool:
    return isinstance(a, float) and isinstance(b, float) and exact_decimal(a) == exact_decimal(b)


leaves = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=True, allow_infinity=True),
                   st.sampled_from([0.96, 1.0, 0.1, 1e300]), st.text(max_size=3))
data = st.recursive(leaves, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                    st.dictionaries(st.text(max_size=2), inner, max_size=3)),
                    max_leaves=10)
ODD = [1, 1.0, True, Decimal(1), 0, False, 0.0, (1,), OrderedDict(a=1), "1", None]


def mutate(value: Any, choice: int) -> Any:
    """``value`` with its first leaf (depth first) or container replaced by an equal-looking other."""
    if isinstance(value, dict) and value:
        key = next(iter(value))
        if choice % 5 == 0:
            return {**{k: v for k, v in value.items() if k != key}, 1 if key == "1" else key: value[key]}
        return {**value, key: mutate(value[key], choice)}
    if isinstance(value, list) and value:
        if choice % 7 == 0:
            return tuple(value)
        return [mutate(value[0], choice), *value[1:]]
    if isinstance(value, dict):
        return OrderedDict(value) if choice % 2 else value
    return ODD[choice % len(ODD)]


@settings(max_examples=600, deadline=None)
@given(data, st.integers(0, 100), st.sampled_from(["copy", "json", "mutate", "same"]))
def test_identical_equals_the_reference(value: Any, choice: int, how: str) -> None:
    other = counterpart(value, how, choice, mutate)
    assert identical(value, other) == ref_identical(value, other)
    assert identical(other, value) == ref_identical(other, value)
