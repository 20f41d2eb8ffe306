"""Invariant 4, consent: a consequential intent is allowed only with a confirmation of exactly that
intent; changing any bound field after confirmation is caught, changing a non-bound one is not."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any, Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from txguard import Guard, Outcome, intent_digest

from ..helpers import ADDRESS, CARD, GIFT, ORDER_POLICY, PAYPAL, RETAIL, checkout_args, envelope, line

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RETAIL_GUARD = Guard.from_file(RETAIL)
ORDERS = Guard.from_text(ORDER_POLICY)

VARIANTS = [("S-COF-1", "120.00"), ("S-COF-2", "150.50")]


@st.composite
def confirmed_checkouts(draw: st.DrawFn) -> dict[str, Any]:
    """A coffee-maker checkout (at most 1000.00, every rule of retail.yaml satisfied) and its envelope."""
    chosen = draw(st.lists(st.sampled_from(VARIANTS), min_size=1, max_size=2, unique=True))
    lines = [line(sku, unit_price=price, quantity=draw(st.integers(min_value=1, max_value=3))) for sku, price in chosen]
    pm = draw(st.sampled_from([CARD, PAYPAL]))
    return envelope(checkout_args(*lines, pm=pm, confidence=draw(st.sampled_from([0.8, 0.9, 1]))))


Mutation = Callable[[dict[str, Any]], None]


def _first(args: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = args["items"][0]
    return item


def _retotal(args: dict[str, Any]) -> None:
    args["total"] = str(sum((Decimal(i["unit_price"]) * i["quantity"] for i in args["items"]), Decimal(0)))


def more_units(a: dict[str, Any]) -> None:
    _first(a)["quantity"] += 1
    _retotal(a)


def other_sku(a: dict[str, Any]) -> None:
    item = _first(a)
    item["sku"], item["unit_price"] = ("S-COF-2", "150.50") if item["sku"] == "S-COF-1" else ("S-COF-1", "120.00")
    _retotal(a)


def other_price(a: dict[str, Any]) -> None:
    _first(a)["unit_price"] = str(Decimal(_first(a)["unit_price"]) - Decimal("0.01"))
    _retotal(a)


def other_total(a: dict[str, Any]) -> None:
    a["total"] = str(Decimal(a["total"]) + Decimal("0.01"))


def other_card(a: dict[str, Any]) -> None:
    a["payment_method_id"] = GIFT if a["payment_method_id"] != GIFT else CARD


def other_currency(a: dict[str, Any]) -> None:
    a["currency"] = "EUR"


def add_merchant(a: dict[str, Any]) -> None:
    a["merchant"] = "another shop"


def add_address(a: dict[str, Any]) -> None:
    a["shipping_address"] = dict(ADDRESS)


def other_product(a: dict[str, Any]) -> None:
    _first(a)["product_id"] = "P-ESP"


def add_line(a: dict[str, Any]) -> None:
    a["items"].append(line("S-ESP-1", "P-ESP", "Espresso Machine", 1, "899.99"))
    _retotal(a)


BOUND: list[Mutation] = [more_units, other_sku, other_price, other_total, other_card, other_currency, add_merchant,
                         add_address, other_product, add_line]


@SETTINGS
@given(env=confirmed_checkouts(), mutate=st.sampled_from(BOUND))
def test_changing_a_bound_field_after_confirmation_is_caught(env: dict[str, Any], mutate: Mutation) -> None:
    assert RETAIL_GUARD.independent().check_envelope(env).allowed
    mutate(env["proposal"]["arguments"])
    d = RETAIL_GUARD.independent().check_envelope(env)
    assert d.outcome is not Outcome.ALLOW
    assert "consent" in d.codes
    consent = next(r for r in d.reasons if r.code == "consent")
    assert consent.message.startswith("the user confirmed a different checkout: ")


@SETTINGS
@given(env=confirmed_checkouts(), confidence=st.sampled_from([0.8, 0.85, 0.99, 1]), reverse=st.booleans())
def test_changing_a_non_bound_field_is_not_a_consent_problem(env: dict[str, Any], confidence: float,
                                                               reverse: bool) -> None:
    args = env["proposal"]["arguments"]
    args["confidence"] = confidence  # the agent's confidence is not what the user agreed to
    if reverse:
        args["items"].reverse()  # the same cart in another order is the same cart
    d = RETAIL_GUARD.independent().check_envelope(env)
    assert "consent" not in d.codes
    assert d.allowed


@SETTINGS
@given(env=confirmed_checkouts())
def test_never_allowed_without_a_confirmation_and_the_confirmation_round_trips(env: dict[str, Any]) -> None:
    env["session"]["confirmed"] = []
    d = RETAIL_GUARD.independent().check_envelope(env)
    assert (d.outcome, d.codes) == (Outcome.CLARIFY, ("consent",))
    assert d.confirmation is not None
    assert d.confirmation.digest == intent_digest(d.intent)
    # The host shows the confirmation; the user accepts it on the trusted screen.
    env["session"]["confirmed"] = [{"digest": d.confirmation.digest}]
    assert RETAIL_GUARD.independent().check_envelope(env).allowed


ORDER_CALLS: list[tuple[str, dict[str, Any], list[Callable[[dict[str, Any]], None]]]] = [
    ("cancel_pending_order", {"order_id": "#W1", "reason": "no longer needed"}, [
        lambda a: a.update(order_id="#W2"), lambda a: a.update(reason="ordered by mistake")]),
    ("modify_pending_order_address", {"order_id": "#W1", "address": dict(ADDRESS)}, [
        lambda a: a["address"].update(zip="00000"), lambda a: a["address"].update(address2="Apt 2"),
        lambda a: a.update(order_id="#W2")]),
    ("modify_pending_order_payment", {"order_id": "#W1", "payment_method_id": PAYPAL}, [
        lambda a: a.update(payment_method_id=GIFT)]),
    ("return_delivered_order_items", {"order_id": "#W2", "item_ids": ["S-COF-1", "S-COF-2"], "payment_method_id": PAYPAL}, [
        lambda a: a.update(item_ids=["S-COF-1"]), lambda a: a.update(payment_method_id=GIFT)]),
    ("exchange_delivered_order_items", {"order_id": "#W2", "item_ids": ["S-COF-1"], "new_item_ids": ["S-COF-2"],
                                        "payment_method_id": PAYPAL}, [
        lambda a: a.update(new_item_ids=["S-COF-3"]), lambda a: a.update(item_ids=["S-COF-2"])]),
]


@SETTINGS
@given(call=st.sampled_from(ORDER_CALLS), pick=st.integers(min_value=0, max_value=10))
def test_changing_a_bound_field_of_an_order_intent_is_caught(
        call: tuple[str, dict[str, Any], list[Callable[[dict[str, Any]], None]]], pick: int) -> None:
    name, args, mutations = call
    env = envelope(copy.deepcopy(args), name=name)
    assert ORDERS.independent().check_envelope(env).allowed
    mutations[pick % len(mutations)](env["proposal"]["arguments"])
    d = ORDERS.independent().check_envelope(env)
    assert d.outcome is not Outcome.ALLOW
    assert "consent" in d.codes
