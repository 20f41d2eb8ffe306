"""Issue 12: a decision reads only what its session rules can look at, so a conversation kept alive
by a looping agent does not make every later decision slower. Measured structurally (events read
and parsed per decision), never by timing; and the windowed read decides exactly like the whole."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from txguard import Guard, compile_policy
from txguard.core.decision import Reason
from txguard.policy.session import SessionPolicy
from txguard.sessions import Event, MemoryStore, OwnEvaluator, SessionStore
from txguard.sessions._apply import SessionRunner
from txguard.sessions._rules import Reach, reach
from txguard.sessions._store import select_window

from .helpers import Clock, checkout, policy, session

WINDOWED = policy("""  single_use_confirmations: false
  rules:
    - id: clarify-loop
      count: {where: {outcome: clarify}, in_a_row: true, at_least: 3}
    - id: velocity
      count: {where: {kind: checkout}, within: 5m, at_least: 4}
    - id: hopping
      distinct: {field: payment_method, where: {kind: checkout}, within: 10m, at_least: 3}
      outcome: clarify
    - id: creep
      sum: {field: amount, where: {kind: checkout, outcome: allow}, currency: USD, within: 1h, more_than: "900.00"}
    - id: changed
      sequence: {pattern: changed_after_confirmation, within: 30m}
    - id: retry
      sequence: {pattern: retry_after_escalation}
""")


class Recording(OwnEvaluator):
    """txguard's own evaluator, recording how many events each decision was given."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def evaluate(self, policy: SessionPolicy, events: Sequence[Event], current: Event, now_us: int) -> list[Reason]:
        self.sizes.append(len(events))
        return super().evaluate(policy, events, current, now_us)


def test_the_reach_of_the_rules() -> None:
    sp = compile_policy(WINDOWED).session
    assert reach(sp) == Reach(False, 3_600_000_000, (("decision", 3),))
    unbounded = compile_policy(policy("  rules:\n    - {id: ever, count: {where: {kind: checkout}, at_least: 9}}\n"))
    assert reach(unbounded.session).whole


def test_events_read_per_decision_do_not_grow_with_the_conversation(store: SessionStore,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    parsed = [0]
    from_row = Event.from_row.__func__  # type: ignore[attr-defined]

    def counting(cls: type[Event], *row: Any) -> Event:
        parsed[0] += 1
        return from_row(cls, *row)  # type: ignore[no-any-return]

    monkeypatch.setattr(Event, "from_row", classmethod(counting))
    recording = Recording()
    clock = Clock()
    g = Guard.from_text(WINDOWED, clock=clock, sessions=store, session_evaluator=recording)
    per_decision: list[int] = []
    # A looping agent: an unconfirmed checkout every two minutes (clarify), 400 times.
    for i in range(400):
        before = parsed[0]
        g.check(checkout(sku=str(i % 7)), session=session("loop"))
        per_decision.append(parsed[0] - before)
        clock.advance(minutes=2)
    assert len(store.events("loop")) >= 400
    # the rules see the last hour (30 decisions) plus the last 3 decisions at most
    assert max(recording.sizes[50:]) == max(recording.sizes[350:]) <= 33
    if not isinstance(store, MemoryStore):  # the databases parse only the rows they return
        assert max(per_decision[50:]) == max(per_decision[350:]) <= 33


STEPS = st.lists(st.tuples(
    st.integers(min_value=0, max_value=40),            # minutes to the next decision
    st.sampled_from(["100.00", "300.00", "450.00"]),   # the total
    st.sampled_from(["card_1", "card_2", "card_3"]),   # the payment method
    st.booleans(),                                     # confirmed
), min_size=1, max_size=40)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=STEPS)
def test_the_windowed_read_decides_like_the_whole_log(steps: list[tuple[int, str, str, bool]]) -> None:
    compiled = compile_policy(WINDOWED)
    clocks = (Clock(), Clock())
    windowed = Guard(compiled, clock=clocks[0], sessions=MemoryStore())
    whole = Guard(compiled, clock=clocks[1], sessions=MemoryStore())
    runner = next(step for step in whole._state.steps if isinstance(step, SessionRunner))
    runner.reach = Reach(True, 0, ())  # the whole log, whatever the rules' windows
    for minutes, total, pm, confirmed in steps:
        for c in clocks:
            c.advance(minutes=minutes)
        prop = checkout(total, pm=pm)
        ses = session("c", prop) if confirmed else session("c")
        a, b = windowed.check(prop, session=ses), whole.check(prop, session=ses)
        assert (a.outcome, a.reasons, a.route) == (b.outcome, b.reasons, b.route)


LOGS = st.lists(st.tuples(st.integers(0, 5), st.sampled_from(["decision", "confirmation"])), max_size=60)


@settings(max_examples=300, deadline=None)
@given(LOGS, st.integers(-1, 200), st.lists(st.tuples(st.sampled_from(["decision", "confirmation"]), st.integers(0, 6)),
                                              max_size=2))
def test_the_bisected_window_of_a_clock_ordered_log_is_the_scanned_one(
        gaps: list[tuple[int, str]], since: int, tail: list[tuple[str, int]]) -> None:
    """The memory store's fast read (bisection, the tail found backwards) picks what a scan picks."""
    log, at = [], 0
    for seq, (gap, type_) in enumerate(gaps):
        at += gap
        log.append(Event(seq=seq, type=type_, at_us=at))
    assert select_window(log, since, tail, monotonic=True) == select_window(log, since, tail)
