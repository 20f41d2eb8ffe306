"""Run suite cases: decide each case's envelope with a guard and compare it with what it wants.

A case of a policy that keeps no state is decided by an independent guard on the suite's clock;
a multi-turn case, or any case of a policy with session rules, budgets or single-use
confirmations, runs as one conversation against a fresh memory store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from .._guard import Guard, utc_now
from ..policy.compile import CompiledPolicy, compile_file
from ..sessions._store import MemoryStore
from .suite import SUITE_SUFFIX, Case, Result, Suite, TurnResult, compare


class PolicyCache:
    """Compiles each policy file once per run (raises :class:`~txguard.PolicyError`)."""

    def __init__(self) -> None:
        self._policies: dict[Path, CompiledPolicy] = {}

    def get(self, path: Path) -> CompiledPolicy:
        key = path.resolve()
        if key not in self._policies:
            self._policies[key] = compile_file(path)
        return self._policies[key]


def guard_for(policy: CompiledPolicy, clock: datetime | None) -> Guard:
    """A guard on a fixed clock (the suite's), or on the real one."""
    return Guard(policy, clock=(lambda: clock) if clock is not None else utc_now)


def keeps_state(policy: CompiledPolicy) -> bool:
    """True if the policy has session rules, budgets or single-use confirmations."""
    return policy.session.needs_session_id


def with_session_id(envelope: Mapping[str, Any], default: str) -> Mapping[str, Any]:
    """The envelope with ``session.id`` set to ``default`` if its session is a mapping without one."""
    session = envelope.get("session")
    if not isinstance(session, Mapping) or "id" in session:
        return envelope
    return {**envelope, "session": {**session, "id": default}}


def run_case(guard: Guard, case: Case) -> Result:
    """Decide one case and compare it with what it wants.

    A multi-turn case, and any case of a policy that keeps state across turns, runs as one
    conversation against a fresh memory store (nothing is shared between cases); a session
    without ``id`` gets the case's own (:attr:`Case.session_id`). Multi-turn cases run on their
    turns' clock, the others on ``guard``'s.
    """
    policy = guard.policy
    if not case.turns:
        if not keeps_state(policy):
            decision = guard.independent().check_envelope(case.envelope)
        else:
            stateful = Guard(policy, clock=guard.clock, sessions=MemoryStore())
            decision = stateful.check_envelope(with_session_id(case.envelope, case.session_id))
        return Result(case, decision, compare(case.want, decision))
    turns = play(policy, case)
    diffs = tuple(f"turn {t.turn.index} ({case.file}:{t.turn.line}:{t.turn.column}): {d}"
                  for t in turns for d in t.diffs)
    return Result(case, turns[-1].decision, diffs, tuple(turns))


def play(policy: CompiledPolicy, case: Case, upto: int | None = None,
         store: MemoryStore | None = None) -> list[TurnResult]:
    """Run a multi-turn case's turns 1..``upto`` (default: all) in order against ``store`` (default:
    a fresh memory store), each on its own time."""
    now = [case.turns[0].at]
    guard = Guard(policy, clock=lambda: now[0], sessions=store if store is not None else MemoryStore())
    out = []
    for t in case.turns[:upto]:
        now[0] = t.at
        decision = guard.check_envelope(t.envelope)
        out.append(TurnResult(t, decision, compare(t.want, decision)))
    return out


def run_suite(suite: Suite, policy: CompiledPolicy) -> list[Result]:
    """Run every case of a suite against its (compiled) policy, in file order."""
    guard = guard_for(policy, suite.clock)
    return [run_case(guard, case) for case in suite.cases]


def find_suites(paths: Iterable[str | Path]) -> list[Path]:
    """Every suite named: a file as given, a directory searched for ``*.tests.yaml`` (sorted)."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob(f"*{SUITE_SUFFIX}") if q.is_file()))
        else:
            out.append(p)
    return out
