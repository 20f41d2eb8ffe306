"""The decision pipeline: inputs read once into a Case, uniform steps, one combine, the trace of
the session step, and the guard's public seams (``clock``, ``case``, ``decide``)."""

from __future__ import annotations

import ast
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from txguard import Guard, compile_file
from txguard.audit import MemorySink
from txguard.authoring.explain import explain
from txguard.authoring.suite_load import load_suite
from txguard.authoring.suite_run import play
from txguard.core.context import Session
from txguard.engine.case import Case
from txguard.engine.evaluate import evaluate
from txguard.engine.trace import Trace
from txguard.sessions import MemoryStore

from .conftest import POLICIES
from .sessions.helpers import checkout, policy, session

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
SESSION_POLICY = policy("""  single_use_confirmations: true
  rules:
    - id: velocity
      count: {where: {kind: checkout}, at_least: 2}
      outcome: escalate
  budgets:
    - id: daily
      amount: "500.00"
      currency: USD
      scope: user
      window: 1d
""")


class CountingClock:
    def __init__(self) -> None:
        self.readings = 0

    def __call__(self) -> datetime:
        self.readings += 1
        return NOW


def test_a_decision_reads_the_clock_once_and_validates_the_session_once(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = Guard.from_text(SESSION_POLICY).policy
    clock = CountingClock()
    validated: list[Any] = []
    original = Session.model_validate.__func__  # type: ignore[attr-defined]

    def counting(cls: type[Session], value: Any, *a: Any, **kw: Any) -> Session:
        validated.append(value)
        return original(cls, value, *a, **kw)  # type: ignore[no-any-return]

    monkeypatch.setattr(Session, "model_validate", classmethod(counting))
    # every step at once: the shadow, the rules, the session store, the audit sink
    guard = Guard(compiled, clock=clock, sessions=MemoryStore(), audit=MemorySink(), shadow=compiled)
    decision = guard.check(checkout("120.00"), session=session("c1"))
    assert decision.outcome.value == "clarify" and decision.codes == ("consent",)
    assert clock.readings == 1
    assert len(validated) == 1


def test_the_guard_clock_is_public() -> None:
    clock = CountingClock()
    guard = Guard.from_text(SESSION_POLICY, clock=clock)
    assert guard.clock is clock


def test_case_and_decide_are_check_in_two_steps() -> None:
    compiled = Guard.from_text(SESSION_POLICY).policy
    one = Guard(compiled, clock=lambda: NOW, sessions=MemoryStore())
    two = Guard(compiled, clock=lambda: NOW, sessions=MemoryStore())
    for total in ("120.00", "130.00", "140.00"):
        args = (checkout(total), None, session("c1"), None)
        assert one.check(*args) == two.decide(two.case(*args))


def test_a_case_read_before_a_reload_is_decided_on_the_new_policy() -> None:
    guard = Guard.from_text(SESSION_POLICY, clock=lambda: NOW)
    case = guard.case(checkout(), session=session("c1"))
    assert guard.decide(case).codes == ("consent",)
    stricter = Guard.from_text(SESSION_POLICY.replace("defaults: {checkout: allow", "defaults: {checkout: escalate")).policy
    guard.reload(stricter)
    decision = guard.decide(case)
    assert decision.policy == stricter.ref and decision.codes == ("default_outcome", "consent")


def test_a_traced_case_read_before_a_reload_is_traced_on_the_new_policy() -> None:
    from txguard.engine.trace import Trace

    guard = Guard.from_text(SESSION_POLICY, clock=lambda: NOW)
    trace = Trace()
    case = guard.case(checkout(), session=session("c1"), trace=trace)
    guard.reload(Guard.from_text(SESSION_POLICY.replace("defaults: {checkout: allow", "defaults: {checkout: escalate")).policy)
    decision = guard.decide(case)
    assert decision.codes == ("default_outcome", "consent")
    assert [t.rule for t in trace.rules if t.status == "fired"] == [r.rule for r in decision.reasons if not r.rule.startswith("defaults.")]


def test_the_case_holds_the_fail_closed_reason_in_evaluate_order() -> None:
    compiled = Guard.from_text(SESSION_POLICY).policy
    # the proposal's problem comes first, then the request, the session, the facts
    bad = Case.read(compiled, {"name": "nope", "arguments": {}}, {"budget": []}, {"confirmed": 3}, None, lambda: NOW)
    assert bad.problem is not None and bad.problem[0].code == "unknown_tool" and bad.problem[1] == "refuse"
    assert bad.req is None and bad.ses is None and bad.fac is not None
    ctx = Case.read(compiled, checkout(), None, {"confirmed": 3}, None, lambda: NOW)
    assert ctx.problem is not None and ctx.problem[0].code == "malformed_context" and ctx.kind == "checkout"

    def broken() -> datetime:
        raise OSError("no time")

    # a broken clock escalates as internal_error, after the proposal's and the context's problems
    assert evaluate(compiled, checkout(), None, None, None, broken).codes == ("internal_error",)
    assert evaluate(compiled, {"name": "nope"}, None, None, None, broken).codes == ("unknown_tool",)
    assert evaluate(compiled, [], None, None, None, broken).codes == ("malformed",)


def test_the_session_step_traces_what_explain_computes() -> None:
    suite = load_suite(POLICIES / "retail-session.tests.yaml")
    compiled = compile_file(suite.policy_path)
    checked = 0
    for case in suite.cases:
        for n, turn in enumerate(case.turns, 1):
            stores = MemoryStore(), MemoryStore()
            for store in stores:
                play(compiled, case, n - 1, store)
            env = turn.envelope
            want = explain(compiled, env, lambda t=turn: t.at, store=stores[0])
            guard = Guard(compiled, clock=lambda t=turn: t.at, sessions=stores[1])
            trace = Trace()
            got = guard.decide(guard.case(env.get("proposal"), env.get("request"), env.get("session"),
                                          env.get("facts"), trace=trace))
            assert got == want.decision, (case.name, n)
            assert want.session is not None
            assert tuple(trace.session_rules) == want.session.rules, (case.name, n)
            assert (trace.conversation, trace.earlier_events) == (want.session.conversation,
                                                                  want.session.earlier_events)
            checked += 1
    assert checked >= 15
    # no conversation: every session rule is `not checked`
    env = {"proposal": checkout(), "session": session(None)}
    want = explain(compiled, env, lambda: NOW, store=MemoryStore())
    guard = Guard(compiled, clock=lambda: NOW, sessions=MemoryStore())
    trace = Trace()
    guard.decide(guard.case(env["proposal"], session=env["session"], trace=trace))
    assert want.session is not None and tuple(trace.session_rules) == want.session.rules
    assert {t.status for t in trace.session_rules} == {"not checked"}


def test_reasons_are_combined_in_one_place_and_no_decision_is_mutated() -> None:
    """``combine`` is the only builder of a decision from reasons; nothing sets a frozen field."""
    builders: dict[str, list[str]] = {}
    for path in sorted((ROOT / "txguard").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert "object.__setattr__" not in text, path
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef) and node.name in {"join", "combine"}:
                builders.setdefault(node.name, []).append(str(path.relative_to(ROOT)))
    assert builders == {"combine": ["txguard/engine/combine.py"]}


def test_a_step_that_raises_fails_closed_and_is_still_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: Any, **__: Any) -> Any:
        raise RuntimeError("combine exploded")

    monkeypatch.setattr("txguard.engine.combine.combine", boom)
    sink = MemorySink()
    guard = Guard.from_text(SESSION_POLICY, clock=lambda: NOW, sessions=MemoryStore(), audit=sink)
    decision = guard.check(checkout(), session=session("c1"))
    assert decision.codes == ("internal_error",) and decision.route == "human"
    assert decision.reasons[0].message == "RuntimeError: combine exploded"
    (record,) = sink.records()
    assert record.body["decision"]["reasons"][0]["code"] == "internal_error"


def test_a_guard_without_a_store_traces_its_session_rules_as_not_checked() -> None:
    guard = Guard.from_text(SESSION_POLICY, clock=lambda: NOW)
    trace = Trace()
    guard.decide(guard.case(checkout(), session=session("c1"), trace=trace))
    assert [(t.rule, t.status) for t in trace.session_rules] == [("velocity", "not checked")]
    assert "no conversation store" in trace.session_rules[0].why
