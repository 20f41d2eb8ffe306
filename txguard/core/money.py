"""Exact money: decimal strings, integers or JSON numbers in, ``Decimal`` inside, never binary floats.

Every amount is checked against the ISO 4217 exponent of its currency: ``"12.345"`` is not a
USD amount, ``"1.5"`` is not a JPY amount. A JSON number is read from its source text
(:class:`~txguard.core.jsonio.JSONNumber`: ``129.99`` is 129.99), a float a host hands in through
its shortest ``repr``. Negative and non-finite amounts, and exponent notation in a string, are
refused at the boundary.
"""

from __future__ import annotations

import re
import reprlib
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import MoneyError
from .jsonio import exact_decimal, number_text

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
    """Parse a non-negative amount given as a plain decimal string, an int, a number or a Decimal.

    Args:
        value: ``"12.50"``, ``12`` (whole units), a JSON number (read from its source text, see
            :func:`number_amount`), a float (read through its shortest ``repr``) or ``Decimal("12.50")``.
        exponent: when given, at most this many digits may follow the decimal point.

    Raises:
        MoneyError: for booleans, negative or non-finite values, exponent notation in a string,
            too many decimals or too many digits.

    >>> parse_amount("12.50", 2)
    Decimal('12.50')
    >>> from .jsonio import read_json
    >>> parse_amount(read_json("129.99"), 2)
    Decimal('129.99')
    """
    if type(value) is str:  # the usual case first; the branches below do not apply to a str
        text = value
    elif isinstance(value, bool):
        raise MoneyError(
            f"amount `{brief(value)}` is a {type(value).__name__}: expected a decimal string such as `\"12.50\"`"
        )
    elif isinstance(value, float):
        return number_amount(value, exponent)
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


_ONE = Decimal(1)


def number_amount(value: float, exponent: int | None = None) -> Decimal:
    """Parse a non-negative amount given as a number: the exact value of its decimal text.

    The text is the JSON source text of a :class:`~txguard.core.jsonio.JSONNumber` (``129.99``,
    ``12.50``, ``1.5e2``), or the shortest ``repr`` of a float a host hands in. Its decimals are
    counted as written, as for a string (``12.50`` has two; ``1.001`` is not a USD amount); an
    exponent that leaves no decimals gives a whole amount (``1.5e2`` -> ``Decimal("150")``).

    Raises:
        MoneyError: for a NaN or infinite value, a negative one (``-0.0`` included), more than
            ``MAX_INTEGER_DIGITS`` integer digits, or more decimals than ``exponent``.

    >>> number_amount(0.1 + 0.2, 2)
    Traceback (most recent call last):
    ...
    txguard.core.errors.MoneyError: amount `0.30000000000000004` has 17 decimals: the currency allows 2
    """
    text = number_text(value)
    shown = text if len(text) <= 60 else f"{text[:40]}...{text[-10:]}"  # a JSON number can be long
    try:
        amount = Decimal(text)
    except InvalidOperation:  # not reachable from a float's repr or a JSON number; kept fail-closed
        raise MoneyError(f"amount `{shown}` is not a number") from None
    if not amount.is_finite():
        raise MoneyError(f"amount `{shown}` is not finite")
    if amount.is_signed():
        raise MoneyError(f"amount `{shown}` is negative")
    if amount and amount.adjusted() >= MAX_INTEGER_DIGITS:
        raise MoneyError(f"amount `{shown}` has more than {MAX_INTEGER_DIGITS} digits")
    places = amount.as_tuple().exponent
    assert isinstance(places, int)  # a finite Decimal's exponent is an int
    if places > 0:  # 1.5e2, 0e5: a whole amount, written without the exponent
        return amount.quantize(_ONE)
    if exponent is not None and -places > exponent:
        raise MoneyError(f"amount `{shown}` has {-places} decimals: the currency allows {exponent}")
    return amount


def fact_amount(value: Any) -> Decimal:
    """Convert a trusted retailer record's amount to Decimal.

    Facts come from the retailer's own database, often as JSON numbers; a number is read from its
    JSON source text, a float a host hands in through its shortest round-trip representation
    (``287.79`` -> ``Decimal("287.79")``), never through binary arithmetic (see
    :func:`~txguard.core.jsonio.exact_decimal`).
    """
    if isinstance(value, bool):
        raise MoneyError(f"fact amount `{brief(value)}` is a boolean")
    if isinstance(value, float):
        result = exact_decimal(value)
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
