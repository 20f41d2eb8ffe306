"""An intent's bound fields and digest: what a confirmation binds, for every kind.

:func:`bound_fields` is the canonical form of :mod:`txguard.domain.bind` for the intent's kind (a
declared kind's declaration, or the shipped kind's in ``commerce.yaml``); :func:`intent_digest`
is ``sha256:`` + the hex SHA-256 of its RFC 8785 (JCS) text, so a verifier outside txguard
recomputes it with any JCS implementation. A checkout's text is written directly (the same text,
checked equal by ``tests/properties/test_digest_fast_path.py``): it is on every consent check.
"""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from ..core.canonical import canonical_json, json_string
from ..core.intents import Checkout
from ..core.money import CURRENCY_EXPONENTS, format_amount
from .domain import kind_spec, shipped_specs


def bound_fields(intent: BaseModel) -> dict[str, Any]:
    """Every field of ``intent`` that consent binds, canonicalised (see :mod:`txguard.domain.bind`)."""
    spec = kind_spec(intent)
    if spec is None:
        spec = shipped_specs().get(str(getattr(intent, "kind", "")))
        if spec is None or not isinstance(intent, spec.model):
            raise TypeError(f"`{type(intent).__name__}` is not an intent of a known kind: nothing to bind")
    return spec.bound(intent)


_VERBATIM = re.compile(r'[^\x00-\x1f"\\\ud800-\udfff]*').fullmatch
"""Text that RFC 8785 writes as it is (no control character, quote, backslash or lone surrogate)."""


def _string(text: str) -> str:
    """``json_string(text)``: text with nothing to escape is quoted as it is (the usual case),
    anything else goes through ``json_string`` (which escapes it, or refuses a lone surrogate)."""
    return f'"{text}"' if type(text) is str and _VERBATIM(text) is not None else json_string(text)


_QUANTUM = {code: Decimal(1).scaleb(-e) for code, e in CURRENCY_EXPONENTS.items() if 0 <= e <= 6}
"""Each currency's quantum, for the currencies whose exponent ``str`` writes in plain notation."""


def _money(amount: Decimal, currency: str) -> str:
    """``format_amount(amount, currency)``: quantized to an exponent from 0 to -6, ``str`` writes a
    ``Decimal`` in plain notation, as ``format(..., "f")`` does (and faster); else the formatter."""
    quantum = _QUANTUM.get(currency) if type(amount) is Decimal and type(currency) is str else None
    if quantum is None:
        return format_amount(amount, currency)
    return f"{amount.quantize(quantum)} {currency}"


def _checkout_canonical(intent: Checkout) -> str:
    """``canonical_json(bound_fields(intent))`` for a checkout, written directly (the same text).

    Keys in sorted order (all ASCII: code point and UTF-16 order agree); each line's text is what
    the canonical encoder writes for its bound record, and the lines are sorted by that text, as
    :mod:`~txguard.domain.bind` sorts an unordered list; quantities are ints within 2**53.
    """
    cur = intent.currency
    quantum = _QUANTUM.get(cur) if type(cur) is str else None
    lines = sorted(_line(it, cur, quantum) for it in intent.items)
    js = _string
    merchant = "null" if intent.merchant is None else js(intent.merchant)
    address = "null" if intent.shipping_address is None else canonical_json(intent.shipping_address.model_dump())
    return (f'{{"currency":{js(cur)},"items":[{",".join(lines)}],"kind":"checkout","merchant":{merchant},'
            f'"payment_method_id":{js(intent.payment_method_id)},"shipping_address":{address},'
            f'"total":{js(_money(intent.total, cur))}}}')


def _line(it: Any, cur: str, quantum: Decimal | None) -> str:
    """One cart line's canonical text. Texts that are all plain ``str`` with nothing to escape (one
    test of their concatenation: no character of it needs escaping exactly when none of theirs
    does) and a price in a currency whose amounts ``str`` writes are written as they are; any other
    line field by field, through the writers above."""
    sku, pid, title, cat, price = it.sku, it.product_id, it.title, it.category, it.unit_price
    if (quantum is not None and type(price) is Decimal and type(sku) is str and type(pid) is str
            and type(title) is str and (cat is None or type(cat) is str)
            and _VERBATIM(f"{sku}{pid}{title}{cat or ''}") is not None):
        category = "null" if cat is None else f'"{cat}"'
        return (f'{{"category":{category},"product_id":"{pid}","quantity":{it.quantity},"sku":"{sku}",'
                f'"title":"{title}","unit_price":"{price.quantize(quantum)} {cur}"}}')
    js = _string
    return (f'{{"category":{"null" if cat is None else js(cat)},'
            f'"product_id":{js(pid)},"quantity":{it.quantity},"sku":{js(sku)},'
            f'"title":{js(title)},"unit_price":{js(_money(price, cur))}}}')


_last_digest: tuple[object, str] = (None, "")
"""The latest intent digested and its digest: one decision asks for it up to three times (the
consent check, the confirmation request, the session log). Intents are frozen; the tuple keeps the
intent alive, so an ``is`` match is the same object. Replaced whole, so threads never see a mix."""


def intent_digest(intent: BaseModel) -> str:
    """``sha256:`` + hex digest of the RFC 8785 (JCS) text of the bound fields of ``intent``.

    A consent token binds this digest, so a verifier outside txguard recomputes it with any JCS
    implementation; see :mod:`txguard.core.canonical`.
    """
    global _last_digest
    last = _last_digest
    if last[0] is intent:
        return last[1]
    text = _checkout_canonical(intent) if type(intent) is Checkout else canonical_json(bound_fields(intent))
    digest = "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    _last_digest = (intent, digest)
    return digest


def bound_and_digest(intent: BaseModel) -> tuple[dict[str, Any], str]:
    """``(bound_fields(intent), intent_digest(intent))``, the bound fields computed once: the digest
    is the hash of their canonical text (for a checkout the same text ``_checkout_canonical``
    writes, ``tests/properties/test_digest_fast_path.py``). What a confirmation request carries."""
    global _last_digest
    bound = bound_fields(intent)
    last = _last_digest
    if last[0] is intent:
        return bound, last[1]
    digest = "sha256:" + hashlib.sha256(canonical_json(bound).encode("utf-8")).hexdigest()
    _last_digest = (intent, digest)
    return bound, digest
