"""The checkout digest's direct canonical form is byte-identical to the generic one.

``intent_digest`` writes a checkout's canonical JSON directly (it is on every session decision's
path); this checks it against ``canonical_json(bound_fields(...))`` on random checkouts, with
strings that need escaping, non-ASCII text, amounts at and below the currency's exponent, any
merchant and shipping address.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import txguard.domain.digest as digest_module
from txguard import Checkout, intent_digest
from txguard.core.canonical import canonical_json
from txguard.domain.digest import _checkout_canonical, bound_and_digest, bound_fields

text = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=12)
ids = st.one_of(text, st.sampled_from(["111", 'a"b', "a\\b", "é", "\n", "\u2028", "\x00x"]))
currencies = st.sampled_from(["USD", "EUR", "JPY", "KWD"])
_EXP = {"USD": 2, "EUR": 2, "JPY": 0, "KWD": 3}


@st.composite
def checkouts(draw: Any) -> Checkout:
    cur = draw(currencies)
    exp = _EXP[cur]

    def amount() -> str:
        cents = draw(st.integers(min_value=0, max_value=10**9))
        places = draw(st.integers(min_value=0, max_value=exp))
        return str(Decimal(cents).scaleb(-places))

    items = draw(st.lists(st.fixed_dictionaries({
        "sku": ids, "product_id": ids, "title": text,
        "quantity": st.integers(min_value=1, max_value=1_000_000),
    }), min_size=1, max_size=4))
    for it in items:
        it["unit_price"] = amount()
    address = draw(st.none() | st.fixed_dictionaries({
        "address1": text, "address2": st.text(max_size=5), "city": text, "state": text, "country": text, "zip": text,
    }))
    return Checkout.model_validate({
        "items": items, "total": amount(), "currency": cur, "payment_method_id": draw(ids),
        "merchant": draw(st.none() | text), "shipping_address": address,
    })


@settings(max_examples=300, deadline=None)
@given(checkouts())
def test_direct_form_equals_generic(intent: Checkout) -> None:
    generic = canonical_json(bound_fields(intent))
    assert _checkout_canonical(intent) == generic
    assert intent_digest(intent) == "sha256:" + hashlib.sha256(generic.encode("utf-8")).hexdigest()


def test_digest_is_shared_only_by_the_same_intent() -> None:
    a = Checkout.model_validate({"items": [{"sku": "1", "product_id": "p", "title": "t", "quantity": 1,
                                             "unit_price": "1.00"}], "total": "1.00", "currency": "USD",
                                  "payment_method_id": "card"})
    b = a.model_copy(update={"payment_method_id": "other"})
    da = intent_digest(a)
    assert intent_digest(b) != da          # the cache never answers for another intent
    assert intent_digest(a) == da


@settings(max_examples=200, deadline=None)
@given(checkouts())
def test_bound_and_digest_is_bound_fields_and_intent_digest(intent: Checkout) -> None:
    """What a confirmation request carries: computed once, the same as each computed alone."""
    digest_module._last_digest = (None, "")  # not the cached digest: computed from the bound fields
    bound, digest = bound_and_digest(intent)
    digest_module._last_digest = (None, "")
    assert (bound, list(bound)) == (bound_fields(intent), list(bound_fields(intent)))
    assert digest == intent_digest(intent)
    assert bound_and_digest(intent) == (bound, digest)  # and from the cache
