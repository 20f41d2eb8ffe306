"""Typed intents: strict validation, exact money, and the consent binding (bound fields, digest)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from txguard import (
    CancelOrder,
    Checkout,
    ExchangeItems,
    Intent,
    ModifyOrderItems,
    Refund,
    ReturnItems,
    intent_digest,
)
from txguard.core.intents import CONSEQUENTIAL_KINDS, INTENT_KINDS
from txguard.core.canonical import canonical_json
from txguard.core.money import format_amount
from txguard.domain.digest import bound_fields

from .helpers import ADDRESS, checkout_args, line

ADAPTER: TypeAdapter[Any] = TypeAdapter(Intent)


def checkout(**change: Any) -> Checkout:
    data = {**checkout_args(line(), line("S-COF-2", unit_price="150.50")), **change}
    return Checkout.model_validate(data)


def test_checkout_parses_exact_amounts() -> None:
    c = checkout()
    assert c.kind == "checkout"
    assert c.total == Decimal("270.50")
    assert c.items[1].unit_price == Decimal("150.50")
    assert c.confidence == Decimal("0.95")


def test_intents_are_frozen_and_forbid_extra_fields() -> None:
    c = checkout()
    with pytest.raises(ValidationError):
        c.total = Decimal(1)  # type: ignore[misc]
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        checkout(coupon="FREE")


@pytest.mark.parametrize(("change", "fragment"), [
    ({"total": 270.505}, "total `270.505` has more decimals than USD allows (2)"),
    ({"total": float("inf")}, "amount `inf` is not finite"),
    ({"total": "NaN"}, "is not a plain non-negative decimal"),
    ({"total": "-1"}, "is not a plain non-negative decimal"),
    ({"total": "270.505"}, "total `270.505` has more decimals than USD allows (2)"),
    ({"currency": "usd"}, "unknown currency"),
    ({"confidence": 1.5}, "is not a number in [0, 1]"),
    ({"confidence": True}, "is not a number in [0, 1]"),
    ({"confidence": float("nan")}, "is not finite"),
    ({"confidence": "0.9"}, "is not a number in [0, 1]"),
    ({"items": []}, "at least 1 item"),
    ({"payment_method_id": ""}, "at least 1 character"),
])
def test_checkout_rejects(change: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        checkout(**change)
    assert fragment in str(info.value)


@pytest.mark.parametrize(("change", "fragment"), [
    ({"quantity": 0}, "greater than or equal to 1"),
    ({"quantity": 1.0}, "valid integer"),
    ({"quantity": True}, "valid integer"),
    ({"quantity": "1"}, "valid integer"),
    ({"unit_price": -120.0}, "amount `-120.0` is negative"),
    ({"sku": 42}, "valid string"),
    ({"title": ""}, "at least 1 character"),
])
def test_line_rejects(change: dict[str, Any], fragment: str) -> None:
    data = checkout_args({**line(), **change}, total="120.00")
    with pytest.raises(ValidationError) as info:
        Checkout.model_validate(data)
    assert fragment in str(info.value)


def test_currency_exponent_applies_to_every_amount() -> None:
    jpy = checkout_args(line(unit_price="1200"), currency="JPY", total="1200")
    assert Checkout.model_validate(jpy).total == Decimal(1200)
    with pytest.raises(ValidationError, match=r"items\[0\].unit_price `1200.5` has more decimals than JPY allows \(0\)"):
        Checkout.model_validate(checkout_args(line(unit_price="1200.5"), currency="JPY", total="1201"))
    refund = {"order_id": "#W1", "amount": "1.234", "currency": "BHD", "payment_method_id": "pm"}
    assert Refund.model_validate(refund).amount == Decimal("1.234")
    with pytest.raises(ValidationError, match="amount `1.234` has more decimals than USD allows"):
        Refund.model_validate({**refund, "currency": "USD"})


def test_discriminated_union_on_kind() -> None:
    intent = ADAPTER.validate_python({"kind": "cancel_order", "order_id": "#W1", "reason": "ordered by mistake"})
    assert isinstance(intent, CancelOrder)
    with pytest.raises(ValidationError, match="does not match any of the expected tags"):
        ADAPTER.validate_python({"kind": "teleport", "order_id": "#W1"})


def test_replacements_must_pair_up() -> None:
    base = {"order_id": "#W1", "item_ids": ["a", "b"], "new_item_ids": ["c"], "payment_method_id": "pm"}
    with pytest.raises(ValidationError, match="item_ids has 2 entries but new_item_ids has 1"):
        ModifyOrderItems.model_validate(base)
    with pytest.raises(ValidationError, match="item_ids has 2 entries but new_item_ids has 1"):
        ExchangeItems.model_validate(base)


def test_kinds() -> None:
    assert INTENT_KINDS == tuple(sorted(INTENT_KINDS))
    assert {"checkout", "add_to_cart", "cancel_order", "refund", "modify_user_address"} <= set(INTENT_KINDS)
    assert "add_to_cart" not in CONSEQUENTIAL_KINDS
    assert CONSEQUENTIAL_KINDS == frozenset(INTENT_KINDS) - {"add_to_cart"}


# -- the binding ---------------------------------------------------------------------------------

def test_bound_fields_of_a_checkout_are_every_field_but_the_agents_own_assessment() -> None:
    c = checkout(shipping_address=ADDRESS, merchant="shop")
    lines = [{"sku": s, "product_id": "P-COF", "title": t, "quantity": 1, "unit_price": p, "category": None}
             for s, t, p in sorted([(l.sku, l.title, format_amount(l.unit_price, "USD")) for l in c.items])]
    assert bound_fields(c) == {
        "kind": "checkout",
        "currency": "USD",
        "items": sorted(lines, key=canonical_json),
        "total": "270.50 USD",
        "payment_method_id": "credit_card_1",
        "merchant": "shop",
        "shipping_address": ADDRESS,
    }


def test_digest_ignores_line_order_exact_amount_text_confidence_and_alternatives() -> None:
    a = checkout()
    b = Checkout.model_validate({
        **checkout_args(line("S-COF-2", unit_price="150.5"), line(), total="270.5"),
        "confidence": 0.5,
        "alternatives": [{"product_id": "P-ESP"}],
    })
    assert intent_digest(a) == intent_digest(b)
    assert intent_digest(a).startswith("sha256:") and len(intent_digest(a)) == 7 + 64


def test_digest_binds_each_lines_title_and_category() -> None:
    # Consent binds every field: an economy fare re-proposed as business at the same price is another action.
    a = checkout()
    renamed = checkout(items=[line(title="A coffee maker"), line("S-COF-2", unit_price="150.50")])
    recategorised = checkout(items=[{**line(), "category": "Business"}, line("S-COF-2", unit_price="150.50")])
    assert len({intent_digest(a), intent_digest(renamed), intent_digest(recategorised)}) == 3


@pytest.mark.parametrize("change", [
    {"total": "270.51"},
    {"currency": "EUR"},
    {"payment_method_id": "gift_card_1"},
    {"merchant": "elsewhere"},
    {"shipping_address": ADDRESS},
    {"items": [line(quantity=2), line("S-COF-2", unit_price="150.50")]},
    {"items": [line(unit_price="120.01"), line("S-COF-2", unit_price="150.50")]},
    {"items": [line(sku="S-COF-3"), line("S-COF-2", unit_price="150.50")]},
    {"items": [line(product_id="P-ESP"), line("S-COF-2", unit_price="150.50")]},
    {"items": [line()]},
])
def test_digest_changes_with_every_bound_field(change: dict[str, Any]) -> None:
    assert intent_digest(checkout(**change)) != intent_digest(checkout())


def test_order_intents_bind_sorted_ids_and_exact_amounts() -> None:
    r1 = ReturnItems(order_id="#W2", item_ids=("b", "a"), payment_method_id="pm")
    r2 = ReturnItems(order_id="#W2", item_ids=("a", "b"), payment_method_id="pm")
    assert intent_digest(r1) == intent_digest(r2)
    assert bound_fields(r1)["item_ids"] == ["a", "b"]
    assert bound_fields(ModifyOrderItems(order_id="#W1", item_ids=("b", "a"), new_item_ids=("d", "c"),
                                         payment_method_id="pm"))["new_item_ids"] == ["c", "d"]  # pairs kept
    m1 = ModifyOrderItems(order_id="#W1", item_ids=("a", "b"), new_item_ids=("c", "d"), payment_method_id="pm")
    m2 = ModifyOrderItems(order_id="#W1", item_ids=("b", "a"), new_item_ids=("d", "c"), payment_method_id="pm")
    m3 = ModifyOrderItems(order_id="#W1", item_ids=("a", "b"), new_item_ids=("d", "c"), payment_method_id="pm")
    assert intent_digest(m1) == intent_digest(m2) != intent_digest(m3)
    f1 = Refund.model_validate({"order_id": "#W1", "amount": "5", "currency": "USD", "payment_method_id": "pm"})
    f2 = Refund.model_validate({"order_id": "#W1", "amount": "5.00", "currency": "USD", "payment_method_id": "pm"})
    assert bound_fields(f1)["amount"] == "5.00 USD"
    assert intent_digest(f1) == intent_digest(f2)
    c1 = CancelOrder(order_id="#W1", reason="no longer needed")
    assert intent_digest(c1) != intent_digest(CancelOrder(order_id="#W1", reason="ordered by mistake"))
