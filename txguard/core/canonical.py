"""The one canonical JSON encoder: RFC 8785, the JSON Canonicalization Scheme (JCS).

Every digest an outside verifier must recompute (the audit record hash, the consent digest of an
intent's bound fields, the proposal digest, a masked value's digest) is SHA-256 over
:func:`canonical_json`. The rules (RFC 8785 section 3.2):

- object members sorted by their names as arrays of UTF-16 code units; no whitespace; UTF-8;
- strings: ``"`` and ``\\`` escaped, the control characters below U+0020 as ``\\b \\t \\n \\f \\r``
  or ``\\u00xx`` (lowercase hex), every other character written as itself;
- numbers in the ECMAScript ``Number.prototype.toString`` form of the IEEE 754 double
  (``100.0`` -> ``100``, ``1e21`` -> ``1e+21``, ``1e-7`` -> ``1e-7``, ``-0.0`` -> ``0``).

Fail closed where JCS has no answer: an integer beyond +/-2**53 (a double cannot hold it exactly,
so a verifier reading it as a number would compute another text), a NaN or infinite float, a lone
surrogate in a string and a key that is not a string raise ``ValueError`` or ``TypeError``, and
so does nesting deeper than 254 containers (the limit of the orjson fast path). The audit record
turns such values into escaped objects first (``txguard.audit._record.escape``), so nothing is lost.

Values that are not JSON are converted first as the audit trail always has (:func:`to_json_value`):
pydantic models by ``model_dump(mode="json")``, other mappings as dicts, sets sorted by ``repr``,
``Decimal`` as its string, dates and times by ``isoformat()``, bytes as Latin-1 text, enums by
value, UUIDs as text and dataclasses by their fields.

For ordinary data (string keys without characters beyond U+FFFF, strings, Decimals as strings,
integers within +/-2**53, ``None``, booleans) the JCS text is exactly the sorted-keys compact UTF-8
text ``json.dumps``/orjson write, so hashes made before this module are unchanged. Such values,
and values whose floats orjson writes as JCS does once integral floats are ints, go through orjson
(:func:`canonical_json` asks :func:`_fast_form` first); the pure-Python :func:`encode_jcs` is the
reference, and ``tests/properties/test_canonical.py`` asserts the two are equal on random values.

:func:`policy_json` is the same walker with the number and key rules of Python's ``json.dumps``:
the policy digest is not recomputed outside txguard and keeps its bytes from before JCS.

>>> canonical_json({"b": 1, "a": ["é", 2.5, None, 100.0]})
'{"a":["é",2.5,null,100],"b":1}'

Size: over 400 lines on purpose: the encoder's three paths (:func:`direct_jcs`, orjson after a
walk, the reference) are one encoder that must agree byte for byte; they stay side by side.
"""

from __future__ import annotations

import dataclasses
import enum
import marshal
import math
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import orjson
from pydantic import BaseModel

MAX_SAFE_INTEGER = 1 << 53
"""JCS writes integers of at most this magnitude; larger ones are refused (a double would round them)."""

MAX_DEPTH = 254
"""The deepest nesting of arrays and objects encoded (orjson's limit, kept by the reference too)."""


def to_json_value(value: Any) -> Any:
    """A JSON-able stand-in for a value JSON has no type for; raises ``TypeError`` if there is none."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    raise TypeError(f"cannot record a value of type {type(value).__name__}")


# -- strings --------------------------------------------------------------------------------------

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
_NEEDS_ESCAPE = re.compile(r'[\x00-\x1f"\\]')
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _escape_char(m: re.Match[str]) -> str:
    ch = m.group(0)
    return _ESCAPES.get(ch) or f"\\u{ord(ch):04x}"


def json_string(text: str) -> str:
    """``text`` as a JSON string literal, escaped per RFC 8785; ``ValueError`` for a lone surrogate.

    >>> json_string('a"b\\n\u2028')
    '"a\\\\"b\\\\n\u2028"'
    """
    if _SURROGATE.search(text) is not None:
        raise ValueError(f"string {text[:40]!r} holds a lone surrogate: not Unicode text")
    return '"' + _NEEDS_ESCAPE.sub(_escape_char, text) + '"'


def _utf16_key(name: str) -> bytes:
    return name.encode("utf-16-be")


# -- numbers --------------------------------------------------------------------------------------

def es_number(x: float) -> str:
    """The ECMAScript ``Number.prototype.toString`` text of a finite double (RFC 8785 section 3.2.2.3).

    Python's ``repr`` gives the same shortest round-trip digits; only the layout differs.

    >>> [es_number(v) for v in (100.0, 1e21, 1e-7, 0.000001, 123.456, -0.0)]
    ['100', '1e+21', '1e-7', '0.000001', '123.456', '0']
    """
    if not math.isfinite(x):
        raise ValueError(f"`{x!r}` has no JSON form: JCS numbers are finite")
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    mantissa, _, exp = repr(abs(x)).partition("e")
    whole, _, frac = mantissa.partition(".")
    raw = whole + frac
    stripped = raw.lstrip("0")
    n = len(whole) + (int(exp) if exp else 0) - (len(raw) - len(stripped))  # value = 0.DIGITS * 10**n
    digits = stripped.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    e = n - 1
    return sign + digits[0] + ("." + digits[1:] if k > 1 else "") + "e" + ("+" if e >= 0 else "-") + str(abs(e))


def _jcs_int(value: int) -> str:
    if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return str(value)
    raise ValueError(f"integer {str(value)[:30]} is beyond +/-2**53: JCS cannot write it exactly")


# -- the walker -----------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True, slots=True)
class _Profile:
    integer: Callable[[int], str]
    floating: Callable[[float], str]
    key_order: Callable[[Any], Any] | None  # None: the keys are sorted as they are
    key_text: Callable[[Any], str]
    convert: Callable[[Any], Any]
    max_depth: int


def _jcs_key(key: Any) -> str:
    if type(key) is not str and not isinstance(key, str):
        raise TypeError(f"object key {key!r} is not a string")
    return key


def _encode(value: Any, out: list[str], p: _Profile, depth: int) -> None:
    if isinstance(value, str):
        out.append(json_string(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(p.integer(value))
    elif isinstance(value, float):
        out.append(p.floating(value))
    elif isinstance(value, (list, tuple)):
        if depth >= p.max_depth:
            raise TypeError("Recursion limit reached")
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out, p, depth + 1)
        out.append("]")
    elif isinstance(value, dict):
        if depth >= p.max_depth:
            raise TypeError("Recursion limit reached")
        order = p.key_order
        if order is None:  # json.dumps: sort the keys as they are, then write them as text
            names = [(p.key_text(k), v) for k, v in sorted(value.items())]
        else:
            names = sorted(((p.key_text(k), v) for k, v in value.items()), key=lambda kv: order(kv[0]))
        out.append("{")
        for i, (name, item) in enumerate(names):
            if i:
                out.append(",")
            out.append(json_string(name))
            out.append(":")
            _encode(item, out, p, depth + 1)
        out.append("}")
    else:
        _encode(p.convert(value), out, p, depth)


_JCS = _Profile(_jcs_int, es_number, _utf16_key, _jcs_key, to_json_value, MAX_DEPTH)


def encode_jcs(value: Any) -> str:
    """RFC 8785 text of ``value``, by the pure-Python reference encoder (see the module docstring)."""
    out: list[str] = []
    _encode(value, out, _JCS, 0)
    return "".join(out)


_AS_IS, _INTEGRAL_FLOATS, _REFERENCE = 0, 1, 2


def _fast_form(value: Any) -> int:
    """How orjson can write ``value`` as JCS does: ``_AS_IS``; ``_INTEGRAL_FLOATS`` once its
    integral floats are ints (orjson writes ``58.0``, JCS ``58``); or ``_REFERENCE``: not at all.

    orjson and JCS agree on plain JSON types and ``Decimal`` (a string either way), integers within
    +/-2**53, object keys up to U+FFFF and floats that both write in plain decimal form. Nesting
    is not measured here: orjson refuses what is too deep, and the reference then says why.
    """
    form = _AS_IS
    stack = [value]
    pop, extend = stack.pop, stack.extend
    while stack:
        v = pop()
        t = type(v)
        if t is str or v is None or t is bool or t is Decimal:
            continue
        if t is dict:
            for k in v:
                if type(k) is not str or not (k.isascii() or max(k) <= "\uffff"):
                    return _REFERENCE
            extend(v.values())
        elif t is list or t is tuple:
            extend(v)
        elif t is int:
            if not -MAX_SAFE_INTEGER <= v <= MAX_SAFE_INTEGER:
                return _REFERENCE
        elif t is float:
            if not math.isfinite(v):
                return _REFERENCE
            if v.is_integer():
                if not -MAX_SAFE_INTEGER <= v <= MAX_SAFE_INTEGER:
                    return _REFERENCE
                form = _INTEGRAL_FLOATS
            elif not 1e-4 <= abs(v) < 1e15:
                return _REFERENCE
        else:  # anything else is converted (to_json_value) by the reference
            return _REFERENCE
    return form


def _ints_for_integral_floats(value: Any, depth: int = 0) -> Any:
    t = type(value)
    if t is float:
        return int(value) if value.is_integer() else value
    if t is dict or t is list or t is tuple:
        if depth >= MAX_DEPTH:
            raise TypeError("Recursion limit reached")
        if t is dict:
            return {k: _ints_for_integral_floats(v, depth + 1) for k, v in value.items()}
        return [_ints_for_integral_floats(v, depth + 1) for v in value]
    return value


_SORTED = orjson.OPT_SORT_KEYS
_DIRECT = (orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER | orjson.OPT_PASSTHROUGH_SUBCLASS
           | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME)
_FOUR_BYTE = re.compile(rb"[\xf0-\xf4]")  # the lead byte of a character beyond U+FFFF
_NUMBER_BYTES = frozenset(b"0123456789.-+eE")
_BEFORE_NUMBER = frozenset(b":,[")


def _refuse(value: Any) -> Any:
    raise TypeError("not plain JSON")


def direct_jcs(value: Any) -> str | None:
    """The JCS text of plain JSON data written by orjson without a Python walk, or ``None`` when
    this path cannot vouch for it (the caller then takes :func:`canonical_json`'s other paths).

    Plain: exact ``dict``/``list``/``tuple``/``str``/``int``/``float``/``bool``/``None`` (proved by
    ``marshal``, which refuses every other type, subclasses included), integers within 53 bits
    (orjson's strict mode), finite floats (a NaN or infinity, which orjson writes as ``null``, is
    found in marshal's bytes: a float whose exponent bits are all ones), no character beyond U+FFFF
    (whose key order JCS defines otherwise). orjson then writes what JCS writes except the floats it
    writes with an exponent or as ``N.0``; those tokens, found outside strings, are rewritten by
    :func:`es_number`. ``tests/properties/test_canonical.py`` compares this with the reference.
    """
    try:
        plain = marshal.dumps(value, 4)
        out = orjson.dumps(value, default=_refuse, option=_DIRECT)
    except (TypeError, ValueError):  # orjson.JSONEncodeError is a TypeError
        return None
    if _non_finite(plain):
        return None
    return orjson_jcs(out, _float_spans)


def orjson_jcs(out: bytes, float_spans: Callable[[bytes], list[tuple[int, int]]]) -> str | None:
    """orjson's text ``out`` (of data already proved plain and finite) as JCS writes it, the float
    tokens ``float_spans`` finds rewritten by :func:`es_number`; ``None`` if it holds a character
    beyond U+FFFF (whose key order JCS defines otherwise). Shared with ``txguard.audit._fastbody``."""
    if not out.isascii() and _FOUR_BYTE.search(out) is not None:
        return None
    spans = float_spans(out)
    if not spans:
        return out.decode("utf-8")
    parts: list[str] = []
    at = 0
    for start, end in spans:
        parts.append(out[at:start].decode("utf-8"))
        parts.append(es_number(float(out[start:end])))
        at = end
    parts.append(out[at:].decode("utf-8"))
    return "".join(parts)


def _non_finite(plain: bytes) -> bool:
    """Whether marshal's bytes ``plain`` hold a NaN or an infinity: a float (type ``g``, or ``g``
    flagged as referenced) whose 8 little-endian bytes have all exponent bits set. Found from the
    high byte (``0x7f``/``0xff``, rare in marshal's text), then checked; a string's bytes can only
    make it answer ``True`` (the caller then takes the slower exact path), never hide a float."""
    for high in (0x7F, 0xFF):
        i = plain.find(high, 8)
        while i != -1:
            if plain[i - 1] >= 0xF0 and plain[i - 8] in (0x67, 0xE7):
                return True
            i = plain.find(high, i + 1)
    return False


_INTEGRAL = re.compile(rb"\.0[,\]}]")  # orjson's integral float (58.0) before a delimiter
# A float with an exponent (1e-7, 1e+16): this orjson's own form if it writes ``e`` and a sign
# always (one cheap scan), else any form.
_EXPONENT = ((re.compile(rb"e[-+][0-9]"),) if orjson.dumps([1e21, 1e-7, 1.5e300]) == b"[1e+21,1e-7,1.5e+300]"
             else (re.compile(rb"e[-+]?[0-9]"), re.compile(rb"E[-+]?[0-9]")))


def _float_spans(out: bytes) -> list[tuple[int, int]]:
    """The float tokens of orjson's text ``out`` that JCS writes otherwise (``58.0``, ``1e-7``,
    ``1e+16``), sorted. Every other float token orjson writes is JCS's (shortest digits).

    A hit is a number when it follows a delimiter and an even number of string quotes precede it;
    escaped quotes are not counted: with every escaped backslash (``\\\\``), then every escaped
    quote (``\\"``), blanked left to right, each quote left delimits a string (orjson escapes a
    backslash as a pair, so a run of backslashes pairs up before the escape it may end with).
    """
    hits = [m.start() for m in _INTEGRAL.finditer(out)]
    for exponent in _EXPONENT:
        hits += [m.start() for m in exponent.finditer(out)]
    if out.endswith(b".0"):  # a float alone
        hits.append(len(out) - 2)
    return number_spans(out, hits)


def number_spans(out: bytes, hits: list[int]) -> list[tuple[int, int]]:
    """The number tokens of orjson's text ``out`` around the positions ``hits``, sorted: a hit
    counts when digits precede it, they follow a delimiter, and it is outside every string (the
    quote parity of the text before it, escapes blanked as :func:`_float_spans` says). Only the
    text before the last hit is blanked (blanking left to right keeps every position)."""
    if not hits:
        return []
    spans: set[tuple[int, int]] = set()
    quotes: bytes | None = None
    n = len(out)
    for i in hits:
        start = i
        while start and out[start - 1] in _NUMBER_BYTES:
            start -= 1
        if start == i or (start and out[start - 1] not in _BEFORE_NUMBER):
            continue  # no digit before it, or not after a delimiter: inside a string (a hex digest, a word)
        if quotes is None:
            head = out[:max(hits)]
            quotes = head.replace(b"\\\\", b"__").replace(b'\\"', b"__") if b"\\" in head else head
        if quotes.count(b'"', 0, i) % 2:  # inside a string after all
            continue
        end = i
        while end < n and out[end] in _NUMBER_BYTES:
            end += 1
        spans.add((start, end))
    return sorted(spans)


def canonical_json(value: Any) -> str:
    """The RFC 8785 (JCS) text of ``value`` (see the module docstring for the rules and failures).

    Raises ``TypeError`` for a value of a type JSON cannot hold or a key that is not a string, and
    ``ValueError`` for a non-finite float, an integer beyond +/-2**53 or a lone surrogate.

    >>> canonical_json({"b": 1, "a": ["é", 2.5, None, 58.0]})
    '{"a":["é",2.5,null,58],"b":1}'
    """
    text = direct_jcs(value)
    if text is not None:
        return text
    form = _fast_form(value)
    if form != _REFERENCE:
        if form == _INTEGRAL_FLOATS:
            value = _ints_for_integral_floats(value)
        try:
            return orjson.dumps(value, default=to_json_value, option=_SORTED).decode("utf-8")
        except orjson.JSONEncodeError:
            pass  # too deep, or a lone surrogate: the reference raises the error it names
    return encode_jcs(value)


# -- the policy digest's profile ------------------------------------------------------------------

def _py_float(x: float) -> str:
    if x != x:
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return float.__repr__(x)


def _py_key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(key)
    if isinstance(key, float):
        return _py_float(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


_POLICY = _Profile(int.__repr__, _py_float, None, _py_key, str, 10**6)  # json.dumps: Python's own recursion limit


def policy_json(value: Any) -> str:
    """The policy digest's canonical text: the bytes of ``json.dumps(value, sort_keys=True,
    separators=(",", ":"), ensure_ascii=False, default=str)``, kept from before JCS.

    The same walker as :func:`encode_jcs`; keys sort by code point, floats use Python's ``repr``,
    anything else becomes ``str(value)``. Equal to :func:`canonical_json` on ordinary data.
    """
    out: list[str] = []
    _encode(value, out, _POLICY, 0)
    return "".join(out)
