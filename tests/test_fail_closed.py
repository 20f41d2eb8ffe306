"""Fail-closed corners found in review: each test fails if its fix is removed."""

from __future__ import annotations

import decimal
from datetime import datetime
from typing import Any

import pytest

from txguard import Guard, Outcome, compile_policy
from txguard.integrations.guarded import render_confirmation
from txguard.audit import MemorySink
from txguard.sessions import open_store

from .helpers import PAYPAL, RETAIL, USER, checkout_args, envelope, facts, line


def _broken_clock() -> datetime:
    raise RuntimeError("clock down")


@pytest.mark.parametrize("layers", [(), ("audit",), ("sessions",), ("audit", "sessions")])
def test_a_raising_clock_escalates_and_is_recorded_whatever_the_layers(layers: tuple[str, ...]) -> None:
    sink = MemorySink()
    kw: dict[str, Any] = {}
    if "audit" in layers:
        kw["audit"] = sink
    if "sessions" in layers:
        kw["sessions"] = open_store("memory:")
    guard = Guard.from_file(RETAIL, clock=_broken_clock, **kw)
    env = envelope(checkout_args())
    env["session"]["id"] = "conv-1"
    decision = guard.check_envelope(env)
    assert decision.outcome is Outcome.ESCALATE
    assert decision.codes == ("internal_error",)
    if "audit" in layers:
        assert len(list(sink.records())) == 1


def test_the_callers_decimal_context_does_not_change_a_decision() -> None:
    guard = Guard.from_file(RETAIL)
    data = facts()
    data["products"]["P-COF"]["variants"]["S-COF-1"]["price"] = 120.01
    # 3 x 120.01 = 360.03, over a 360.00 budget; with 3 significant digits it would round to 360.
    env = envelope(checkout_args(line(quantity=3, unit_price="120.01")), fact_data=data,
                   request={"budget": "360.00", "quantity": 3, "product_type": "Coffee Maker"})
    expected = guard.check_envelope(env)
    assert expected.codes == ("budget",)
    with decimal.localcontext() as ctx:
        ctx.prec = 3
        assert guard.check_envelope(env) == expected


def test_an_empty_user_id_is_not_an_authenticated_user() -> None:
    guard = Guard.from_file(RETAIL)
    env = envelope(checkout_args())
    env["session"]["authenticated_user_id"] = ""
    decision = guard.check_envelope(env)
    assert decision.outcome is Outcome.ESCALATE and decision.codes == ("malformed_context",)


def test_availability_wants_true_not_a_truthy_string() -> None:
    data = facts()
    data["products"]["P-COF"]["variants"]["S-COF-1"]["available"] = "false"
    decision = Guard.from_file(RETAIL).check_envelope(envelope(checkout_args(), fact_data=data))
    # A flag that is not a boolean is a hole in the record: missing_fact, never "available".
    assert decision.codes == ("missing_fact",) and decision.outcome is Outcome.ESCALATE
    assert decision.reasons[0].rule == "availability"


def test_a_negative_catalog_price_is_not_a_price() -> None:
    data = facts()
    data["products"]["P-COF"]["variants"]["S-COF-1"]["price"] = -120.0
    decision = Guard.from_file(RETAIL).check_envelope(envelope(checkout_args(), fact_data=data))
    assert decision.outcome is Outcome.ESCALATE and "missing_fact" in decision.codes


POLICY = """\
apiVersion: txguard/v1
id: fx
version: 1
currency: USD
tools:
  checkout: {intent: checkout}
  buy:
    intent: checkout
    fields: {total: cart.total, currency: cart.currency, items: cart.items, payment_method_id: cart.pm, confidence: cart.confidence}
defaults: {checkout: allow}
rules:
  - {id: cap, check: price_cap, params: {max: {USD: "1000.00", JPY: "150000"}}}
  - {id: balance, check: balance}
  - id: unsure
    kinds: [checkout]
    when: {path: intent.confidence, lt: "0.5"}
    outcome: clarify
"""


def test_a_foreign_currency_cart_is_never_compared_with_catalog_prices() -> None:
    guard = Guard(compile_policy(POLICY))
    # 2 x 120 USD in the catalog; the cart says 1000 JPY: the cap is judged on JPY alone.
    args = checkout_args(line(quantity=2, unit_price="500"), currency="JPY", pm=PAYPAL)
    decision = guard.check({"name": "checkout", "arguments": args},
                           session={"authenticated_user_id": USER}, facts=facts())
    assert decision.outcome is Outcome.ALLOW
    # A gift card balance (kept in USD) cannot be compared with a JPY amount: escalate.
    args = checkout_args(line(quantity=2, unit_price="500"), currency="JPY", pm="gift_card_1")
    decision = guard.check({"name": "checkout", "arguments": args},
                           session={"authenticated_user_id": USER}, facts=facts())
    assert decision.outcome is Outcome.ESCALATE and decision.codes == ("check_error",)


def test_an_ordering_comparison_on_a_missing_value_follows_on_missing() -> None:
    guard = Guard(compile_policy(POLICY))
    args = checkout_args(confidence=None)
    del args["confidence"]
    decision = guard.check({"name": "checkout", "arguments": args},
                           session={"authenticated_user_id": USER}, facts=facts())
    assert decision.outcome is Outcome.ESCALATE and decision.codes == ("missing_fact",)
    quiet = Guard(compile_policy(POLICY.replace('lt: "0.5"}', 'lt: "0.5", on_missing: false}')))
    decision = quiet.check({"name": "checkout", "arguments": args},
                           session={"authenticated_user_id": USER}, facts=facts())
    assert decision.outcome is Outcome.ALLOW


def test_keys_beside_a_mapped_nested_argument_are_not_dropped() -> None:
    guard = Guard(compile_policy(POLICY))
    cart = {"total": "120.00", "currency": "USD", "pm": "credit_card_1", "items": [line()], "confidence": 0.9}
    ok = guard.check({"name": "buy", "arguments": {"cart": cart}}, session={"authenticated_user_id": USER},
                     facts=facts())
    assert ok.outcome is Outcome.ALLOW
    sneaky = guard.check({"name": "buy", "arguments": {"cart": {**cart, "extra_charge": "999.00"}}},
                         session={"authenticated_user_id": USER}, facts=facts())
    assert sneaky.outcome is Outcome.ESCALATE
    assert sneaky.reasons[0].message == "argument `cart.extra_charge` is not mapped to any field of the intent"


def test_a_guarded_function_is_decided_with_its_defaults() -> None:
    guard = Guard.from_file(RETAIL)
    seen: list[dict[str, Any]] = []
    context = {"session": {"authenticated_user_id": USER, "confirmed": [{"name": "checkout", "arguments": checkout_args()}]},
               "facts": facts()}

    def checkout(items: Any, currency: str, total: str, payment_method_id: str, confidence: float,
                 merchant: str = "other-shop") -> str:
        seen.append({"merchant": merchant})
        return "placed"

    tool = guard.wrap(checkout, tool="checkout", context=context)
    result = tool(**checkout_args())
    # The user confirmed a checkout without a merchant; the function would run for `other-shop`.
    assert result != "placed" and seen == []


def test_the_confirmation_screen_shows_the_bound_shipping_address() -> None:
    guard = Guard.from_file(RETAIL)
    address = {"address1": "1 Main St", "city": "Springfield", "state": "IL", "country": "USA", "zip": "62701"}
    args = checkout_args(shipping_address=address)
    decision = guard.check_envelope(envelope(args, confirm=False))
    assert decision.confirmation is not None
    assert "Ship to: 1 Main St, Springfield, IL, 62701, USA" in render_confirmation(decision.confirmation)


@pytest.mark.parametrize("field", ["total", "unit_price", "confidence"])
def test_a_deeply_nested_amount_is_malformed_not_a_guard_failure(field: str) -> None:
    # Found by scripts/fuzz_check.py: the error message's repr of a value nested 3000 deep raised
    # RecursionError inside validation, and the decision was `internal_error`.
    deep: Any = "1"
    for _ in range(3000):
        deep = [deep]
    args = checkout_args(line(unit_price=deep) if field == "unit_price" else line(), total="120.00")
    if field != "unit_price":
        args[field] = deep
    d = Guard.from_file(RETAIL).check({"name": "checkout", "arguments": args}, None, {"authenticated_user_id": USER}, facts())
    assert (d.outcome, d.codes) == (Outcome.ESCALATE, ("malformed",))


@pytest.mark.parametrize("session", [0, -0.0, "", [], False])
def test_a_falsy_session_is_malformed_with_a_session_store_too(session: Any) -> None:
    # Found by scripts/fuzz_check.py: the session layer read `session or {}`, so a falsy value
    # that is not a session was decided as an empty session instead of malformed_context.
    text = (RETAIL.parent / "retail-session.yaml").read_text(encoding="utf-8")
    guard = Guard(compile_policy(text, str(RETAIL.parent / "retail-session.yaml"), RETAIL.parent),
                  sessions=open_store("memory:"))
    d = guard.check({"name": "checkout", "arguments": checkout_args()}, None, session, facts())
    assert d.outcome is Outcome.ESCALATE
    assert "malformed_context" in d.codes


def test_keys_beside_a_list_mapped_from_a_nested_argument_are_not_dropped() -> None:
    # A list mapping reads `cart.lines` with `from`: a key beside it under `cart` must not be dropped
    # silently either (it was, while only plain string sources were checked for leftovers).
    policy = POLICY.replace("items: cart.items,", "items: {from: cart.lines},")
    guard = Guard(compile_policy(policy))
    cart = {"total": "120.00", "currency": "USD", "pm": "credit_card_1", "lines": [line()], "confidence": 0.9}
    ok = guard.check({"name": "buy", "arguments": {"cart": cart}}, session={"authenticated_user_id": USER},
                     facts=facts())
    assert ok.outcome is Outcome.ALLOW
    sneaky = guard.check({"name": "buy", "arguments": {"cart": {**cart, "coupon": "FREE"}}},
                         session={"authenticated_user_id": USER}, facts=facts())
    assert sneaky.outcome is Outcome.ESCALATE
    assert sneaky.reasons[0].message == "argument `cart.coupon` is not mapped to any field of the intent"
