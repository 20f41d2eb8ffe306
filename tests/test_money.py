"""Exact money at the boundary: decimal strings or integers in, Decimal inside, never floats."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from txguard import MoneyError, parse_amount
from txguard.core.money import CURRENCY_EXPONENTS, currency_exponent, fact_amount, format_amount, from_minor


@pytest.mark.parametrize(
    ("value", "exponent", "want"),
    [
        ("12.50", 2, Decimal("12.50")),
        ("0", 2, Decimal("0")),
        ("7", 0, Decimal("7")),
        (12, 2, Decimal("12")),
        (Decimal("3.25"), 2, Decimal("3.25")),
        ("1.234", 3, Decimal("1.234")),
        ("123456789012345.99", 2, Decimal("123456789012345.99")),
        ("0.1", None, Decimal("0.1")),
    ],
)
def test_parse_amount_accepts_plain_decimals(value: Any, exponent: int | None, want: Decimal) -> None:
    got = parse_amount(value, exponent)
    assert got == want
    assert isinstance(got, Decimal)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1.5, "amount `-1.5` is negative"),
        (float("nan"), "amount `nan` is not finite"),
        (0.125, "amount `0.125` has 3 decimals: the currency allows 2"),
        (True, 'amount `True` is a bool: expected a decimal string such as `"12.50"`'),
        (-1, "amount `-1` is negative"),
        (10**15, "amount `1000000000000000` has more than 15 digits"),
        (Decimal("NaN"), "amount `NaN` is not a finite non-negative number"),
        (Decimal("-0.01"), "amount `-0.01` is not a finite non-negative number"),
        (None, "amount `None` is a NoneType: expected a decimal string"),
        ([], "amount `[]` is a list: expected a decimal string"),
        ("12.345", "amount `12.345` has 3 decimals: the currency allows 2"),
    ],
)
def test_parse_amount_rejects_with_a_clear_message(value: Any, message: str) -> None:
    with pytest.raises(MoneyError) as info:
        parse_amount(value, 2)
    assert str(info.value) == message


@pytest.mark.parametrize("text", ["-5", "1e3", "1E+2", "NaN", "Infinity", "-0", " 1", "1 ", "1.", ".5",
                                  "1,00", "0x10", "١٢", "1_000", "", "1234567890123456"])
def test_parse_amount_rejects_non_plain_strings(text: str) -> None:
    with pytest.raises(MoneyError, match="is not a plain non-negative decimal"):
        parse_amount(text)


def test_money_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_amount(-0.1)


def test_exponents_follow_iso_4217() -> None:
    assert (currency_exponent("USD"), currency_exponent("JPY"), currency_exponent("BHD")) == (2, 0, 3)
    assert currency_exponent("CLF") == 4
    assert all(len(code) == 3 and code.isupper() for code in CURRENCY_EXPONENTS)


@pytest.mark.parametrize("code", ["usd", "XXX", "", None, 840])
def test_unknown_currency(code: Any) -> None:
    with pytest.raises(MoneyError) as info:
        currency_exponent(code)
    assert str(info.value) == f"unknown currency `{code!r}`: expected an ISO 4217 code such as `USD`"


def test_jpy_has_no_decimals_and_bhd_three() -> None:
    with pytest.raises(MoneyError, match="has 1 decimals: the currency allows 0"):
        parse_amount("1.5", currency_exponent("JPY"))
    assert parse_amount("1.234", currency_exponent("BHD")) == Decimal("1.234")
    with pytest.raises(MoneyError, match="has 4 decimals: the currency allows 3"):
        parse_amount("1.2345", currency_exponent("BHD"))


def test_fact_amounts_read_floats_by_their_shortest_repr() -> None:
    # Binary arithmetic would give 287.790000000000020463630789890885353088378906250.
    assert fact_amount(287.79) == Decimal("287.79")
    assert fact_amount(0.1) + fact_amount(0.2) == Decimal("0.3")
    assert fact_amount("1.50") == Decimal("1.50")
    assert fact_amount(3) == Decimal(3)


@pytest.mark.parametrize(("value", "message"), [
    (True, "fact amount `True` is a boolean"),
    ("x", "fact amount `'x'` is not a number"),
    (None, "fact amount `None` is not a number"),
    (float("nan"), "fact amount `nan` is not finite"),
    (float("inf"), "fact amount `inf` is not finite"),
    ("Infinity", "fact amount `'Infinity'` is not finite"),
])
def test_fact_amount_rejects(value: Any, message: str) -> None:
    with pytest.raises(MoneyError) as info:
        fact_amount(value)
    assert str(info.value) == message


def test_format_amount_uses_the_currency_exponent() -> None:
    assert format_amount(Decimal("5"), "USD") == "5.00 USD"
    assert format_amount(Decimal("5"), "JPY") == "5 JPY"
    assert format_amount(Decimal("1.5"), "BHD") == "1.500 BHD"
    assert format_amount(Decimal("5.5")) == "5.5"


def test_format_amount_is_the_one_money_formatter() -> None:
    assert format_amount(Decimal("5"), "USD", code=False) == "5.00"
    assert format_amount(Decimal("1.5"), "BHD", code=False) == "1.500"
    assert format_amount(from_minor(12345, "USD"), "USD") == "123.45 USD"
    assert format_amount(from_minor(-5, "USD"), "USD", code=False) == "-0.05"
    assert format_amount(from_minor(12345, "JPY"), "JPY") == "12345 JPY"


def _minor_text_before(amount: int, currency: str) -> str:
    """How session rule messages wrote minor units before format_amount did it."""
    exp = currency_exponent(currency)
    if exp == 0:
        return str(amount)
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10 ** exp)
    return f"{sign}{whole}.{frac:0{exp}d}"


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=-10**17, max_value=10**17), st.sampled_from(sorted(CURRENCY_EXPONENTS)))
def test_minor_units_format_as_before(amount: int, currency: str) -> None:
    assert format_amount(from_minor(amount, currency), currency, code=False) == _minor_text_before(amount, currency)


@settings(max_examples=300, deadline=None)
@given(st.decimals(min_value=0, max_value=10**12, places=4), st.sampled_from(sorted(CURRENCY_EXPONENTS)))
def test_bound_amounts_format_as_before(amount: Decimal, currency: str) -> None:
    quantum = Decimal(1).scaleb(-CURRENCY_EXPONENTS[currency])
    assert format_amount(amount, currency, code=False) == format(amount.quantize(quantum), "f")
