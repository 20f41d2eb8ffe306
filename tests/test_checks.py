"""Every built-in check, firing and not firing, on small hand-built facts (one rule per policy)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from txguard import Decision, Guard, Outcome, PolicyError
from txguard.checks.spec import CHECKS
from txguard.core.intents import INTENT_KINDS

from .helpers import (
    ADDRESS,
    BOB_CARD,
    CARD,
    GIFT,
    OTHER_USER,
    PAYPAL,
    POLICIES,
    USER,
    checkout_args,
    envelope,
    facts,
    line,
)

CATEGORIES = """\
categories:
  taxonomy: taxonomy/taxonomy-with-ids.en-US.txt
  product_types: {Coffee Maker: 736, Espresso Machine: 2422, Laptop: 328}
  synonyms: {Coffee Maker: [coffee machine]}
"""


def guard(check: str, params: dict[str, Any] | None = None, extra: str = "") -> Guard:
    tools = "".join(f"  {k}: {{intent: {k}}}\n" for k in INTENT_KINDS)
    defaults = ", ".join(f"{k}: allow" for k in INTENT_KINDS)
    rule = f"  - id: r\n    check: {check}\n" + (f"    params: {json.dumps(params)}\n" if params else "")
    text = (f'apiVersion: txguard/v1\nid: t\nversion: "1"\ntools:\n{tools}defaults: {{{defaults}}}\n'
            f"{extra}rules:\n{rule}")
    return Guard.from_text(text, file="t.yaml", base_dir=POLICIES)


def codes(g: Guard, env: dict[str, Any]) -> tuple[str, ...]:
    return g.independent().check_envelope(env).codes  # each case its own world


def order_env(kind: str, args: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return envelope(args, name=kind, **kw)


def test_every_check_has_a_doc_code_and_kinds() -> None:
    for name, spec in CHECKS.items():
        assert spec.doc, name
        assert spec.code and spec.kinds, name
        assert spec.outcome in ("clarify", "escalate"), name
        if spec.outcome == "clarify":
            assert spec.question, name


def test_importing_any_checks_module_registers_every_check_in_order() -> None:
    # A fresh interpreter that imports only the registry sees every check: the package imports
    # its check modules first, whatever module of it is asked for.
    code = "from txguard.checks.spec import CHECKS; print(' '.join(CHECKS))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == list(CHECKS)
    assert out[:3] == ["authentication", "consent", "price_cap"] and out[-1] == "noop"
    assert len(out) == 19


# -- identity and consent ---------------------------------------------------------------------

def test_authentication() -> None:
    g = guard("authentication")
    assert codes(g, envelope(checkout_args())) == ()
    d = g.check_envelope(envelope(checkout_args(), user=None))
    assert (d.outcome, d.codes, d.reasons[0].message) == (
        Outcome.CLARIFY, ("authentication",), "no authenticated user in this session")
    assert d.questions[0].text == "Please sign in (or confirm your identity) before I do this."


def test_consent() -> None:
    g = guard("consent")
    assert codes(g, envelope(checkout_args())) == ()
    d = g.check_envelope(envelope(checkout_args(), confirm=False))
    assert (d.outcome, d.codes, d.reasons[0].message) == (
        Outcome.CLARIFY, ("consent",), "the user has not confirmed this checkout")
    # add_to_cart moves no money: consent does not apply.
    assert codes(g, envelope({"items": [line()], "currency": "USD"}, name="add_to_cart", confirm=False)) == ()


# -- money ----------------------------------------------------------------------------------------

CAP = {"max": {"USD": "480.00", "EUR": "400"}}


@pytest.mark.parametrize(("args", "fired", "message"), [
    (checkout_args(line(quantity=4)), (), None),  # 480.00: exactly the cap
    (checkout_args(line(quantity=5)), ("price_cap",), "amount 600.00 USD is over the cap of 480.00 USD"),
    # An understated total cannot slip under the cap: the catalog total counts.
    (checkout_args(line(quantity=5, unit_price="1.00")), ("price_cap",),
     "amount 600.00 USD is over the cap of 480.00 USD"),
    (checkout_args(line(quantity=4), currency="EUR"), ("price_cap",), "amount 480.00 EUR is over the cap of 400.00 EUR"),
    (checkout_args(line(), currency="GBP"), ("price_cap",),
     "no price cap is configured for GBP: amounts in it are not allowed"),
])
def test_price_cap(args: dict[str, Any], fired: tuple[str, ...], message: str | None) -> None:
    d = guard("price_cap", CAP).check_envelope(envelope(args))
    assert d.codes == fired
    if message:
        assert d.outcome is Outcome.ESCALATE and d.reasons[0].message == message


def test_price_cap_per_category() -> None:
    g = guard("price_cap", {"max": {"USD": "5000"}, "per_category": {"coffee maker": {"USD": "200"}}})
    assert codes(g, envelope(checkout_args(line()))) == ()
    d = g.check_envelope(envelope(checkout_args(line(), line("S-COF-2", unit_price="150.50"))))
    assert d.reasons[0].message == "coffee maker lines total 270.50 USD, over the cap of 200.00 USD"
    # A category the caps do not list is never left uncapped: without a `default` the rule fires.
    espresso = line("S-ESP-1", "P-ESP", "Espresso Machine", 1, "899.99")
    d = g.check_envelope(envelope(checkout_args(line(), espresso)))
    assert (d.outcome, d.codes) == (Outcome.ESCALATE, ("price_cap",))
    assert d.reasons[0].message == "no per-category cap covers `espresso machine` (it is not listed and there is no `default`)"
    # With a `default`, each unlisted category is held to it, not to the coffee-maker cap.
    caps = {"coffee maker": {"USD": "200"}, "default": {"USD": "1000"}}
    g = guard("price_cap", {"max": {"USD": "5000"}, "per_category": caps})
    assert codes(g, envelope(checkout_args(line(), espresso))) == ()
    d = g.check_envelope(envelope(checkout_args(line(), {**espresso, "quantity": 2}, total="1919.98")))
    assert d.reasons[0].message == "espresso machine lines total 1799.98 USD, over the cap of 1000.00 USD"


def test_price_cap_on_a_refund() -> None:
    g = guard("price_cap", {"max": {"USD": "100"}})
    refund = {"order_id": "#W1", "amount": "100.01", "currency": "USD", "payment_method_id": CARD}
    assert codes(g, order_env("refund", refund)) == ("price_cap",)
    assert codes(g, order_env("refund", {**refund, "amount": "100"})) == ()


def test_budget() -> None:
    g = guard("budget")
    args = checkout_args(line(quantity=2))  # 240.00
    assert codes(g, envelope(args)) == ()  # no budget stated
    assert codes(g, envelope(args, request={"budget": "240"})) == ()  # equal is fine
    d = g.check_envelope(envelope(args, request={"budget": "239.99"}))
    assert (d.outcome, d.codes, d.reasons[0].message) == (
        Outcome.CLARIFY, ("budget",), "total 240.00 USD is over the user's budget of 239.99 USD")
    # The catalog total counts when the agent understates the price.
    assert codes(g, envelope(checkout_args(line(quantity=2, unit_price="1.00")), request={"budget": "200"})) == ("budget",)
    d = g.check_envelope(envelope(args, request={"budget": "1000", "currency": "EUR"}))
    assert d.reasons[0].message == "the budget is in EUR and the cart in USD: they cannot be compared"


def test_total() -> None:
    g = guard("total")
    assert codes(g, envelope(checkout_args(line(quantity=3, unit_price="0.10")))) == ()
    d = g.check_envelope(envelope(checkout_args(line(quantity=3, unit_price="0.10"), total="0.31")))
    assert (d.outcome, d.codes, d.reasons[0].message) == (
        Outcome.ESCALATE, ("total_mismatch",), "stated total 0.31 USD is not the sum of the lines 0.30 USD")


# -- the catalog -------------------------------------------------------------------------------------

def test_item_exists_for_a_cart() -> None:
    g = guard("item_exists")
    assert codes(g, envelope(checkout_args())) == ()
    d = g.check_envelope(envelope(checkout_args(line(sku="S-ESP-1"))))  # a real sku, of another product
    assert (d.codes, d.reasons[0].message) == (("unknown_item",),
                                               "sku S-ESP-1 is not a variant of the product named in the catalog")
    assert codes(g, envelope(checkout_args(line(product_id="P-NOPE")))) == ("unknown_item",)


def test_item_exists_for_an_order_counts_multiplicity() -> None:
    g = guard("item_exists")
    ret = {"order_id": "#W2", "item_ids": ["S-COF-1"], "payment_method_id": PAYPAL}
    assert codes(g, order_env("return_items", ret)) == ()
    d = g.check_envelope(order_env("return_items", {**ret, "item_ids": ["S-COF-1", "S-COF-1"]}))
    assert d.reasons[0].message == "item S-COF-1 is not (or not that many times) in order #W2"
    # Without the order, the order's items are a missing fact.
    assert codes(g, order_env("return_items", {**ret, "order_id": "#W404"})) == ("missing_fact",)


def test_availability() -> None:
    g = guard("availability")
    assert codes(g, envelope(checkout_args())) == ()
    d = g.check_envelope(envelope(checkout_args(line(sku="S-COF-3", unit_price="99.99"))))
    assert (d.codes, d.reasons[0].message) == (("availability",), "variant S-COF-3 is not available")
    swap = {"order_id": "#W1", "item_ids": ["S-COF-1"], "new_item_ids": ["S-COF-3"], "payment_method_id": CARD}
    assert codes(g, order_env("modify_order_items", swap)) == ("availability",)
    assert codes(g, order_env("modify_order_items", {**swap, "new_item_ids": ["S-COF-2"]})) == ()


def test_catalog_price() -> None:
    g = guard("catalog_price")
    assert codes(g, envelope(checkout_args(line("S-COF-2", unit_price="150.50")))) == ()
    # 150.5 in the catalog is 150.50, not 150.5000000000000...
    assert codes(g, envelope(checkout_args(line("S-COF-2", unit_price="150.5")))) == ()
    d = g.check_envelope(envelope(checkout_args(line(unit_price="119.99"))))
    assert d.reasons[0].message == "S-COF-1: the agent says 119.99 USD, the catalog says 120.00 USD"
    d = g.check_envelope(envelope(checkout_args(line(title="Artisanal Coffee Maker"))))
    assert d.reasons[0].message == "S-COF-1: the agent calls it `Artisanal Coffee Maker`, the catalog `Coffee Maker`"
    assert codes(guard("catalog_price", {"compare_title": False}),
                 envelope(checkout_args(line(title="Artisanal Coffee Maker")))) == ()
    d = g.check_envelope(envelope(checkout_args(currency="EUR")))
    assert d.reasons[0].message == "the cart is in EUR; the catalog prices are in USD"
    no_price = facts()
    del no_price["products"]["P-COF"]["variants"]["S-COF-1"]["price"]
    assert codes(g, envelope(checkout_args(), fact_data=no_price)) == ("missing_fact",)


# -- what the user asked for ----------------------------------------------------------------------

ESPRESSO = line("S-ESP-1", "P-ESP", "Espresso Machine", 1, "899.99")


@pytest.mark.parametrize(("params", "request_", "lines", "fires"), [
    ({}, {"product_type": "Coffee Maker"}, [line()], False),
    ({}, {"product_type": "coffee  maker"}, [line()], False),
    ({}, {"product_type": "coffee machine"}, [line()], False),  # a synonym
    ({}, {"product_type": "Coffee Maker"}, [ESPRESSO], True),  # the failure this guard exists to stop
    ({}, {"product_type": "Coffee Maker"}, [line(), ESPRESSO], True),
    ({}, {"category": 736}, [line()], False),  # a taxonomy id naming exactly the product type's node
    ({}, {"category": 736}, [ESPRESSO], True),  # exact: a descendant node is not enough
    ({"match": "within"}, {"category": 736}, [ESPRESSO], False),  # within: a descendant is fine
    ({"match": "within"}, {"category": 736}, [line("S-LAP-1", "P-LAP", "Laptop", 1, "1299.00")], True),
    ({}, {}, [ESPRESSO], False),  # nothing asked for
])
def test_category(params: dict[str, Any], request_: dict[str, Any], lines: list[dict[str, Any]], fires: bool) -> None:
    g = guard("category", params, extra=CATEGORIES)
    d = g.check_envelope(envelope(checkout_args(*lines), request=request_))
    assert d.codes == (("category",) if fires else ())
    if fires:
        assert d.outcome is Outcome.CLARIFY


def test_category_message_names_the_catalog_type_not_the_agents_title() -> None:
    g = guard("category", extra=CATEGORIES)
    lying = line("S-ESP-1", "P-ESP", "Coffee Maker", 1, "899.99")
    d = g.check_envelope(envelope(checkout_args(lying), request={"product_type": "Coffee Maker"}))
    assert d.reasons[0].message == "S-ESP-1 is a `Espresso Machine`; the user asked for `Coffee Maker`"


def test_quantity() -> None:
    g = guard("quantity")
    args = checkout_args(line(quantity=2))
    assert codes(g, envelope(args)) == ()
    assert codes(g, envelope(args, request={"quantity": 2})) == ()
    d = g.check_envelope(envelope(args, request={"quantity": 1}))
    assert (d.outcome, d.reasons[0].message) == (Outcome.CLARIFY, "the cart holds 2 units; the user asked for 1")


@pytest.mark.parametrize(("confidence", "fires"), [(0.8, False), (0.95, False), (0.79, True), (0, True), (None, True)])
def test_ambiguity_confidence_floor(confidence: Any, fires: bool) -> None:
    g = guard("ambiguity", {"min_confidence": 0.8})
    args = checkout_args(confidence=confidence)
    if confidence is None:
        del args["confidence"]
    assert codes(g, envelope(args)) == (("ambiguity",) if fires else ())


def test_ambiguity_alternatives_and_required_options() -> None:
    g = guard("ambiguity", {"max_alternatives": 1})
    assert codes(g, envelope(checkout_args(alternatives=[{"product_id": "P-ESP"}]))) == ()
    two = checkout_args(alternatives=[{"product_id": "P-ESP"}, {"product_id": "P-LAP"}])
    assert g.check_envelope(envelope(two)).reasons[0].message == "the agent weighed 2 other products: the choice is ambiguous"
    g = guard("ambiguity", {"required_options": {"Coffee Maker": ["color"]}})
    d = g.check_envelope(envelope(checkout_args()))
    assert d.reasons[0].message == "the user did not say which color (black, white)"
    assert codes(g, envelope(checkout_args(), request={"options": {"color": "black"}})) == ()
    d = g.check_envelope(envelope(checkout_args(), request={"options": {"color": "white"}}))
    assert d.reasons[0].message == "the user asked for color `white`; S-COF-1 has `black`"


# -- payment --------------------------------------------------------------------------------------------

def test_payment_method() -> None:
    g = guard("payment_method")
    assert codes(g, envelope(checkout_args(pm=PAYPAL))) == ()
    d = g.check_envelope(envelope(checkout_args(pm=BOB_CARD)))
    assert (d.outcome, d.reasons[0].message) == (
        Outcome.ESCALATE, f"payment method `{BOB_CARD}` is not one of user `{USER}`'s")
    # Nobody signed in: the order's owner is the acting user.
    pay = {"order_id": "#W9", "payment_method_id": BOB_CARD}
    assert codes(g, order_env("modify_order_payment", pay, user=None)) == ()
    assert codes(g, envelope(checkout_args(), user=None)) == ("missing_fact",)


def test_balance() -> None:
    g = guard("balance")
    assert codes(g, envelope(checkout_args(line(unit_price="120.00"), pm=CARD))) == ()  # no balance: not judged
    d = g.check_envelope(envelope(checkout_args(pm=GIFT)))  # 120.00 due, 50 on the card
    assert (d.outcome, d.reasons[0].message) == (Outcome.ESCALATE, "`gift_card_1` has a balance of 50.0 but 120.00 is due")
    # Modify payment: the original payment is due.
    assert codes(g, order_env("modify_order_payment", {"order_id": "#W1", "payment_method_id": GIFT})) == ("balance",)
    # Modify items: only a positive difference is due (120.00 -> 150.50: 30.50 <= 50).
    swap = {"order_id": "#W1", "item_ids": ["S-COF-1"], "new_item_ids": ["S-COF-2"], "payment_method_id": GIFT}
    assert codes(g, order_env("modify_order_items", swap)) == ()
    low = facts()
    low["users"][USER]["payment_methods"][GIFT]["balance"] = 20
    assert codes(g, order_env("modify_order_items", swap, fact_data=low)) == ("balance",)


def test_balance_of_a_gift_card_without_a_balance_is_a_missing_fact() -> None:
    # A gift card whose record lost its balance used to skip the check (allow).
    g = guard("balance")
    for hole in ({}, {"balance": None}, {"balance": "lots"}, {"balance": [50]}, {"balance": "NaN"}):
        data = facts()
        card = data["users"][USER]["payment_methods"][GIFT]
        card.pop("balance")
        card.update(hole)
        d = g.check_envelope(envelope(checkout_args(pm=GIFT), fact_data=data))
        assert (d.outcome, d.codes) == (Outcome.ESCALATE, ("missing_fact",)), hole
        assert "`balance`" in d.reasons[0].message


def test_replacement_item_is_looked_up_in_the_product_of_the_item_it_replaces() -> None:
    # Another product lists the same variant id, cheaply: it must not stand in for the real one.
    g = guard("balance")
    data = facts()
    data["products"]["P-ESP"]["variants"]["S-COF-2"] = {"item_id": "S-COF-2", "options": {}, "available": True,
                                                        "price": 1.0}
    data["products"]["P-COF"]["variants"]["S-COF-2"]["price"] = 999.0
    swap = {"order_id": "#W1", "item_ids": ["S-COF-1"], "new_item_ids": ["S-COF-2"], "payment_method_id": GIFT}
    data["products"] = {"P-ESP": data["products"]["P-ESP"], "P-COF": data["products"]["P-COF"]}  # P-ESP first
    assert codes(g, order_env("modify_order_items", swap, fact_data=data)) == ("balance",)
    # A replacement that is a variant of another product only has no trusted price here.
    cross = {**swap, "new_item_ids": ["S-ESP-1"]}
    assert codes(g, order_env("modify_order_items", cross)) == ("missing_fact",)


def test_category_never_falls_back_to_the_agents_title() -> None:
    g = guard("category", extra=CATEGORIES)
    for name in (None, 7, ["Coffee Maker"], {"en": "Coffee Maker"}):
        data = facts()
        if name is None:
            del data["products"]["P-ESP"]["name"]
        else:
            data["products"]["P-ESP"]["name"] = name
        # The agent calls an espresso machine a coffee maker; the catalog record has no usable name.
        env = envelope(checkout_args(line("S-ESP-1", "P-ESP", "Coffee Maker", 1, "899.99")), fact_data=data,
                       request={"product_type": "Coffee Maker"})
        d = g.check_envelope(env)
        assert (d.outcome, d.codes) == (Outcome.ESCALATE, ("missing_fact",)), name


def test_refund_destination() -> None:
    g = guard("refund_destination")
    ret = {"order_id": "#W2", "item_ids": ["S-COF-1"], "payment_method_id": PAYPAL}
    assert codes(g, order_env("return_items", ret)) == ()  # the original method
    assert codes(g, order_env("return_items", {**ret, "payment_method_id": GIFT})) == ()  # a gift card of the user
    d = g.check_envelope(order_env("return_items", {**ret, "payment_method_id": CARD}))
    assert (d.codes, d.reasons[0].message) == (
        ("refund_method",), "refund to `credit_card_1`: neither the original payment method nor one of the user's gift cards")
    strict = guard("refund_destination", {"allow_gift_cards": False})
    assert codes(strict, order_env("return_items", {**ret, "payment_method_id": GIFT})) == ("refund_method",)


# -- orders -------------------------------------------------------------------------------------------

def test_order_exists_and_ownership() -> None:
    cancel = {"order_id": "#W1", "reason": "no longer needed"}
    g = guard("order_exists")
    assert codes(g, order_env("cancel_order", cancel)) == ()
    d = g.check_envelope(order_env("cancel_order", {**cancel, "order_id": "#W404"}))
    assert (d.codes, d.reasons[0].message) == (("unknown_order",), "order `#W404` does not exist")
    g = guard("ownership")
    assert codes(g, order_env("cancel_order", cancel)) == ()
    d = g.check_envelope(order_env("cancel_order", {**cancel, "order_id": "#W9"}))
    assert (d.codes, d.route, d.reasons[0].message) == (
        ("ownership",), "refuse", f"order `#W9` belongs to `{OTHER_USER}`, not to the authenticated user `{USER}`")
    assert codes(g, order_env("cancel_order", {**cancel, "order_id": "#W9"}, user=None)) == ()
    addr = {"user_id": OTHER_USER, "address": ADDRESS}
    assert codes(g, order_env("modify_user_address", addr)) == ("ownership",)


def test_order_status() -> None:
    g = guard("order_status", {"allowed": {"cancel_order": ["pending"], "return_items": ["delivered"]}})
    assert codes(g, order_env("cancel_order", {"order_id": "#W1"})) == ()
    d = g.check_envelope(order_env("cancel_order", {"order_id": "#W2"}))
    assert (d.route, d.reasons[0].message) == ("refuse", "order status is `delivered`; cancel_order needs `pending`")
    d = g.check_envelope(order_env("refund", {"order_id": "#W2", "amount": "1", "currency": "USD",
                                              "payment_method_id": PAYPAL}))
    assert d.reasons[0].message == "order status is `delivered`; refund needs a listed status"


def test_same_product_and_noop() -> None:
    swap = {"order_id": "#W1", "item_ids": ["S-COF-1"], "new_item_ids": ["S-COF-2"], "payment_method_id": CARD}
    g = guard("same_product")
    assert codes(g, order_env("modify_order_items", swap)) == ()
    d = g.check_envelope(order_env("modify_order_items", {**swap, "new_item_ids": ["S-ESP-1"]}))
    assert d.reasons[0].message == "`S-ESP-1` is not a variant of product `P-COF` (the product of `S-COF-1`)"
    g = guard("noop")
    assert codes(g, order_env("modify_order_items", swap)) == ()
    d = g.check_envelope(order_env("modify_order_items", {**swap, "new_item_ids": ["S-COF-1"]}))
    assert (d.outcome, d.reasons[0].message) == (Outcome.CLARIFY, "item S-COF-1 would be replaced by itself")
    assert codes(g, order_env("modify_order_payment", {"order_id": "#W1", "payment_method_id": CARD})) == ("noop",)
    assert codes(g, order_env("modify_order_payment", {"order_id": "#W1", "payment_method_id": PAYPAL})) == ()
    same_address = {"order_id": "#W1", "address": ADDRESS}
    assert codes(g, order_env("modify_order_address", same_address)) == ()  # address: false by default
    assert codes(guard("noop", {"address": True}), order_env("modify_order_address", same_address)) == ("noop",)
    moved = {"order_id": "#W1", "address": {**ADDRESS, "zip": "00000"}}
    assert codes(guard("noop", {"address": True}), order_env("modify_order_address", moved)) == ()


# -- parameters ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("check", "params", "message"), [
    ("price_cap", {"max": {"USD": "1.234"}},
     "t.yaml:19:13: txg-param: rules[0](r).params: amount `1.234` has 3 decimals: the currency allows 2"),
    ("price_cap", {"max": {"ABC": "1"}},
     "t.yaml:19:13: txg-param: rules[0](r).params: unknown currency `'ABC'`: expected an ISO 4217 code such as `USD`"),
])
def test_bad_params_are_located_errors(check: str, params: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError) as info:
        guard(check, params)
    assert [str(d) for d in info.value.diagnostics] == [message]


def test_check_applies_only_to_its_kinds() -> None:
    text = ('apiVersion: txguard/v1\nid: t\nversion: "1"\nrules:\n'
            "  - id: r\n    check: total\n    kinds: [checkout, refund]\n")
    with pytest.raises(PolicyError) as info:
        Guard.from_text(text, file="t.yaml")
    assert str(info.value) == ("t.yaml:7:12: txg-param: rules[0](r).kinds: check `total` does not apply to refund "
                               "(it applies to: checkout)")


def test_a_decision_is_a_decision_even_for_a_clarify_check() -> None:
    d: Decision = guard("quantity").check_envelope(envelope(checkout_args(), request={"quantity": 3}))
    assert d.outcome is Outcome.CLARIFY and d.route is None and len(d.questions) == 1
