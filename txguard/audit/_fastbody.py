"""The audit body's usual encoding: one type proof for the whole body, the proposal digest from it.

:func:`fast_body` is :func:`~txguard.core.canonical.direct_jcs` of a record body with two costs
taken out: the proposal (encoded first, for its digest) is proved plain by the body's own
``marshal`` pass instead of one of its own, and the float tokens JCS writes otherwise are found by
byte search (:func:`float_spans`) instead of regular expressions that stop at every ``e`` of the
text. It answers ``None`` wherever ``direct_jcs`` would; the caller then takes
:func:`~txguard.audit._record.encode_body_reference`. ``tests/audit/test_fast_body.py`` compares
both with the reference on random and adversarial bodies.
"""

from __future__ import annotations

import hashlib
import marshal
import re
from typing import Any

import orjson

from ..core.canonical import _BEFORE_NUMBER, _DIRECT, _FOUR_BYTE, _NUMBER_BYTES, _non_finite, _refuse, es_number

SIGNED_EXPONENT = orjson.dumps([1e21, 1e-7, 1.5e300]) == b"[1e+21,1e-7,1.5e+300]"
"""Whether this orjson writes an exponent as ``e`` and a sign always (the only form searched here)."""

_INTEGRAL = re.compile(rb"\.0[,\]}]")  # orjson's integral float (58.0) before a delimiter
# A signed exponent, one regular expression per sign: each has a two-byte literal prefix the
# search skips ahead with (``e[-+]`` has only ``e``, which English text is full of).
_MINUS = re.compile(rb"e-[0-9]")
_PLUS = re.compile(rb"e\+[0-9]")


def float_spans(out: bytes) -> list[tuple[int, int]]:
    """The float tokens of orjson's text ``out`` that JCS writes otherwise (``58.0``, ``1e-7``,
    ``1e+16``), sorted: the same as :func:`txguard.core.canonical._float_spans` (for an orjson that
    writes a signed exponent, :data:`SIGNED_EXPONENT`), with cheaper searches.

    A hit is a number when it follows a delimiter and an even number of string quotes precede it,
    escaped quotes not counted (escaped backslashes, then escaped quotes, blanked left to right).
    """
    hits = [m.start() for m in _INTEGRAL.finditer(out)]
    hits += [m.start() for m in _MINUS.finditer(out)]
    if b"+" in out:
        hits += [m.start() for m in _PLUS.finditer(out)]
    if out.endswith(b".0"):  # a float alone
        hits.append(len(out) - 2)
    n = len(out)
    if not hits:
        return []
    spans: set[tuple[int, int]] = set()
    quotes: bytes | None = None
    for i in hits:
        start = i
        while start and out[start - 1] in _NUMBER_BYTES:
            start -= 1
        if start == i or (start and out[start - 1] not in _BEFORE_NUMBER):
            continue  # no digit before it, or not after a delimiter: inside a string
        if quotes is None:  # only the text before the last hit is read (the blanks keep every position)
            head = out[:max(hits)]
            quotes = head.replace(b"\\\\", b"__").replace(b'\\"', b"__") if b"\\" in head else head
        if quotes.count(b'"', 0, i) % 2:  # inside a string after all
            continue
        end = i
        while end < n and out[end] in _NUMBER_BYTES:
            end += 1
        spans.add((start, end))
    return sorted(spans)


def jcs_text(out: bytes) -> str | None:
    """orjson's text ``out`` (of data already proved plain and finite) as JCS writes it, or ``None``
    if it holds a character beyond U+FFFF (whose key order JCS defines otherwise)."""
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


def fast_body(body: dict[str, Any]) -> str | None:
    """The canonical text of a record ``body`` whose every value is plain JSON (``direct_jcs``'s
    rules), after setting its ``proposal_digest`` (when absent) to the digest of the proposal's
    canonical text; ``None`` (and ``body`` untouched) where ``direct_jcs`` would answer ``None``."""
    if not SIGNED_EXPONENT:
        return None
    try:
        plain = marshal.dumps(body, 4)  # exact plain types only, subclasses refused: the proof for every part
    except ValueError:
        return None
    if _non_finite(plain):
        return None
    try:
        if "proposal_digest" not in body:
            proposal = jcs_text(orjson.dumps(body.get("proposal"), default=_refuse, option=_DIRECT))
            if proposal is None:
                return None
            digest = "sha256:" + hashlib.sha256(proposal.encode("utf-8")).hexdigest()
            out = orjson.dumps({**body, "proposal_digest": digest}, default=_refuse, option=_DIRECT)
            text = jcs_text(out)
            if text is not None:
                body["proposal_digest"] = digest
            return text
        return jcs_text(orjson.dumps(body, default=_refuse, option=_DIRECT))
    except (TypeError, ValueError):  # orjson.JSONEncodeError is a TypeError
        return None
