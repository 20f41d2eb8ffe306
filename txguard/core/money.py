"""Exact money: decimal strings or integers in, ``Decimal`` inside, never floats.

Every amount is checked against the ISO 4217 exponent of its currency: ``"12.345"`` is not a
USD amount, ``"1.5"`` is not a JPY amount. Negative, non-finite, exponent-notation and float
amounts are refused at the boundary.
"""

from __future__ import annotations

import re
import reprlib
from decimal import Decimal
from typing import Any

from .errors import MoneyError

_BRIEF = reprlib.Repr()
_BRIEF.maxstring = _BRIEF.maxother = 60
_BRIEF.maxlevel = 3


def brief(value: Any) -> str:
    """``repr(value)``, bounded in length and depth (a value nested thousands deep, from an agent,
    must not turn an error message into a RecursionError)."""
    return _BRIEF.repr(value)

# ISO 4217 minor-unit exponents of the active currency codes (the standard's "E" column).
_EXPONENTS_0 = (
    "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
)
_EXPONENTS_3 = "BHD IQD JOD KWD LYD OMR TND"
_EXPONENTS_4 = "CLF UYW"
_EXPONENTS_2 = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP "
    "BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR "
    "FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW "
    "KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN "
    "NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD "
    "SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UZS "
    "VED VES WST XCD YER ZAR ZMW ZWL"
)

CURRENCY_EXPONENTS: dict[str, int] = {
    **{c: 0 for c in _EXPONENTS_0.split()},
    **{c: 2 for c in _EXPONENTS_2.split()},
    **{c: 3 for c in _EXPONENTS_3.split()},
    **{c: 4 for c in _EXPONENTS_4.split()},
}
"""ISO 4217 code -> number of digits after the decimal point."""

MAX_INTEGER_DIGITS = 15
"""Amounts with more integer digits than this are refused (no real checkout is that large)."""

_PLAIN = re.compile(r"[0-9]{1,%d}(?:\.([0-9]+))?" % MAX_INTEGER_DIGITS)


def currency_exponent(code: object) -> int:
    """The ISO 4217 exponent of ``code``; raises :class:`MoneyError` for an unknown code."""
    if not isinstance(code, str) or code not in CURRENCY_EXPONENTS:
        raise MoneyError(f"unknown currency `{brief(code)}`: expected an ISO 4217 code such as `USD`")
    return CURRENCY_EXPONENTS[code]


def parse_amount(value: Any, exponent: int | None = None) -> Decimal:
    """Parse a non-negative amount given as a plain decimal string, an int or a Decimal.

    Args:
        value: ``"12.50"``, ``12`` (whole units) or ``Decimal("12.50")``.
        exponent: when given, at most this many digits may follow the decimal point.

    Raises:
        MoneyError: for floats, booleans, negative or non-finite values, exponent notation,
            too many decimals or too many digits.

    >>> parse_amount("12.50", 2)
    Decimal('12.50')
    """
    if type(value) is str:  # the usual case first; the branches below do not apply to a str
        text = value
    elif isinstance(value, bool) or isinstance(value, float):
        raise MoneyError(
            f"amount `{brief(value)}` is a {type(value).__name__}: expected a decimal string such as `\"12.50\"`"
        )
    elif isinstance(value, int):
        if value < 0:
            raise MoneyError(f"amount `{value}` is negative")
        if len(str(value)) > MAX_INTEGER_DIGITS:
            raise MoneyError(f"amount `{value}` has more than {MAX_INTEGER_DIGITS} digits")
        return Decimal(value)
    elif isinstance(value, Decimal):
        if not value.is_finite() or value < 0:
            raise MoneyError(f"amount `{value}` is not a finite non-negative number")
        text = format(value, "f")
    elif isinstance(value, str):
        text = value
    else:
        raise MoneyError(f"amount `{brief(value)}` is a {type(value).__name__}: expected a decimal string")
    match = _PLAIN.fullmatch(text)
    if match is None:
        raise MoneyError(f"amount `{text!r}` is not a plain non-negative decimal such as `\"12.50\"`")
    decimals = match.group(1)
    if exponent is not None and decimals is not None and len(decimals) > exponent:
        raise MoneyError(f"amount `{text}` has {len(decimals)} decimals: the currency allows {exponent}")
    return Decimal(text)


def fact_amount(value: Any) -> Decimal:
    """Convert a trusted retailer record's amount to Decimal.

    Facts come from the retailer's own database, often as JSON numbers; a float is read through
    its shortest round-trip representation (``287.79`` -> ``Decimal("287.79")``), never through
    binary arithmetic.
    """
    if isinstance(value, bool):
        raise MoneyError(f"fact amount `{brief(value)}` is a boolean")
    if isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, (int, Decimal)):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value)
        except ArithmeticError:
            raise MoneyError(f"fact amount `{brief(value)}` is not a number") from None
    else:
        raise MoneyError(f"fact amount `{brief(value)}` is not a number")
    if not result.is_finite():
        raise MoneyError(f"fact amount `{brief(value)}` is not finite")
    if result < 0:
        raise MoneyError(f"fact amount `{brief(value)}` is negative: a price, balance or payment never is")
    return result


def format_amount(amount: Decimal, currency: str | None = None, *, code: bool = True) -> str:
    """The one money formatter: ``amount`` at the currency's exponent, then the currency code.

    Reason texts, confirmation requests and the bound fields a consent digest covers all use it.
    ``code=False`` leaves the code off. An amount in an unknown currency (or none) is written as
    it is, in plain decimal notation.

    >>> format_amount(Decimal("5"), "USD"), format_amount(Decimal("5"), "USD", code=False)
    ('5.00 USD', '5.00')
    """
    exponent = CURRENCY_EXPONENTS.get(currency or "", None)
    if exponent is None:
        text = format(amount, "f")
    else:
        text = format(amount.quantize(_QUANTA[exponent]), "f")
    return f"{text} {currency}" if currency and code else text


def to_minor(amount: Decimal, currency: str) -> int:
    """An amount in the currency's minor units (``12.34`` USD -> ``1234``); ``ValueError`` for an
    amount with more decimals than the currency has (never truncated).

    >>> to_minor(Decimal("12.34"), "USD"), to_minor(Decimal("5"), "JPY")
    (1234, 5)
    """
    minor = amount.scaleb(currency_exponent(currency))
    if minor != minor.to_integral_value():
        raise ValueError(f"amount `{amount}` has more decimals than {currency} allows")
    return int(minor)


def from_minor(amount: int, currency: str) -> Decimal:
    """An amount counted in the currency's minor units as a ``Decimal`` (``1234`` USD -> ``12.34``).

    >>> format_amount(from_minor(1234, "USD"), "USD")
    '12.34 USD'
    """
    return Decimal(amount).scaleb(-currency_exponent(currency))


_QUANTA = {e: Decimal(1).scaleb(-e) for e in set(CURRENCY_EXPONENTS.values())}
