"""A declared decimal's range check reads its digits once (``_decimal`` no longer builds
``plain(value)`` to ask its tuple): the same numbers pass and the same ones are refused, with the
same words, as by the check written with ``plain``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from txguard.core.jsonio import JSONNumber
from txguard.domain.models import MAX_DIGITS, _decimal, plain


def _reference(value: Any) -> Decimal:
    """``_decimal`` with its range check as it was written: on ``plain(result).as_tuple()``."""
    result = _decimal_unchecked(value)
    if result:
        sign, digits, exponent = plain(result).as_tuple()
        if len(digits) > MAX_DIGITS or not -MAX_DIGITS <= int(exponent) <= MAX_DIGITS - len(digits):
            raise ValueError("out of range")
    return result


def _decimal_unchecked(value: Any) -> Decimal:
    try:
        return _decimal(value)
    except ValueError as exc:
        if "out of range" not in str(exc):
            raise
        # the range check refused it: rebuild the number the way `_decimal` read it
        return Decimal(value.text if isinstance(value, JSONNumber) else repr(value) if isinstance(value, float)
                       else value)


def outcome(fn: Any, value: Any) -> tuple[str, Any]:
    try:
        return "ok", fn(value)
    except ValueError as exc:
        return "refused", "out of range" in str(exc)


digits = st.integers(0, 10**70)
numbers = st.one_of(
    st.builds(lambda d, e, s: Decimal(f"{'-' if s else ''}{d}E{e}"), digits, st.integers(-80, 80), st.booleans()),
    st.builds(lambda d, z: Decimal(str(d) + "0" * z), digits, st.integers(0, 70)),
    st.builds(lambda d, z: JSONNumber(f"{d}.{'0' * z}1"), st.integers(0, 10**5), st.integers(0, 70)),
    st.floats(allow_nan=False, allow_infinity=False), st.integers(-(10**70), 10**70),
    st.sampled_from([Decimal(0), Decimal("0E-70"), Decimal("1E60"), Decimal("1E59"), Decimal("1E-60"),
                     Decimal("1E-61"), Decimal("1" * 60), Decimal("1" * 61), Decimal("1" * 60 + "0" * 5),
                     Decimal("-0.000"), "0.5", "-12.50", "1" * 61, "0." + "0" * 59 + "1", "0." + "0" * 60 + "1"]),
)


@settings(max_examples=600, deadline=None)
@given(numbers)
def test_the_range_check_decides_as_the_one_written_with_plain(value: Any) -> None:
    got, want = outcome(_decimal, value), outcome(_reference, value)
    assert got[0] == want[0]
    if got[0] == "ok":
        assert got[1] == want[1] and str(got[1]) == str(want[1])
