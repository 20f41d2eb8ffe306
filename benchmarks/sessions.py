"""Benchmark: what session rules add to a decision, and memory per idle conversation.

Run: ``PYTHONPATH=. python benchmarks/sessions.py`` (``--conversations N`` to change the memory
run; ``--quick`` for a short run). Prints p50/p90 in microseconds:

* ``evaluator/<name>``: the session-rule evaluation alone (6 rules of every form) over a
  conversation of 10 earlier events, txguard's own evaluator and durable_rules side by side;
* ``check/plain`` vs ``check/memory-store``: a whole ``Guard.check`` without and with a memory
  store (the difference is everything sessions add: the transaction, the events, the rules);
* ``long/<store>/<n> events``: a decision in a conversation a looping agent has kept alive for
  n = 50 and 1,500 events (retail-session's rules: a 5-minute window and a run of 3), with the log
  windowed by what the rules can look at, and ``(whole log)`` with the whole log read as before;
* memory per idle conversation after N conversations of one confirmation + one decision each;
* first, ``memory store, conversation of n``: what the session layer adds to a decision (p50 with the
  memory store minus without, interleaved) in a conversation of n = 10, 1,000 and 10,000 events,
  and the growth from 10 to 10,000 (issue 13: <= 15 us added, no growth); ``--added`` prints only that.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from txguard import Guard  # noqa: E402
from txguard.sessions import Event, MemoryStore, OwnEvaluator, open_store  # noqa: E402

POLICY = """
apiVersion: txguard/v1
id: bench
version: "1"
tools:
  checkout: {intent: checkout}
defaults: {checkout: allow}
rules:
  - {id: consent, check: consent}
session:
  single_use_confirmations: false   # the same confirmed cart is decided again and again
  rules:
    - id: clarify-loop
      count: {where: {outcome: clarify}, in_a_row: true, at_least: 3}
    - id: checkout-velocity
      count: {where: {kind: checkout}, within: 3m, at_least: 50}
    - id: payment-method-hopping
      distinct: {field: payment_method, where: {kind: checkout}, within: 1h, at_least: 3}
    - id: spend-creep
      sum: {field: amount, where: {kind: checkout, outcome: allow}, currency: USD, within: 24h, more_than: "100000.00"}
    - id: cart-changed
      sequence: {pattern: changed_after_confirmation, within: 1h}
    - id: retry-after-escalation
      sequence: {pattern: retry_after_escalation, within: 10m}
"""
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def cart(i: int) -> dict[str, Any]:
    return {"name": "checkout", "arguments": {
        "items": [{"sku": "111", "product_id": "p1", "title": "Kettle", "quantity": 1, "unit_price": "10.00"}],
        "currency": "USD", "total": "10.00", "payment_method_id": "card_1", "merchant": "shop"}}


def pct(samples: list[float]) -> tuple[float, float]:
    samples = sorted(samples)
    return statistics.median(samples), samples[int(len(samples) * 0.9)]


def timeit(fn: Callable[[], Any], n: int) -> list[float]:
    for _ in range(min(200, n)):
        fn()
    out = []
    for _ in range(n):
        t = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - t) / 1000)
    return out


def report(name: str, samples: list[float]) -> None:
    p50, p90 = pct(samples)
    print(f"{name:34s} p50 {p50:9.1f} us   p90 {p90:9.1f} us   (n={len(samples)})")


def evaluators(n: int) -> None:
    guard = Guard.from_text(POLICY)
    sp = guard.policy.session
    now = 10 * 60_000_000
    events = [Event(seq=i, type="confirmation" if i % 5 == 0 else "decision", at_us=i * 60_000_000, kind="checkout",
                    outcome="allow", digest="d", payment_method="card_1", merchant="shop", currency="USD",
                    amount_minor=1000) for i in range(10)]
    current = Event(seq=10, type="decision", at_us=now, kind="checkout", outcome="allow", digest="d",
                    payment_method="card_1", merchant="shop", currency="USD", amount_minor=1000)
    own = OwnEvaluator()
    report("evaluator/txguard (10 events)", timeit(lambda: own.evaluate(sp, events, current, now), n))
    try:
        from txguard.sessions import RuleEngineEvaluator

        rete = RuleEngineEvaluator()
    except Exception as exc:  # noqa: BLE001
        print(f"evaluator/durable_rules: not available ({exc})")
        return
    assert rete.evaluate(sp, events, current, now) == own.evaluate(sp, events, current, now)
    report("evaluator/durable_rules (10 events)", timeit(lambda: rete.evaluate(sp, events, current, now), max(n // 5, 200)))


def checks(n: int) -> None:
    clock_now = [T0]
    clock = lambda: clock_now[0]  # noqa: E731
    c = cart(0)
    plain = Guard.from_text(POLICY, clock=clock)
    sess = {"id": "conv-plain", "authenticated_user_id": "u1", "confirmed": [c]}
    report("check/plain", timeit(lambda: plain.check(c, session=sess), n))
    for label, url in (("memory-store", "memory:"), ("sqlite-store", "sqlite:/tmp/txguard-bench-sessions.db")):
        if url.startswith("sqlite:"):
            Path(url[7:]).unlink(missing_ok=True)
        g = Guard.from_text(POLICY, clock=clock, sessions=open_store(url))
        counter = [0]

        def one() -> None:
            # a fresh conversation every 10 checks keeps the log at a realistic 0..20 events
            counter[0] += 1
            clock_now[0] = T0 + timedelta(seconds=counter[0])
            g.check(c, session={"id": f"conv-{counter[0] // 10}", "authenticated_user_id": "u1", "confirmed": [c]})

        report(f"check/{label}", timeit(one, n if label == "memory-store" else max(n // 5, 200)))


LOOP = """
apiVersion: txguard/v1
id: bench-loop
version: "1"
tools:
  checkout: {intent: checkout}
defaults: {checkout: allow}
rules:
  - {id: consent, check: consent}
session:
  rules:
    - id: checkout-velocity
      count: {where: {kind: checkout}, within: 5m, at_least: 400}
    - id: clarify-loop
      count: {where: {outcome: clarify}, in_a_row: true, at_least: 3}
    - id: retry-after-escalation
      sequence: {pattern: retry_after_escalation, within: 10m}
"""


def long_conversation(n: int) -> None:
    """A decision's cost at 50 and at 1,500 earlier events of one conversation (one every 30 s: the 10-minute window holds 20);
    ``n`` decisions are timed (the conversation grows by n + 5 during the run)."""
    from txguard.sessions._rules import Reach

    for label, url in (("memory", "memory:"), ("sqlite", "sqlite:/tmp/txguard-bench-long.db")):
        for whole in (False, True):
            for size in (50, 1500):
                if url.startswith("sqlite:"):
                    for suffix in ("", "-wal", "-shm"):
                        Path(url[7:] + suffix).unlink(missing_ok=True)
                store = open_store(url)
                with store.transaction("loop") as tx:
                    tx.append([Event(seq=i, type="decision", at_us=i * 30_000_000, kind="checkout", tool="checkout",
                                     outcome="allow", digest="d", payment_method="card_1", currency="USD",
                                     amount_minor=1000) for i in range(size)])
                now = [datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=30 * size)]
                g = Guard.from_text(LOOP, clock=lambda: now[0], sessions=store)
                if whole:
                    g._state.sessions.reach = Reach(True, 0, ())  # type: ignore[union-attr]
                c = cart(0)
                sess = {"id": "loop", "authenticated_user_id": "u1", "confirmed": [c]}

                def one() -> None:
                    now[0] += timedelta(seconds=30)
                    g.check(c, session=sess)

                for _ in range(5):  # warm up without growing the conversation much
                    one()
                samples = []
                for _ in range(n):
                    t = time.perf_counter_ns()
                    one()
                    samples.append((time.perf_counter_ns() - t) / 1000)
                report(f"long/{label}/{size} events{' (whole log)' if whole else ''}", samples)
                store.close()


ADDED = """
apiVersion: txguard/v1
id: bench-added
version: "1"
tools:
  checkout: {intent: checkout}
defaults: {checkout: allow}
rules:
  - {id: consent, check: consent}
session:
  single_use_confirmations: false   # the same confirmed cart is decided again and again
  rules:
    - id: checkout-velocity
      count: {where: {kind: checkout}, within: 5m, at_least: 400}
    - id: clarify-loop
      count: {where: {outcome: clarify}, in_a_row: true, at_least: 3}
    - id: retry-after-escalation
      sequence: {pattern: retry_after_escalation, within: 10m}
  budgets:
    - {id: daily, amount: "100000000.00", currency: USD, window: 1d, scope: user}
"""


def added(n: int, lengths: tuple[int, ...] = (10, 1000, 10000)) -> None:
    """What the session layer adds to a decision with the memory store: p50 of ``check`` with the
    store minus without it (same cart, same clock, interleaved), in one conversation already holding
    ``length`` events (one every 30 s, so the 10-minute windows hold 20 whatever the length)."""
    print(f"{'memory store, conversation of':<30} {'p50 off':>8} {'p50 on':>8} {'added p50':>10}")
    rows = []
    for length in lengths:
        store = MemoryStore()
        with store.transaction("conv") as tx:
            tx.append([Event(seq=i, type="decision", at_us=i * 30_000_000, turn=i, kind="checkout", tool="checkout",
                             outcome="allow", digest="d", payment_method="card_1", currency="USD", user="u1",
                             amount_minor=1000) for i in range(length)])
        now = [datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=30 * length)]
        on = Guard.from_text(ADDED, clock=lambda: now[0], sessions=store)
        off = Guard.from_text(ADDED, clock=lambda: now[0])
        c = cart(0)
        sess = {"id": "conv", "authenticated_user_id": "u1", "confirmed": [c]}
        with_us: list[float] = []
        without_us: list[float] = []
        for i in range(n + 100):
            now[0] += timedelta(seconds=30)
            t = time.perf_counter_ns()
            off.check(c, session=sess)
            t1 = time.perf_counter_ns()
            on.check(c, session=sess)
            t2 = time.perf_counter_ns()
            if i >= 100:  # warmed up
                without_us.append((t1 - t) / 1000)
                with_us.append((t2 - t1) / 1000)
        p_off, p_on = statistics.median(without_us), statistics.median(with_us)
        rows.append((length, p_on - p_off))
        print(f"{length:>30,} {p_off:>8.1f} {p_on:>8.1f} {p_on - p_off:>10.1f}")
    print(f"growth of the added p50 from {rows[0][0]:,} to {rows[-1][0]:,} events: {rows[-1][1] - rows[0][1]:+.1f} us "
          "(target <= 15 us added, no growth)")


def memory(conversations: int) -> None:
    store = MemoryStore()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(conversations):
        cid = f"conv-{i:08d}"
        with store.transaction(cid) as tx:
            tx.append([
                Event(seq=0, type="confirmation", at_us=i, turn=1, kind="checkout", digest=f"sha256:{i:064x}",
                      user=f"user_{i}", key=f"sha256:{i:064x}|"),
                Event(seq=1, type="decision", at_us=i, turn=1, kind="checkout", tool="checkout", outcome="allow",
                      digest=f"sha256:{i:064x}", payment_method="card_1", merchant="shop", currency="USD",
                      user=f"user_{i}", amount_minor=1000),
            ])
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    per = (after - before) / conversations
    print(f"memory per idle conversation (memory store, {conversations:,} conversations of 2 events): "
          f"{per:,.0f} bytes ({(after - before) / 2**20:,.1f} MiB in all)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--conversations", type=int, default=100_000)
    ap.add_argument("--added", action="store_true",
                    help="only the added cost per decision (memory store) at conversation lengths 10, 1000, 10000")
    args = ap.parse_args()
    n = 2000 if args.quick else 20000
    print(f"Python {sys.version.split()[0]}; load average {os.getloadavg()[0]:.2f}; {os.cpu_count()} cpus")
    added(n // 10)
    if args.added:
        return
    evaluators(n)
    checks(n // 4)
    long_conversation(50)
    memory(args.conversations if not args.quick else 10_000)


if __name__ == "__main__":
    main()
