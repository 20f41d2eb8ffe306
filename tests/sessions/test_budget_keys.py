"""The session step writes each budget's counter under ``budget_key`` (the key a base policy, a
child and another guard on the same store share), whatever scope it is kept per; the step keeps
each budget's key up to the subject ready, and it must be that key."""

from __future__ import annotations

from txguard import Guard
from txguard.sessions import MemoryStore
from txguard.sessions._apply import budget_key

from .helpers import Clock, checkout, policy, session

BUDGETS = policy("""  single_use_confirmations: false
  budgets:
    - {id: per-user, amount: "1000.00", currency: USD, window: 1d, scope: user}
    - {id: per-session, amount: "1000.00", currency: USD, scope: session}
    - {id: per-merchant, amount: "1000.00", currency: USD, window: 1h, scope: merchant}
""")


def test_every_budget_counts_under_its_budget_key() -> None:
    store = MemoryStore()
    clock = Clock()
    guard = Guard.from_text(BUDGETS, clock=clock, sessions=store)
    prop = checkout("100.00", merchant="shop \u00e9")
    assert guard.check(prop, session=session("conv-1", prop, user="alice")).outcome.value == "allow"
    now_us = int(clock.now.timestamp()) * 1_000_000
    subjects = {"user": "alice", "session": "conv-1", "merchant": "shop \u00e9"}
    want = {}
    for b in guard.policy.session.budgets:
        bucket = now_us // b.window_us if b.window_us else 0
        want[(budget_key(b, subjects[b.scope]), bucket)] = 10000
    assert store._spent == want
