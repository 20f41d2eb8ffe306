"""Session rules, budgets and single-use confirmations through ``Guard.check``, on every store."""

from __future__ import annotations

from typing import Any

import pytest

from txguard import Guard, Outcome
from txguard.sessions import MemoryStore, open_store

from .helpers import Clock, checkout, policy, session
from .rete import require_durable_rules

EVALUATORS = ["txguard", "durable_rules"]


@pytest.fixture(autouse=True)
def _rete_if_needed(request: Any) -> None:
    if "durable_rules" in request.node.name:
        require_durable_rules()

RULES = """  rules:
    - id: clarify-loop
      count: {where: {outcome: clarify}, in_a_row: true, at_least: 3}
      message: "the agent keeps asking: {detail}"
    - id: checkout-velocity
      count: {where: {kind: checkout}, within: 3m, at_least: 5}
    - id: payment-method-hopping
      distinct: {field: payment_method, where: {kind: checkout}, within: 1h, at_least: 3}
      outcome: clarify
      question: Which card do you want to use?
    - id: cart-changed
      sequence: {pattern: changed_after_confirmation, within: 1h}
    - id: retry-after-escalation
      sequence: {pattern: retry_after_escalation, within: 10m}
      route: refuse
    - id: spend-creep
      sum: {field: amount, where: {kind: checkout, outcome: allow}, currency: USD, within: 24h, more_than: "1000.00"}
"""


def only(*ids: str) -> str:
    """The session section with only the named rules of RULES."""
    blocks = RULES.split("    - id: ")
    return blocks[0] + "".join("    - id: " + b for b in blocks[1:] if b.split("\n")[0] in ids)


def guard(store: Any, clock: Clock, session_yaml: str = RULES, evaluator: str = "txguard") -> Guard:
    return Guard.from_text(policy(session_yaml), clock=clock, sessions=store, session_evaluator=evaluator)


@pytest.mark.parametrize("evaluator", EVALUATORS)
def test_clarifications_in_a_row_escalate_on_the_third(store: Any, evaluator: str) -> None:
    clock = Clock()
    g = guard(store, clock, only("clarify-loop"), evaluator=evaluator)
    outcomes = []
    for turn in range(3):
        clock.advance(seconds=20)
        d = g.check(checkout("10.00"), session=session("conv-a", turn=turn))  # never confirmed: clarify
        outcomes.append((d.outcome, d.codes))
        last = d
    assert outcomes[0] == (Outcome.CLARIFY, ("consent",))
    assert outcomes[1] == (Outcome.CLARIFY, ("consent",))
    assert outcomes[2][0] is Outcome.ESCALATE
    assert outcomes[2][1] == ("clarify_loop", "consent")
    assert last.reasons[0].message == "the agent keeps asking: 3 matching events in a row (the rule fires at 3)"
    # the escalation is logged with its final outcome: the run of clarifications is broken
    assert g.check(checkout("10.00"), session=session("conv-a")).codes == ("consent",)


@pytest.mark.parametrize("evaluator", EVALUATORS)
def test_five_checkouts_in_three_minutes_escalate_and_the_window_slides(store: Any, evaluator: str) -> None:
    clock = Clock()
    g = guard(store, clock, only("checkout-velocity"), evaluator=evaluator)
    out = []
    for i in range(5):
        clock.advance(seconds=30)
        c = checkout("10.00", sku=f"s{i}")
        out.append(g.check(c, session=session("conv-v", c)).codes)
    assert out[:4] == [()] * 4
    assert out[4] == ("checkout_velocity",)
    clock.advance(minutes=3)
    c = checkout("10.00", sku="later")
    assert g.check(c, session=session("conv-v", c)).outcome is Outcome.ALLOW


@pytest.mark.parametrize("evaluator", EVALUATORS)
def test_a_third_payment_method_asks_which_card(store: Any, evaluator: str) -> None:
    clock = Clock()
    g = guard(store, clock, evaluator=evaluator)
    for pm in ("card_1", "card_2"):
        clock.advance(minutes=1)
        c = checkout("10.00", pm=pm)
        assert g.check(c, session=session("conv-p", c)).allowed
    clock.advance(minutes=1)
    c = checkout("10.00", pm="card_3")
    d = g.check(c, session=session("conv-p", c))
    assert d.outcome is Outcome.CLARIFY
    assert d.codes == ("payment_method_hopping",)
    assert [q.text for q in d.questions] == ["Which card do you want to use?"]
    assert d.confirmation is not None and d.confirmation.payment_method_id == "card_3"


@pytest.mark.parametrize("evaluator", EVALUATORS)
def test_a_checkout_after_a_confirmation_of_another_cart_escalates(store: Any, evaluator: str) -> None:
    clock = Clock()
    g = guard(store, clock, evaluator=evaluator)
    confirmed = checkout("10.00", sku="A")
    assert g.check(checkout("10.00", sku="A"), session=session("conv-c", confirmed)).allowed
    clock.advance(minutes=1)
    changed = checkout("10.00", sku="B")
    # The host (wrongly) also lists the changed cart as confirmed, but the log saw cart A confirmed
    # first and cart B only now: the latest confirmation is B's, so B is fine ...
    d = g.check(changed, session=session("conv-c", confirmed, changed))
    assert d.allowed
    # ... while going back to cart A after the user confirmed B is a changed cart.
    clock.advance(minutes=1)
    d = g.check(confirmed, session=session("conv-c", confirmed, changed))
    assert d.outcome is Outcome.ESCALATE and d.codes == ("cart_changed",)


@pytest.mark.parametrize("evaluator", EVALUATORS)
def test_a_retry_right_after_an_escalation_is_refused(store: Any, evaluator: str) -> None:
    clock = Clock()
    g = guard(store, clock, evaluator=evaluator)
    big = checkout("6000.00")
    assert g.check(big, session=session("conv-r", big)).codes == ("big",)
    clock.advance(minutes=1)
    small = checkout("20.00")
    d = g.check(small, session=session("conv-r", small))
    assert d.codes == ("retry_after_escalation",) and d.route == "refuse"
    clock.advance(minutes=11)
    other = checkout("21.00")
    # the previous decision (the retry) was itself escalated, but more than 10 minutes ago
    assert g.check(other, session=session("conv-r", other)).allowed


@pytest.mark.parametrize("evaluator", EVALUATORS)
def test_spend_creeping_past_a_window_total_escalates(store: Any, evaluator: str) -> None:
    clock = Clock()
    g = guard(store, clock, only("spend-creep"), evaluator=evaluator)
    codes = []
    for i in range(5):
        clock.advance(hours=1)
        c = checkout("250.00", sku=f"s{i}")
        codes.append(g.check(c, session=session("conv-s", c)).codes)
    assert codes == [(), (), (), (), ("spend_creep",)]
    d = g.check(checkout("250.00", sku="s4"), session=session("conv-s", checkout("250.00", sku="s4")))
    assert "1250.00 USD of `amount` within 24h, more than 1000.00" in d.reasons[0].message


BUDGETS = """  budgets:
    - {id: user-daily, amount: "300.00", currency: USD, window: 1d, scope: user}
    - {id: per-conversation, amount: "1000.00", currency: USD, scope: session}
    - {id: per-merchant, amount: "2000.00", currency: USD, window: 1d, scope: merchant}
"""


def test_a_daily_user_budget_stops_small_purchases_and_resets_the_next_day(store: Any) -> None:
    clock = Clock()
    g = guard(store, clock, BUDGETS)
    got = []
    for i in range(4):
        clock.advance(minutes=5)
        c = checkout("100.00", sku=f"s{i}")
        got.append((g.check(c, session=session(f"conv-{i % 2}", c)).outcome, i))
    assert [o for o, _ in got] == [Outcome.ALLOW] * 3 + [Outcome.ESCALATE]
    c = checkout("100.00", sku="x")
    d = g.check(c, session=session("conv-9", c))
    assert d.codes == ("budget_exceeded",) and d.reasons[0].rule == "budgets.user-daily"
    other_user = g.check(c, session=session("conv-8", c, user="bob"))
    assert other_user.allowed
    clock.advance(days=1)
    assert g.check(c, session=session("conv-9", c)).allowed
    day = int(clock.now.timestamp()) // 86400
    assert store.spent("user-daily/USD/86400000000/user:alice", day) == 10000


def test_a_checkout_without_a_merchant_escalates_when_a_budget_is_per_merchant(store: Any) -> None:
    g = guard(store, Clock(), BUDGETS)
    c = checkout("10.00", merchant=None)
    d = g.check(c, session=session("conv-m", c))
    assert d.outcome is Outcome.ESCALATE and d.codes == ("budget_scope_missing",)


def test_a_single_use_confirmation_is_consumed_once(store: Any) -> None:
    clock = Clock()
    g = guard(store, clock, "  single_use_confirmations: true\n")
    c = checkout("40.00")
    assert g.check(c, session=session("conv-u", c)).allowed
    clock.advance(seconds=5)
    d = g.check(c, session=session("conv-u", c))
    assert d.outcome is Outcome.CLARIFY and d.codes == ("confirmation_used",)
    assert d.confirmation is not None and d.confirmation.total == "40.00"
    # a new confirmation (another expiry) of the same cart can be used once
    fresh = {"digest": d.confirmation.digest, "expires_at": "2026-03-02T10:00:00Z"}
    assert g.check(c, session=session("conv-u", c, fresh)).allowed
    assert g.check(c, session=session("conv-u", c, fresh)).codes == ("confirmation_used",)


def test_budget_is_not_charged_and_confirmation_not_consumed_unless_allowed(store: Any) -> None:
    clock = Clock()
    g = guard(store, clock, BUDGETS + "  single_use_confirmations: true\n")
    c = checkout("400.00")   # over the 300.00 daily budget
    assert g.check(c, session=session("conv-n", c)).codes == ("budget_exceeded",)
    small = checkout("50.00")
    assert g.check(small, session=session("conv-n", c, small)).allowed
    day = int(clock.now.timestamp()) // 86400
    assert store.spent("user-daily/USD/86400000000/user:alice", day) == 5000


def test_a_missing_session_id_escalates_when_the_policy_keeps_state(store: Any) -> None:
    g = guard(store, Clock())
    c = checkout("10.00")
    d = g.check(c, session=session(None, c))
    assert d.outcome is Outcome.ESCALATE and d.route == "human"
    assert d.codes == ("session_id_missing",)


def test_without_a_session_section_a_missing_id_changes_nothing() -> None:
    from .helpers import BASE

    g = Guard.from_text(BASE, clock=Clock(), sessions=open_store("memory:"))
    c = checkout("10.00")
    assert g.check(c, session=session(None, c)).allowed


def test_the_log_keeps_proposals_decisions_confirmations_turns_and_the_clock(store: Any) -> None:
    clock = Clock()
    g = guard(store, clock)
    c = checkout("10.00")
    g.check(c, session=session("conv-579599", turn=1))
    clock.advance(seconds=7)
    g.check(c, session=session("conv-579599", c, turn=2))
    g.check(c, session=session("conv-762382", c, turn=1))
    log = store.events("conv-579599")
    assert [(e.seq, e.type, e.turn, e.outcome) for e in log] == [
        (0, "decision", 1, "clarify"), (1, "confirmation", 2, None), (2, "decision", 2, "allow")]
    assert log[2].at_us - log[0].at_us == 7_000_000
    assert log[2].codes == () and log[0].codes == ("consent",)
    assert log[2].tool == "checkout" and log[2].amount_minor == 1000 and log[2].payment_method == "card_1"
    assert log[1].digest == log[2].digest
    assert [e.type for e in store.events("conv-762382")] == ["confirmation", "decision"]


def test_the_decision_reasons_carry_the_session_rules_for_audit_and_explain() -> None:
    clock = Clock()
    g = guard(open_store("memory:"), clock)
    big = checkout("6000.00")
    g.check(big, session=session("conv-e", big))
    d = g.check(checkout("6000.00", sku="2"), session=session("conv-e"))
    assert [r.to_dict()["rule"] for r in d.reasons] == ["big", "cart-changed", "retry-after-escalation", "consent"]
    assert d.to_dict()["outcome"] == "escalate"


class _Broken(MemoryStore):
    def transaction(self, conversation_id: str) -> Any:
        raise OSError("disk full")


def test_a_store_failure_escalates() -> None:
    g = guard(_Broken(), Clock())
    c = checkout("10.00")
    d = g.check(c, session=session("conv-x", c))
    assert d.outcome is Outcome.ESCALATE
    assert d.codes == ("session_store_error",)
    assert "disk full" in d.reasons[0].message


def test_check_envelope_goes_through_the_store() -> None:
    store = open_store("memory:")
    g = guard(store, Clock())
    c = checkout("10.00")
    g.check_envelope({"proposal": c, "session": session("conv-env", c)})
    assert len(store.events("conv-env")) == 2


def test_open_store_rejects_unknown_urls() -> None:
    from txguard import UsageError

    with pytest.raises(UsageError, match="unknown session store `redis://x`"):
        open_store("redis://x")
