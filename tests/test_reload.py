"""Guard.reload: an atomic swap of the whole decision state, refused (old policy kept) when invalid."""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from txguard import CompiledPolicy, Guard, Observer, PolicyError, UsageError, compile_policy
from txguard.audit import MemorySink, verify
from txguard.sessions import open_store

from .sessions.helpers import BASE, Clock, checkout, policy, session

STRICT = BASE.replace('gt: "5000.00"', 'gt: "50.00"').replace('version: "1"', 'version: "2"')


class Reloads(Observer):
    def __init__(self) -> None:
        self.seen: list[tuple[bool, str, str | None, str | None]] = []
        self.appends: list[tuple[bool, float]] = []

    def on_reload(self, *, ok: bool, old: CompiledPolicy, new: CompiledPolicy | None, error: str | None) -> None:
        self.seen.append((ok, old.digest, new.digest if new else None, error))

    def on_audit_append(self, *, seconds: float, ok: bool) -> None:
        self.appends.append((ok, seconds))  # asserted by the test: an observer's own assert is swallowed


def _confirmed(total: str) -> tuple[dict[str, Any], dict[str, Any]]:
    call = checkout(total)
    return call, session(None, call)


def test_reload_swaps_and_the_audit_record_names_the_deciding_digest() -> None:
    sink, obs = MemorySink(), Reloads()
    guard = Guard(compile_policy(BASE), audit=sink, observers=[obs], clock=Clock())
    old = guard.policy
    call, ses = _confirmed("100.00")
    assert guard.check(call, session=ses).outcome.value == "allow"
    new = guard.reload(compile_policy(STRICT))
    assert guard.policy is new and new.digest != old.digest
    after = guard.check(call, session=ses)
    assert after.outcome.value == "escalate" and "big" in [r.rule for r in after.reasons]
    assert after.policy.digest == new.digest
    digests = [r.body["policy"]["digest"] for r in sink.records()]
    assert digests == [old.digest, new.digest]
    assert verify(sink).ok
    assert obs.seen == [(True, old.digest, new.digest, None)]
    assert [ok for ok, _ in obs.appends] == [True, True] and all(seconds >= 0 for _, seconds in obs.appends)


def test_an_invalid_reload_keeps_the_old_policy_and_reports_where(tmp_path: Path) -> None:
    obs = Reloads()
    guard = Guard(compile_policy(BASE), observers=[obs])
    old = guard.policy
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE.replace("check: consent", "check: no_such_check"), encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        guard.reload(bad)
    assert str(bad) in str(info.value)
    assert guard.policy is old
    assert obs.seen == [(False, old.digest, None, str(info.value))]
    with pytest.raises(UsageError):
        guard.reload(42)  # type: ignore[arg-type]
    assert guard.policy is old and len(obs.seen) == 2
    call, ses = _confirmed("100.00")
    assert guard.check(call, session=ses).outcome.value == "allow"


def test_reload_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(STRICT, encoding="utf-8")
    guard = Guard(compile_policy(BASE))
    assert guard.reload(path).digest == compile_policy(STRICT).digest == guard.policy.digest


def test_the_session_runner_is_swapped_with_the_policy() -> None:
    """Budgets come from the policy in force: a reload that adds a budget applies it at once."""
    guard = Guard(compile_policy(BASE), sessions=open_store("memory:"), clock=Clock())
    calls = [checkout("400.00", sku=sku) for sku in ("a", "b", "c", "d")]  # each confirmed once: single use
    before = [guard.check(c, session=session("c1", c, user="bob")).outcome.value for c in calls[:2]]
    assert before == ["allow", "allow"]
    guard.reload(compile_policy(policy('  budgets:\n    - {id: daily, amount: "500.00", currency: USD, window: 1d, scope: user}\n')))
    after = [guard.check(c, session=session("c2", c, user="carol")) for c in calls[2:]]
    assert after[0].outcome.value == "allow"
    assert after[1].outcome.value != "allow" and "budget_exceeded" in after[1].codes


def test_an_in_flight_decision_finishes_on_the_policy_it_started_with() -> None:
    started, release = threading.Event(), threading.Event()

    def slow_clock() -> datetime:
        started.set()
        assert release.wait(10)
        return datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)

    sink = MemorySink()
    guard = Guard(compile_policy(BASE), clock=slow_clock, audit=sink)
    old = guard.policy
    call, ses = _confirmed("100.00")
    out: list[Any] = []
    worker = threading.Thread(target=lambda: out.append(guard.check(call, session=ses)))
    worker.start()
    assert started.wait(10)
    new = guard.reload(compile_policy(STRICT))  # while the decision waits on its clock
    release.set()
    worker.join(10)
    assert out[0].outcome.value == "allow" and out[0].policy.digest == old.digest
    assert list(sink.records())[0].body["policy"]["digest"] == old.digest
    assert guard.check(call, session=ses).policy.digest == new.digest
