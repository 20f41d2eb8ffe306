"""Invariant 8, shape: every clarify has a question; every escalate has a route and a reason; a
consent clarify carries the confirmation request of exactly the proposed intent."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from txguard import Decision, Guard, Outcome, intent_digest

from ..helpers import ORDER_POLICY, RETAIL, envelope
from .strategies import corpus_envelopes, json_values

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RETAIL_GUARD = Guard.from_file(RETAIL)
ORDERS = Guard.from_text(ORDER_POLICY)


def assert_shape(d: Decision) -> None:
    if d.outcome is Outcome.ALLOW:
        assert d.reasons == () and d.questions == () and d.route is None and d.confirmation is None
    elif d.outcome is Outcome.CLARIFY:
        assert len(d.questions) >= 1
        assert all(q.text for q in d.questions)
        assert len({q.code for q in d.questions}) == len(d.questions)
        assert d.route is None
        assert d.reasons and all(r.outcome is not Outcome.ESCALATE for r in d.reasons)
    else:
        assert d.route in ("human", "refuse")
        assert len(d.reasons) >= 1
        assert d.questions == () and d.confirmation is None
    if d.reasons:
        assert max(r.outcome.rank for r in d.reasons) == d.outcome.rank
        assert all(r.rule and r.code and r.message for r in d.reasons)
    if d.outcome is Outcome.CLARIFY and "consent" in d.codes:
        assert d.confirmation is not None
        assert d.confirmation.digest == intent_digest(d.intent)
        assert d.confirmation.kind == d.kind


field_names = st.sampled_from(["total", "currency", "payment_method_id", "confidence", "items", "merchant"])
line_fields = st.sampled_from(["sku", "product_id", "title", "quantity", "unit_price"])
context_keys = st.sampled_from(["authenticated_user_id", "budget", "quantity", "product_type"])


@SETTINGS
@given(env=corpus_envelopes, field=field_names, line_field=line_fields, value=json_values,
       where=st.sampled_from(["argument", "line", "request", "session", "none"]), drop_consent=st.booleans())
def test_decisions_have_their_shape(env: dict[str, Any], field: str, line_field: str, value: Any, where: str,
                                    drop_consent: bool) -> None:
    args = env["proposal"]["arguments"]
    if where == "argument" and isinstance(args, dict):
        args[field] = value
    elif where == "line" and isinstance(args, dict) and isinstance(args.get("items"), list) and args["items"]:
        if isinstance(args["items"][0], dict):
            args["items"][0][line_field] = value
    elif where == "request":
        env.setdefault("request", {})["budget" if field == "total" else "quantity"] = value
    elif where == "session":
        env["session"]["authenticated_user_id"] = value
    if drop_consent:
        env["session"]["confirmed"] = []
    assert_shape(RETAIL_GUARD.independent().check_envelope(env))


@SETTINGS
@given(name=st.sampled_from(["cancel_pending_order", "modify_pending_order_payment", "return_delivered_order_items"]),
       order_id=st.sampled_from(["#W1", "#W2", "#W9", "#W404"]), user=st.sampled_from(["alice_1", "bob_2", None]),
       confirm=st.booleans())
def test_order_decisions_have_their_shape(name: str, order_id: str, user: str | None, confirm: bool) -> None:
    args = {"order_id": order_id, "payment_method_id": "paypal_1", "item_ids": ["S-COF-1"]}
    if name == "cancel_pending_order":
        args = {"order_id": order_id}
    elif name == "modify_pending_order_payment":
        del args["item_ids"]
    assert_shape(ORDERS.independent().check_envelope(envelope(args, name=name, confirm=confirm, user=user)))
