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

from ..core.canonical import _DIRECT, _non_finite, _refuse, number_spans, orjson_jcs

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

    Each hit is then judged by :func:`~txguard.core.canonical.number_spans`, as the canonical encoder's.
    """
    hits = [m.start() for m in _INTEGRAL.finditer(out)]
    hits += [m.start() for m in _MINUS.finditer(out)]
    if b"+" in out:
        hits += [m.start() for m in _PLUS.finditer(out)]
    if out.endswith(b".0"):  # a float alone
        hits.append(len(out) - 2)
    return number_spans(out, hits)


def jcs_text(out: bytes) -> str | None:
    """orjson's text ``out`` (of data already proved plain and finite) as JCS writes it, or ``None``
    if it holds a character beyond U+FFFF (whose key order JCS defines otherwise)."""
    return orjson_jcs(out, float_spans)


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
