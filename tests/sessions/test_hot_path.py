"""The session layer's hot-path shortcuts keep their promises."""

from __future__ import annotations

import pytest

from txguard import Guard
from txguard.sessions import Event, MemoryStore
from txguard.sessions._store import Charge

from .helpers import BASE, T0


def test_memory_transaction_commits_on_exit_and_rolls_back_on_an_exception() -> None:
    store = MemoryStore()
    e = Event(seq=0, type="decision", at_us=1, kind="checkout", outcome="allow")
    with pytest.raises(RuntimeError):
        with store.transaction("c") as tx:
            tx.append([e])
            assert tx.reserve([Charge("b", "k", 0, 5, 10)], ["conf"]) is None
            raise RuntimeError("boom")
    assert store.events("c") == [] and store.spent("k", 0) == 0 and not store.confirmation_used("conf")
    with store.transaction("c") as tx:   # the lock was released
        tx.append([e])
        assert tx.reserve([Charge("b", "k", 0, 5, 10)], ["conf"]) is None
    assert store.events("c") == [e] and store.spent("k", 0) == 5 and store.confirmation_used("conf")


def test_a_session_decision_carries_its_own_timing_and_is_a_new_object() -> None:
    # confirmations reusable on purpose: the same confirmed cart is decided twice
    guard = Guard.from_text(BASE + "session:\n  single_use_confirmations: false\n"
                            "  rules:\n    - {id: loop, count: {where: {outcome: clarify}, at_least: 9}}\n",
                            clock=lambda: T0, sessions=MemoryStore())
    cart = {"name": "checkout", "arguments": {
        "items": [{"sku": "1", "product_id": "p", "title": "t", "quantity": 1, "unit_price": "1.00"}],
        "currency": "USD", "total": "1.00", "payment_method_id": "card"}}
    a = guard.check(cart, session={"id": "c", "confirmed": [cart]})
    b = guard.check(cart, session={"id": "c", "confirmed": [cart]})
    assert a.outcome.value == b.outcome.value == "allow"
    assert a is not b and a.elapsed_us > 0 and b.elapsed_us > 0
    # an unchanged allow logs one decision event with its outcome and no codes
    events = [x for x in guard._store.events("c") if x.type == "decision"]  # type: ignore[union-attr]
    assert [(x.seq, x.outcome, x.codes) for x in events] == [(1, "allow", ()), (2, "allow", ())]
