"""A shadow policy reads the conversation store and never writes it: no budget, no confirmation, no event."""

from __future__ import annotations

from typing import Any

from txguard import Guard, Outcome
from txguard.audit import MemorySink
from txguard.sessions import MemoryStore

from .helpers import Clock, checkout, policy, session

SESSION = """  budgets:
    - {id: user-daily, amount: "300.00", currency: USD, window: 1d, scope: user}
  single_use_confirmations: true
"""
# the candidate: a larger daily budget, same id and policy id, so it reads the same counters
CANDIDATE = Guard.from_text(policy(SESSION.replace('"300.00"', '"400.00"'))).policy


def _run(g: Guard, clock: Clock) -> list[tuple[Outcome, tuple[str, ...]]]:
    """Two purchases with their confirmation, the second confirmation replayed, a third over the primary's budget."""
    a, b, big = checkout("60.00", sku="a"), checkout("80.00", sku="b"), checkout("250.00", sku="c")
    out = []
    for proposal, confirmed in ((a, a), (b, b), (b, b), (big, big)):
        clock.advance(seconds=30)
        d = g.check(proposal, session=session("conv-s", confirmed))
        out.append((d.outcome, d.codes))
    return out


def _state(store: Any, clock: Clock) -> tuple[Any, ...]:
    day = int(clock.now.timestamp()) // 86400
    events = [(e.type, e.outcome, e.codes, e.digest) for e in store.events("conv-s")]
    return store.spent("sessions-test/user-daily/user:alice", day), events


def test_the_candidate_consumes_no_confirmation_reserves_no_budget_and_logs_nothing(store: Any) -> None:
    clock = Clock()
    sink = MemorySink()
    shadowed = Guard.from_text(policy(SESSION), clock=clock, sessions=store, audit=sink, shadow=CANDIDATE)
    got = _run(shadowed, clock)

    twin_clock = Clock()
    twin_store = MemoryStore()
    twin = Guard.from_text(policy(SESSION), clock=twin_clock, sessions=twin_store)
    assert got == _run(twin, twin_clock)  # the primary decides as if there were no candidate
    assert got == [(Outcome.ALLOW, ()), (Outcome.ALLOW, ()), (Outcome.CLARIFY, ("confirmation_used",)),
                   (Outcome.ESCALATE, ("budget_exceeded",))]
    assert _state(store, clock) == _state(twin_store, twin_clock)  # same spend (14000), same log
    assert _state(store, clock)[0] == 14000

    # the candidate saw the store as the primary did, just before it: the replayed confirmation is
    # already used, and the big purchase fits its larger budget on the spend recorded (140 + 250 <= 400;
    # had the candidate reserved its own allows too, 280 + 250 would not)
    shadows = [(r.body["shadow"]["decision"]["outcome"], [x["code"] for x in r.body["shadow"]["decision"]["reasons"]])
               for r in sink.records()]
    assert shadows == [("allow", []), ("allow", []), ("clarify", ["confirmation_used"]), ("allow", [])]
    stats = shadowed.shadow_stats
    assert (stats.sampled, stats.diverged, stats.loosened, stats.tightened) == (4, 1, 1, 0)
