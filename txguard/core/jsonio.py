"""The one strict reader of JSON text that comes from outside: tool arguments, case files, envelopes.

Python's ``json.loads`` keeps the last value of a repeated key. An executor that keeps the first
would then run with a value the guard never judged (``{"payment_method_id": "card_2", ...,
"payment_method_id": "card_1"}``). Every piece of outside JSON text is therefore read here, and a
key repeated in any object, at any depth, is an error (a :class:`ValueError`, as for any other
invalid JSON).

Numbers are read exactly. An integer is a Python ``int`` of any size (``json.loads`` never rounds
one; a faster reader such as orjson reads an integer beyond 64 bits as a float, so swapping readers
needs a guard for long digit runs). A number with a fraction or an exponent is a
:class:`JSONNumber`: a ``float`` like the one ``json.loads`` returns (it compares, hashes and
encodes as that float), that keeps its source text, so the money, decimal and confidence
validators read ``Decimal(text)``: ``129.99`` is 129.99, never the binary float nearest to it.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

__all__ = [
    "DuplicateKeyError", "JSONNumber", "exact_decimal", "number_text", "read_json", "unusable", "unusable_problem",
]


class DuplicateKeyError(ValueError):
    """A JSON object repeats a key: which value counts depends on the reader, so none does."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"duplicate key `{key}` in a JSON object")


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)  # the usual object repeats no key: one C-level build, then the count tells
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(key)
            seen.add(key)
    return out


_new_float = float.__new__


class JSONNumber(float):
    """A JSON number with a fraction or an exponent: the float ``json.loads`` reads, plus its text.

    Everything that treats it as a float sees the same float as before (``json.dumps`` and the
    audit encoder write ``float.__repr__``); only the readers that must be exact look at
    :attr:`text` (through :func:`number_text` or :func:`exact_decimal`).

    >>> n = read_json("0.79999999999999999")
    >>> n == 0.8, n.text
    (True, '0.79999999999999999')
    """

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str) -> JSONNumber:
        number = _new_float(cls, text)  # float.__new__, without looking it up through super() per number
        number.text = text
        return number

    def __reduce__(self) -> tuple[type[JSONNumber], tuple[str]]:
        return (JSONNumber, (self.text,))


def number_text(value: float) -> str:
    """The decimal text a float stands for: the JSON source text of a :class:`JSONNumber`, else the
    shortest text that reads back as the same float (``repr``: a float a host hands in)."""
    return value.text if isinstance(value, JSONNumber) else repr(value)


def exact_decimal(value: float) -> Decimal:
    """``Decimal(number_text(value))``, spelled in the shortest form of its value.

    When the source text is a longer spelling of the float's own shortest value (``0.960``,
    ``9.6e-1``), the result is ``Decimal(repr(value))``, exactly what was read before numbers kept
    their text; when the float lost digits of the text (``0.79999999999999999``, ``1e400``), it is
    the text's exact value. A NaN or infinite float gives a NaN or infinite Decimal.

    >>> exact_decimal(read_json("0.79999999999999999")), exact_decimal(read_json("0.960"))
    (Decimal('0.79999999999999999'), Decimal('0.96'))
    """
    text = repr(value)
    if isinstance(value, JSONNumber) and value.text != text:  # the same text is the same value: one parse
        exact, short = Decimal(value.text), Decimal(text)
        return exact if exact != short else short
    return Decimal(text)


def read_json(text: str | bytes | bytearray) -> Any:
    """``json.loads`` that refuses a repeated key in any object and keeps the text of fractional
    numbers (:class:`JSONNumber`).

    Raises:
        ValueError: the text is not JSON, or an object repeats a key (:class:`DuplicateKeyError`).
        RecursionError: the text nests deeper than the interpreter can read.

    Example:
        >>> read_json('{"a": {"b": 1, "b": 2}}')
        Traceback (most recent call last):
        ...
        txguard.core.jsonio.DuplicateKeyError: duplicate key `b` in a JSON object
    """
    if type(text) is str and not text.startswith("\ufeff"):  # one decoder for all (json.loads builds one per call)
        return _DECODER.decode(text)
    return json.loads(text, object_pairs_hook=_unique, parse_float=JSONNumber)


_DECODER = json.JSONDecoder(object_pairs_hook=_unique, parse_float=JSONNumber)


_UNUSABLE = "<unusable tool call: "


def unusable(problem: str) -> str:
    """The arguments of a tool call that could not be read: deliberately not JSON, so the guard
    decides it ``malformed``, with ``problem`` as its message and kept in the audit trail."""
    return f"{_UNUSABLE}{problem}>"


def unusable_problem(arguments: object) -> str | None:
    """The problem recorded by :func:`unusable`, or None for any other arguments."""
    if isinstance(arguments, str) and arguments.startswith(_UNUSABLE) and arguments.endswith(">"):
        return arguments[len(_UNUSABLE):-1]
    return None
