"""Budgets and single-use confirmations under real concurrency: 16 processes x 200 attempts against
SQLite and PostgreSQL. Total allowed spend never exceeds the budget; no confirmation is used twice."""

from __future__ import annotations

import multiprocessing as mp
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from txguard.sessions import open_store

from .helpers import T0, Clock, checkout, pg_reset, pg_url, policy

pytestmark = pytest.mark.system

PROCESSES = 16
ATTEMPTS = 200
LIMIT = Decimal("2000.00")
SESSION = """  budgets:
    - {id: daily, amount: "2000.00", currency: USD, window: 1d, scope: user}
  single_use_confirmations: true
"""
AMOUNTS = ("10.00", "25.00", "50.00")


def attempt_plan(i: int) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Attempt i of every process: the same conversation, cart and confirmation in all of them."""
    cid = f"conv-{i % 20}"
    cart = checkout(AMOUNTS[i % 3], sku=f"k{i % 40}")
    sess = {"id": cid, "authenticated_user_id": "alice", "turn": i,
            "confirmed": [{**cart, "expires_at": "2026-03-03T00:00:00Z"}]}
    return cid, cart, sess


def worker(url: str, barrier: Any, out: Any, index: int) -> None:
    from txguard import Guard

    store = open_store(url)
    guard = Guard.from_text(policy(SESSION), clock=Clock(T0), sessions=store)
    barrier.wait()
    results = []
    for k in range(ATTEMPTS):
        i = k  # every process tries the same attempt at about the same moment
        cid, cart, sess = attempt_plan(i)
        d = guard.check(cart, session=sess)
        results.append((cid, cart["arguments"]["items"][0]["sku"], cart["arguments"]["total"], d.outcome.value, d.codes))
    store.close()
    out.put(results)


def run_all(url: str) -> list[tuple[str, str, str, str, tuple[str, ...]]]:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    out = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(url, barrier, out, n)) for n in range(PROCESSES)]
    for p in procs:
        p.start()
    results = []
    for _ in procs:
        results.extend(out.get(timeout=120))
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return results


def check(url: str) -> None:
    results = run_all(url)
    assert len(results) == PROCESSES * ATTEMPTS
    allowed = [r for r in results if r[3] == "allow"]
    spent = sum(Decimal(r[2]) for r in allowed)
    assert spent <= LIMIT
    assert spent > LIMIT - Decimal("50.00")  # the budget was really used, not refused wholesale
    uses = Counter((r[0], r[1], r[2]) for r in allowed)
    assert max(uses.values()) == 1, "a single-use confirmation was used twice"
    codes = Counter(c for r in results for c in r[4])
    assert set(codes) <= {"budget_exceeded", "confirmation_used"}
    assert codes["confirmation_used"] > 0 and codes["budget_exceeded"] > 0
    store = open_store(url)
    day = int(T0.timestamp()) // 86400
    assert store.spent("daily/USD/86400000000/user:alice", day) == int(spent * 100)
    assert sum(len([e for e in store.events(f"conv-{c}") if e.type == "decision"]) for c in range(20)) == len(results)
    for c in range(20):
        seqs = [e.seq for e in store.events(f"conv-{c}")]
        assert seqs == list(range(len(seqs)))
    store.close()


def test_sixteen_processes_against_sqlite(tmp_path: Path) -> None:
    check(f"sqlite:{tmp_path / 'sessions.db'}")


def test_sixteen_processes_against_postgresql() -> None:
    url = pg_url()
    pg_reset()
    check(url)


@pytest.mark.parametrize("n", [1])
def test_the_plan_shares_conversations_and_confirmations(n: int) -> None:
    keys = Counter((attempt_plan(i)[0], attempt_plan(i)[1]["arguments"]["items"][0]["sku"]) for i in range(ATTEMPTS))
    assert len(keys) < ATTEMPTS * n  # some attempts reuse a confirmation within one process, too
