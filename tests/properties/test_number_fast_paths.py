"""The fast paths of ``exact_decimal`` and the confidence validator give exactly the reference results.

The references are the former bodies, kept here as the oracle: on JSON numbers read from random
texts (long spellings, exponents, digits beyond a double, out of range, ``1e400``), host floats
(NaN, infinities, ``-0.0``) and values of other types, the same ``Decimal`` (value and spelling)
or the same error message.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from txguard.consent.binding import _same_number
from txguard.core.intents import _confidence
from txguard.core.jsonio import JSONNumber, exact_decimal, number_text, read_json
from txguard.core.money import brief


def reference_exact_decimal(value: float) -> Decimal:
    short = Decimal(repr(value))
    if isinstance(value, JSONNumber):
        exact = Decimal(value.text)
        if exact != short:
            return exact
    return short


def reference_confidence(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise ValueError(f"confidence `{brief(value)}` is not a number in [0, 1]")
    if isinstance(value, float):
        result = reference_exact_decimal(value)
        if not result.is_finite():
            raise ValueError(f"confidence `{brief(value)}` is not finite")
    else:
        result = Decimal(value)
    if not result.is_finite() or not (0 <= result <= 1):
        raise ValueError(f"confidence `{brief(value)}` is not a number in [0, 1]")
    return result


number_texts = st.one_of(
    st.sampled_from(["0.8", "0.80", "0.79999999999999999", "8e-1", "0.960", "1.0", "1e0", "0.0", "-0.0", "1e400",
                     "-1e400", "1.0000000000000001", "0.1e1", "1E-2", "100.5", "-0.5", "2.5e-324"]),
    st.builds(lambda i, f, e: f"{i}.{f}" + (f"e{e}" if e is not None else ""),
              st.integers(0, 10**20), st.text(alphabet="0123456789", min_size=1, max_size=25),
              st.none() | st.integers(-400, 400)),
)
json_numbers = number_texts.map(read_json).filter(lambda v: isinstance(v, float))
others = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 3), st.booleans(), st.none(),
                   st.text(max_size=4), st.decimals(allow_nan=True, allow_infinity=True))


def outcome(fn: Any, value: Any) -> tuple[str, Any]:
    try:
        out = fn(value)
    except Exception as exc:  # noqa: BLE001 - both must fail alike
        return "raised", (type(exc).__name__, str(exc))
    return "value", (str(out), out.as_tuple()) if isinstance(out, Decimal) else out  # NaN != NaN: compare spellings


@settings(max_examples=500, deadline=None)
@given(st.one_of(json_numbers, st.floats(allow_nan=True, allow_infinity=True)))
def test_exact_decimal_equals_the_reference(value: float) -> None:
    assert outcome(exact_decimal, value) == outcome(reference_exact_decimal, value)


@settings(max_examples=500, deadline=None)
@given(st.one_of(json_numbers, others))
def test_confidence_equals_the_reference(value: Any) -> None:
    assert outcome(_confidence, value) == outcome(reference_confidence, value)


def reference_same_number(a: Any, b: Any) -> bool:
    return isinstance(a, float) and isinstance(b, float) and reference_exact_decimal(a) == reference_exact_decimal(b)


@settings(max_examples=500, deadline=None)
@given(st.one_of(json_numbers, others), st.one_of(json_numbers, others), st.booleans())
def test_same_number_equals_the_reference(a: Any, b: Any, same_object: bool) -> None:
    """Consent's number comparison (a confirmed argument against the proposal's): the shortcut on
    equal texts decides as the exact comparison, NaN and one object on both sides included."""
    if same_object:
        b = a
    assert _same_number(a, b) == reference_same_number(a, b)
    finite = isinstance(a, float) and not isinstance(a, JSONNumber) and a == a and abs(a) != float("inf")
    twin = read_json(number_text(a)) if finite else a
    assert _same_number(a, twin) == reference_same_number(a, twin)
