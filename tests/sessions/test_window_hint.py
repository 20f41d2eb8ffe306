"""The memory store finds a decision's window from where the previous one started
(``_store.window_start``); it must pick exactly what bisecting, or scanning the whole log, picks,
whatever the clock does (forward, standing still, backwards, far ahead) and however the events were
appended (a first batch out of clock order is not a log in clock order)."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from txguard import Guard
from txguard.core.decision import Reason
from txguard.policy.session import SessionPolicy
from txguard.sessions import Event, MemoryStore, OwnEvaluator
from txguard.sessions._store import select_window, window_start

from .helpers import Clock, checkout, policy, session


def _at(e: Event) -> int:
    return e.at_us


@settings(max_examples=400, deadline=None)
@given(gaps=st.lists(st.integers(0, 5), max_size=80), since=st.integers(-5, 250), hint=st.integers(-3, 90))
def test_the_start_from_any_hint_is_the_bisected_one(gaps: list[int], since: int, hint: int) -> None:
    log, at = [], 0
    for seq, gap in enumerate(gaps):
        at += gap
        log.append(Event(seq=seq, type="decision", at_us=at))
    assert window_start(log, since, hint) == bisect.bisect_right(log, since, key=_at)


MOVES = st.lists(st.tuples(st.integers(-3, 60), st.integers(0, 3)), min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(moves=MOVES, first=st.lists(st.integers(0, 50), max_size=4),
       tail=st.lists(st.tuples(st.sampled_from(["decision", "confirmation"]), st.integers(0, 4)), max_size=2))
def test_the_store_window_is_the_scanned_one(moves: list[tuple[int, int]], first: list[int],
                                             tail: list[tuple[str, int]]) -> None:
    """Decision after decision in one conversation: the store's window (hinted) is the scan's."""
    store = MemoryStore()
    with store.transaction("c") as tx:  # a first batch in any order
        tx.append([Event(seq=i, type="confirmation" if i % 2 else "decision", at_us=a) for i, a in enumerate(first)])
    now = 50
    for step, (move, appended) in enumerate(moves):
        now += move
        with store.transaction("c") as tx:
            got = tx.window(now - 20, tail)
            seq = tx.next_seq()
            tx.append([Event(seq=seq + i, type="decision" if (step + i) % 3 else "confirmation", at_us=now)
                       for i in range(appended)])
        assert got == select_window(store.events("c")[:seq], now - 20, tail)


class Counting(OwnEvaluator):
    """A host's subclass of txguard's evaluator that sets up its own state without calling
    ``super().__init__()``: it must keep working."""

    def __init__(self) -> None:
        self.calls = 0

    def evaluate(self, policy: SessionPolicy, events: Sequence[Event], current: Event, now_us: int) -> list[Reason]:
        self.calls += 1
        return super().evaluate(policy, events, current, now_us)


def test_a_subclass_of_the_evaluator_decides_as_the_evaluator() -> None:
    text = policy("  single_use_confirmations: false\n  rules:\n"
                  "    - {id: velocity, count: {where: {kind: checkout}, within: 5m, at_least: 3}}\n")
    clocks = (Clock(), Clock())
    counting = Counting()
    a = Guard.from_text(text, clock=clocks[0], sessions=MemoryStore(), session_evaluator=counting)
    b = Guard.from_text(text, clock=clocks[1], sessions=MemoryStore())
    outcomes = []
    for _ in range(4):
        for c in clocks:
            c.advance(seconds=30)
        x, y = a.check(checkout(), session=session("c", checkout())), b.check(checkout(), session=session("c", checkout()))
        assert (x.outcome, x.reasons) == (y.outcome, y.reasons)
        outcomes.append(x.codes)
    assert counting.calls == 4
    assert outcomes == [(), (), ("velocity",), ("velocity",)]
