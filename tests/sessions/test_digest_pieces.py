"""The checkout digest's direct pieces (``digest._string``, ``digest._money``) write what the
reference writers write (``canonical.json_string``, ``money.format_amount``), or raise the same.

On any text (lone surrogates, control characters, quotes, backslashes, DEL, line separators,
non-ASCII, a ``str`` subclass) and any amount (every exponent, negative zero, huge and tiny
exponents, NaN and infinities, a float, an int) in known and unknown currencies.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from txguard.core.canonical import json_string
from txguard.core.money import CURRENCY_EXPONENTS, format_amount
from txguard.domain.digest import _money, _string


def _outcome(fn: Any) -> Any:
    try:
        return ("ok", fn())
    except Exception as exc:  # noqa: BLE001 - compared: the same exception, worded the same
        return ("raised", type(exc).__name__, str(exc))


class Text(str):
    """A ``str`` subclass: not the plain type the direct path takes."""


texts = st.one_of(
    st.text(),
    st.text(alphabet=st.sampled_from(['a', '"', "\\", "\x00", "\x1f", "\x7f", "\u2028", "\ud800", "\udfff", "é",
                                      "\U0001f600", " "])),
    st.sampled_from(["", "USD", "10.00 USD", 'a"b', "\ud83d\ude00"]),
)


@settings(max_examples=500, deadline=None)
@given(text=texts, subclass=st.booleans())
def test_strings_are_written_as_the_reference_writes_them(text: str, subclass: bool) -> None:
    value = Text(text) if subclass else text
    assert _outcome(lambda: _string(value)) == _outcome(lambda: json_string(value))


amounts = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.builds(lambda n, e: Decimal(n).scaleb(e), st.integers(-10**30, 10**30), st.integers(-12, 12)),
    st.sampled_from([Decimal("-0"), Decimal("-0.00"), Decimal("0E+5"), Decimal("1E-7"), Decimal("sNaN"), 1.5, 7]),
)
currencies = st.one_of(st.sampled_from(sorted(CURRENCY_EXPONENTS)), st.sampled_from(["", "XXX", "usd"]), st.none())


@settings(max_examples=800, deadline=None)
@given(amount=amounts, currency=currencies)
def test_amounts_are_written_as_the_reference_writes_them(amount: Any, currency: Any) -> None:
    assert _outcome(lambda: _money(amount, currency)) == _outcome(lambda: format_amount(amount, currency))
