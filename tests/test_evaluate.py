"""Evaluation fails closed: every problem is an escalate with a reason code, never an exception."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from txguard import (
    CompiledPolicy,
    ENGINE_CODES,
    Checkout,
    Confirmed,
    Decision,
    Facts,
    Guard,
    Outcome,
    Proposal,
    Request,
    Session,
    compile_file,
    intent_digest,
)
from txguard.checks.spec import CHECKS
from txguard.core.intents import INTENT_KINDS

from .helpers import ORDER_POLICY, POLICIES, RETAIL, USER, checkout_args, envelope, facts, line

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def _retail_policy() -> CompiledPolicy:
    return compile_file(RETAIL)


@pytest.fixture
def retail(_retail_policy: CompiledPolicy) -> Guard:
    """Each test's own guard: its single-use ledger is not shared with another test."""
    return Guard(_retail_policy, clock=lambda: NOW)


def only(d: Decision) -> tuple[Outcome, tuple[str, ...], str | None]:
    return d.outcome, d.codes, d.route


def test_engine_codes_are_documented() -> None:
    readme = (RETAIL.parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme.split("### Reason codes of the engine", 1)[1].split("\n\n", 2)[1]
    documented = {line.split("`")[1] for line in table.splitlines() if line.startswith("| `")}
    assert documented == set(ENGINE_CODES)
    assert {"malformed", "unknown_tool", "missing_fact", "check_error", "internal_error"} <= set(ENGINE_CODES)
    assert all(text and not text.endswith(".") for text in ENGINE_CODES.values())


def test_a_clean_confirmed_checkout_is_allowed(retail: Guard) -> None:
    d = retail.check_envelope(envelope(checkout_args()))
    assert only(d) == (Outcome.ALLOW, (), None)
    assert d.questions == () and d.confirmation is None
    assert d.kind == "checkout" and isinstance(d.intent, Checkout)
    assert d.elapsed_us > 0


def test_unknown_tool(retail: Guard) -> None:
    d = retail.check({"name": "wire_money", "arguments": {}})
    assert only(d) == (Outcome.ESCALATE, ("unknown_tool",), "refuse")
    assert d.reasons[0].rule == "txguard:unknown_tool"
    assert d.reasons[0].message == "tool `wire_money` is not mapped by policy `retail`"


@pytest.mark.parametrize("cut", [1, 10, 50, -1, -2])
def test_truncated_json_string_arguments(retail: Guard, cut: int) -> None:
    text = json.dumps(checkout_args())
    d = retail.check_envelope(envelope(text[:cut]))
    assert only(d) == (Outcome.ESCALATE, ("malformed",), "refuse")
    assert d.reasons[0].message.startswith("arguments are not valid JSON (")


def test_json_string_arguments_are_decided_like_a_dict(retail: Guard) -> None:
    text = json.dumps(checkout_args())
    env = envelope(text)  # the user confirmed the very same string
    assert retail.check_envelope(env).allowed
    # A dict proposal confirmed as a string is the same intent: consent binds fields, not text.
    env["session"]["confirmed"] = [{"name": "checkout", "arguments": checkout_args()}]
    assert retail.independent().check_envelope(env).allowed  # the first confirmation was used above


@pytest.mark.parametrize(("proposal", "message"), [
    (None, "the proposal is not `{name, arguments}`"),
    ("checkout", "the proposal is not `{name, arguments}`"),
    ({"name": 3}, "the proposal is not `{name, arguments}`"),
    ({"name": "checkout", "arguments": {}, "extra": 1}, "the proposal is not `{name, arguments}`"),
    ({"name": "checkout", "arguments": []}, "arguments must be a JSON object, got list"),
    ({"name": "checkout", "arguments": "null"}, "arguments must be a JSON object, got NoneType"),
    ({"name": "checkout", "arguments": "[" * 100_000}, "arguments are not valid JSON"),
    ({"name": "checkout", "arguments": b"\xff"}, "arguments are not valid JSON"),
])
def test_malformed_proposals(retail: Guard, proposal: Any, message: str) -> None:
    d = retail.check(proposal)
    assert only(d) == (Outcome.ESCALATE, ("malformed",), "refuse")
    assert d.reasons[0].message.startswith(message)


@pytest.mark.parametrize("change", [
    {"total": 120.001}, {"total": "NaN"}, {"total": "1e3"}, {"total": "-120.00"}, {"currency": "XYZ"},
    {"confidence": "high"}, {"confidence": 1.01}, {"items": []}, {"items": [{"sku": "S-COF-1"}]},
])
def test_invalid_checkouts_are_malformed(retail: Guard, change: dict[str, Any]) -> None:
    d = retail.check_envelope(envelope({**checkout_args(), **change}))
    assert only(d) == (Outcome.ESCALATE, ("malformed",), "refuse")


@pytest.mark.parametrize(("part", "value", "message"), [
    ("request", 3, "request: Input should be a valid dictionary or instance of Request, got `3`"),
    ("request", {"budget": -12.5}, "request.budget: amount `-12.5` is negative"),
    ("request", {"quantity": 0}, "request.quantity: Input should be greater than or equal to 1, got `0`"),
    ("request", {"colour": "red"}, "request.colour: unexpected field"),
    ("session", "alice", "session: Input should be a valid dictionary or instance of Session, got `alice`"),
    ("session", {"confirmed": 1}, "session.confirmed: Input should be a valid tuple, got `1`"),
    ("session", {"authenticated_user_id": 7}, "session.authenticated_user_id: Input should be a valid string, got `7`"),
    ("session", {"confirmed": [{"digest": "x", "expires_at": "2026-01-01T00:00:00"}]},
     "session.confirmed[0]: `expires_at` must carry a timezone"),
    ("facts", [], "facts must be a mapping of collections, got list"),
    ("facts", {"users": "u1"}, "facts.users must be a mapping of records, got str"),
])
def test_malformed_context_names_the_field_and_what_was_expected(retail: Guard, part: str, value: Any,
                                                                 message: str) -> None:
    env = envelope(checkout_args())
    env[part] = value
    d = retail.check_envelope(env)
    assert only(d) == (Outcome.ESCALATE, ("malformed_context",), "human")
    assert d.kind == "checkout"
    assert d.reasons[0].message == message


def test_missing_fact_escalates_to_a_human(retail: Guard) -> None:
    d = retail.check_envelope(envelope(checkout_args(), fact_data=facts(users={})))
    assert d.outcome is Outcome.ESCALATE and d.route == "human"
    assert set(d.codes) == {"missing_fact"}
    # payment_method provides `method`: the balance rule, which needs it, is not judged again.
    assert {r.rule for r in d.reasons} == {"payment-method"}
    assert d.reasons[0].message == f"user `{USER}` is not in facts.users"


def test_an_exception_inside_a_check_is_check_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(ctx: Any, params: Any) -> str | None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setitem(CHECKS, "quantity", dataclasses.replace(CHECKS["quantity"], fn=boom))
    guard = Guard.from_file(RETAIL)
    d = guard.check_envelope(envelope(checkout_args()))
    assert only(d) == (Outcome.ESCALATE, ("check_error",), "human")
    assert (d.reasons[0].rule, d.reasons[0].message) == ("quantity", "ZeroDivisionError: division by zero")


def test_corrupt_facts_inside_a_check_are_missing_facts(retail: Guard) -> None:
    # A price that is not a number is a hole in the record: every rule that needs it escalates
    # with missing_fact (it used to be a check_error of whichever check tripped on it).
    f = facts()
    f["products"]["P-COF"]["variants"]["S-COF-1"]["price"] = "twelve"
    d = retail.check_envelope(envelope(checkout_args(), fact_data=f))
    assert d.outcome is Outcome.ESCALATE
    assert set(d.codes) == {"missing_fact"}
    assert all("`price` is not a valid amount" in r.message for r in d.reasons)


def test_a_failed_precondition_skips_the_checks_that_need_it(retail: Guard) -> None:
    d = retail.check_envelope(envelope(checkout_args(line(sku="S-NOPE"))))
    # availability and catalog_price need every line to be a catalog variant: not judged again.
    assert d.codes == ("unknown_item",)
    orders = Guard.from_text(ORDER_POLICY)
    d = orders.check_envelope(envelope({"order_id": "#W404"}, name="cancel_pending_order"))
    assert d.codes == ("unknown_order",)  # ownership needs the order


def test_internal_error_never_escapes() -> None:
    def broken_clock() -> datetime:
        raise RuntimeError("kaboom")

    guard = Guard.from_file(RETAIL, clock=broken_clock)
    d = guard.check_envelope(envelope(checkout_args()))
    assert only(d) == (Outcome.ESCALATE, ("internal_error",), "human")
    assert d.reasons[0].message == "RuntimeError: kaboom"


# -- defaults ------------------------------------------------------------------------------------

DEFAULTS = """\
apiVersion: txguard/v1
id: d
version: "1"
tools:
  cancel: {intent: cancel_order}
  refund: {intent: refund}
  addr: {intent: modify_user_address}
defaults: {cancel_order: allow, refund: clarify}
"""


def test_default_outcomes_when_no_rule_fires() -> None:
    g = Guard.from_text(DEFAULTS)
    assert g.check({"name": "cancel", "arguments": {"order_id": "#W1"}}).allowed
    d = g.check({"name": "refund", "arguments": {"order_id": "#W1", "amount": "5", "currency": "USD",
                                                 "payment_method_id": "pm"}})
    assert only(d) == (Outcome.CLARIFY, ("default_outcome",), None)
    assert d.reasons[0].rule == "defaults.refund"
    assert [q.code for q in d.questions] == ["default_outcome"]
    assert d.confirmation is not None and d.confirmation.digest == intent_digest(d.intent)
    d = g.check({"name": "addr", "arguments": {"user_id": "u", "address": {"address1": "a", "city": "c",
                                                                           "state": "s", "country": "x", "zip": "z"}}})
    assert only(d) == (Outcome.ESCALATE, ("default_outcome",), "human")
    assert d.reasons[0].message == "the policy's default for `modify_user_address` is `escalate` and no rule fired"


def test_a_validated_intent_can_be_checked_directly(retail: Guard) -> None:
    intent = Checkout.model_validate(checkout_args())
    d = retail.check(intent, session={"authenticated_user_id": USER, "confirmed": [{"digest": intent_digest(intent)}]},
                     facts=facts())
    assert d.allowed
    # retail.yaml says nothing about cancel_order: escalate, whatever its rules say.
    from txguard import CancelOrder

    d = retail.check(CancelOrder(order_id="#W1"), session={"authenticated_user_id": USER,
                                                          "confirmed": [{"digest": intent_digest(CancelOrder(order_id="#W1"))}]})
    assert only(d) == (Outcome.ESCALATE, ("default_outcome",), "human")
    # Unauthenticated, the authentication rule fires (clarify), and the default still floors it.
    d = retail.check(CancelOrder(order_id="#W1"))
    assert d.outcome is Outcome.ESCALATE
    assert d.codes == ("default_outcome", "authentication", "consent")


# -- routes, order, shape ------------------------------------------------------------------------------

def test_route_is_refuse_when_any_refusing_rule_fired() -> None:
    orders = Guard.from_text(ORDER_POLICY)
    d = orders.check_envelope(envelope({"order_id": "#W9"}, name="cancel_pending_order", confirm=False))
    assert d.outcome is Outcome.ESCALATE
    assert d.codes == ("ownership", "consent")  # escalations first, then by rule id
    assert d.route == "refuse"
    assert d.questions == () and d.confirmation is None  # an escalate asks nothing


def test_reasons_are_ordered_by_severity_then_rule_id(retail: Guard) -> None:
    env = envelope(checkout_args(line(quantity=2, unit_price="1.00"), confidence=0.5), confirm=False, user=None,
                   request={"quantity": 1, "budget": "10"})
    env["session"]["authenticated_user_id"] = USER
    d = retail.check_envelope(env)
    ranks = [r.outcome.rank for r in d.reasons]
    assert ranks == sorted(ranks, reverse=True)
    for outcome in (Outcome.ESCALATE, Outcome.CLARIFY):
        ids = [r.rule for r in d.reasons if r.outcome is outcome]
        assert ids == sorted(ids)


def test_clarify_carries_deduplicated_questions_and_the_confirmation(retail: Guard) -> None:
    env = envelope(checkout_args(line(quantity=2)), confirm=False, request={"quantity": 1})
    d = retail.check_envelope(env)
    assert d.outcome is Outcome.CLARIFY and d.route is None
    assert [q.code for q in d.questions] == ["consent", "quantity"]
    c = d.confirmation
    assert c is not None and c.digest == intent_digest(d.intent)
    assert c.to_dict() == {
        "kind": "checkout", "digest": c.digest,
        "lines": [{"sku": "S-COF-1", "title": "Coffee Maker", "quantity": 2, "unit_price": "120.00"}],
        "total": "240.00", "currency": "USD", "payment_method_id": "credit_card_1", "merchant": None,
        "summary": c.summary,
    }


def test_a_clarify_without_consent_has_no_confirmation(retail: Guard) -> None:
    d = retail.check_envelope(envelope(checkout_args(), request={"quantity": 3}))
    assert d.codes == ("quantity",) and d.confirmation is None


# -- consent and the clock --------------------------------------------------------------------------

def test_confirmation_by_digest_and_expiry() -> None:
    intent = Checkout.model_validate(checkout_args())
    later = NOW + timedelta(minutes=5)
    times = iter([NOW, later])
    guard = Guard.from_file(RETAIL, clock=lambda: next(times))
    env = envelope(checkout_args(), confirm=False)
    env["session"]["confirmed"] = [{"digest": intent_digest(intent), "expires_at": (NOW + timedelta(minutes=1)).isoformat()}]
    assert guard.check_envelope(env).allowed
    d = guard.check_envelope(env)
    assert d.codes == ("consent",)
    assert d.reasons[0].message == "the user's confirmation has expired"


def test_a_changed_proposal_names_the_changed_fields(retail: Guard) -> None:
    env = envelope(checkout_args(line(quantity=2)))
    env["proposal"]["arguments"] = checkout_args(line(quantity=3))
    d = retail.check_envelope(env)
    assert "consent" in d.codes
    consent = next(r for r in d.reasons if r.code == "consent")
    assert consent.message == "the user confirmed a different checkout: items, total changed"


def test_typed_context_objects_are_accepted(retail: Guard) -> None:
    args = checkout_args()
    d = retail.check(Proposal(name="checkout", arguments=args), Request(quantity=1),
                     Session(authenticated_user_id=USER, confirmed=(Confirmed(name="checkout", arguments=args),)),
                     Facts(facts()))
    assert d.allowed


def test_equal_inputs_give_equal_decisions(retail: Guard) -> None:
    env = envelope(checkout_args(line(quantity=2)), confirm=False, request={"quantity": 1})
    a, b = retail.check_envelope(env), retail.check_envelope(json.loads(json.dumps(env)))
    assert a == b  # timing is not part of the decision
    assert a.to_dict() | {"elapsed_us": 0} == b.to_dict() | {"elapsed_us": 0}


def test_every_kind_has_an_index_entry() -> None:
    policy = Guard.from_file(RETAIL).policy
    assert set(INTENT_KINDS) | {"read"} == set(policy.by_kind)
    assert POLICIES.is_dir()


def test_engine_codes_are_one_table_with_a_typed_name() -> None:
    from typing import get_args

    from txguard.engine.codes import EngineCode, engine_code

    assert get_args(EngineCode) == tuple(ENGINE_CODES)
    assert engine_code("unknown_tool") == "unknown_tool"
    with pytest.raises(ValueError, match="`nope` is not an engine reason code"):
        engine_code("nope")
