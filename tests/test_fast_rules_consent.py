"""Consent's one-pass identical-arguments test (``binding.identical_fast``) decides exactly as the
reference ``binding.identical`` on plain, adversarial and malformed data.

The data are random JSON-like values (with floats, NaN, huge ints, unicode, ``JSONNumber`` read from
several spellings of one number) and a twin: a deep copy, the same data re-read from JSON text,
one leaf or container swapped for an equal-looking value of another type (``7`` / ``"7"`` /
``True`` / ``7.0`` / ``Decimal``, a tuple for a list, a ``str`` or ``dict`` subclass, a non-``str``
key, a missing or extra key, reordered elements), or the very same object (a NaN is never the
same number, not even as one object).
"""

from __future__ import annotations

import copy
import json
from collections import OrderedDict
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from txguard.consent.binding import identical, identical_fast
from txguard.core.jsonio import JSONNumber, read_json

from .helpers import counterpart


class _Str(str):
    pass


class _Dict(dict):  # type: ignore[type-arg]
    pass


NUMBERS = ["0.96", "0.960", "9.6e-1", "1e400", "0.79999999999999999", "0.8", "-0.0", "0.0", "1E2", "100.0"]
leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-2**70, 2**70), st.floats(),
    st.sampled_from(NUMBERS).map(JSONNumber), st.sampled_from([0.96, 0.8, 1e300, -0.0]),
    st.text(max_size=4), st.sampled_from(["7", "é", "\ud800", "287.79"]),
)
data = st.recursive(leaves, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                    st.dictionaries(st.text(max_size=3), inner, max_size=4)),
                    max_leaves=16)
ODD: list[Any] = [7, "7", 7.0, True, False, 1, 0, Decimal(7), Decimal("7.00"), None, (7,), _Str("7"),
                  _Dict(a=1), OrderedDict(a=1), JSONNumber("7.0"), [], {}, float("nan")]


def mutate(value: Any, choice: int) -> Any:
    """``value`` with one place along its first path changed (see the module docstring)."""
    if isinstance(value, dict) and value:
        key = next(iter(value))
        step = choice % 9
        if step == 0:
            return {**{k: v for k, v in value.items() if k != key}, 1 if key == "1" else _Str(key): value[key]}
        if step == 1:
            return {k: v for k, v in value.items() if k != key}  # a missing key
        if step == 2:
            return {**value, "extra\x00": 1}  # an extra key
        if step == 3:
            return _Dict(value)
        return {**value, key: mutate(value[key], choice // 9)}
    if isinstance(value, list) and value:
        step = choice % 7
        if step == 0:
            return tuple(value)
        if step == 1:
            return list(reversed(value))  # reordered
        return [mutate(value[0], choice // 7), *value[1:]]
    return ODD[choice % len(ODD)]


@settings(max_examples=1500, deadline=None)
@given(st.dictionaries(st.text(max_size=3), data, max_size=5), st.integers(0, 10_000),
       st.sampled_from(["copy", "json", "mutate", "same", "other"]), data)
def test_identical_fast_decides_as_identical(value: dict[str, Any], choice: int, how: str, junk: Any) -> None:
    other = junk if how == "other" else counterpart(value, how, choice, mutate)
    assert identical_fast(value, other) == identical(value, other)
    if type(other) is dict:
        assert identical_fast(other, value) == identical(other, value)


def test_the_usual_confirmation_is_identical_and_a_changed_one_is_not() -> None:
    args = {"items": [{"sku": "1", "quantity": 2, "unit_price": "287.79"}], "confidence": 0.96}
    read = read_json(json.dumps(args))
    assert identical_fast(args, read) is True
    assert identical_fast(read, args) is True
    for changed in ({"items": [{"sku": "1", "quantity": True, "unit_price": "287.79"}], "confidence": 0.96},
                    {"items": [{"sku": "1", "quantity": "2", "unit_price": "287.79"}], "confidence": 0.96},
                    {"items": [{"sku": 1, "quantity": 2, "unit_price": "287.79"}], "confidence": 0.96},
                    {"items": [{"sku": "1", "quantity": 2, "unit_price": "287.79"}], "confidence": 0.9600001}):
        assert identical_fast(changed, read) is False
    deep: Any = {"a": 1}
    for _ in range(100):
        deep = {"a": [deep]}
    assert identical_fast(deep, copy.deepcopy(deep)) == identical(deep, copy.deepcopy(deep))
