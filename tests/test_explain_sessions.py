"""``explain`` with session rules: the guard's decision with a store, and each session rule traced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from txguard import compile_file
from txguard.authoring.explain import explain
from txguard.authoring.suite_load import load_suite
from txguard.authoring.suite_run import guard_for, play, run_case, with_session_id
from txguard.cli import main
from txguard.sessions import MemoryStore

from .conftest import POLICIES

SUITE = POLICIES / "retail-session.tests.yaml"
SESSION_RULES = {"checkout-velocity", "clarify-loop", "budgets.user-daily", "session.single_use_confirmations"}


@pytest.fixture(scope="module")
def suite():  # type: ignore[no-untyped-def]
    return load_suite(SUITE)


def _case(suite, name):  # type: ignore[no-untyped-def]
    return next(c for c in suite.cases if c.name == name)


def test_every_turn_of_the_shipped_suite_explains_as_the_guard_decided(suite) -> None:  # type: ignore[no-untyped-def]
    policy = compile_file(suite.policy_path)
    checked = 0
    for case in suite.cases:
        if not case.turns:
            continue
        decided = run_case(guard_for(policy, suite.clock), case)
        for n, turn in enumerate(case.turns, 1):
            store = MemoryStore()
            play(policy, case, n - 1, store)
            earlier = len(store.events(turn.envelope["session"]["id"]))
            result = explain(policy, turn.envelope, lambda t=turn: t.at, store=store)
            want = decided.turns[n - 1].decision
            assert result.decision == want, (case.name, n)
            assert result.session is not None and result.session.earlier_events == earlier
            fired = {t.rule for t in result.session.rules if t.status == "fired"}
            assert fired == {r.rule for r in want.reasons} & SESSION_RULES, (case.name, n)
            assert {t.rule for t in result.session.rules} == SESSION_RULES
            checked += 1
    assert checked >= 15


def test_a_rule_that_does_not_fire_says_what_it_measured(suite) -> None:  # type: ignore[no-untyped-def]
    policy = compile_file(suite.policy_path)
    case = _case(suite, "checkout-velocity")
    store = MemoryStore()
    play(policy, case, 2, store)
    third = case.turns[2]
    result = explain(policy, third.envelope, lambda: third.at, store=store)
    assert result.decision.outcome.value == "allow"
    traces = {t.rule: t for t in result.session.rules}  # type: ignore[union-attr]
    assert traces["checkout-velocity"].status == "not fired"
    assert traces["checkout-velocity"].why == "3 matching events within 5m (the rule fires at 4)"
    assert traces["clarify-loop"].why == "0 matching events in a row (the rule fires at 3)"
    assert traces["budgets.user-daily"].status == "not fired"
    assert traces["session.single_use_confirmations"].status == "not fired"
    # the earlier turns: two confirmations and two decisions
    assert result.session.earlier_events == 4  # type: ignore[union-attr]
    assert result.session.note == ""  # type: ignore[union-attr]


def test_budget_and_single_use_traces_when_they_fire(suite) -> None:  # type: ignore[no-untyped-def]
    policy = compile_file(suite.policy_path)
    for name, rule, code in (("daily-budget", "budgets.user-daily", "budget_exceeded"),
                             ("single-use", "session.single_use_confirmations", "confirmation_used")):
        case = _case(suite, name)
        store = MemoryStore()
        play(policy, case, 1, store)
        t = case.turns[1]
        result = explain(policy, t.envelope, lambda t=t: t.at, store=store)
        traces = {x.rule: x for x in result.session.rules}  # type: ignore[union-attr]
        assert traces[rule].status == "fired" and traces[rule].code == code
        assert traces[rule].why == next(r.message for r in result.decision.reasons if r.rule == rule)


def test_a_json_case_is_a_fresh_conversation(suite) -> None:  # type: ignore[no-untyped-def]
    policy = compile_file(suite.policy_path)
    case = _case(suite, "clarify-loop")
    first = case.turns[0]
    result = explain(policy, first.envelope, lambda: first.at)
    assert result.session is not None and result.session.earlier_events == 0
    assert "a fresh conversation" in result.session.note
    assert result.to_dict()["session"]["conversation"] == "retail-session/clarify-loop"
    assert "session rules (conversation `retail-session/clarify-loop`, 0 earlier events): 4" in result.render()


def test_without_a_session_id_nothing_is_checked(suite) -> None:  # type: ignore[no-untyped-def]
    policy = compile_file(suite.policy_path)
    case = _case(suite, "no-session-id")
    result = explain(policy, case.envelope, lambda: suite.clock)
    assert result.decision.codes == ("session_id_missing",)
    assert result.session is not None and result.session.conversation is None
    assert {t.status for t in result.session.rules} == {"not checked"}
    assert "no conversation id" in result.render()


def test_a_policy_without_session_rules_has_no_session_part() -> None:
    policy = compile_file(POLICIES / "retail.yaml")
    suite = load_suite(POLICIES / "retail.tests.yaml")
    result = explain(policy, suite.cases[0].envelope, lambda: suite.clock)
    assert result.session is None and result.to_dict()["session"] is None
    assert "session rules" not in result.render()


def test_cli_explains_a_turn_of_a_suite_case(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--suite", str(SUITE), "--case", "clarify-loop"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("decision: escalate (route: human) [checkout]")
    assert "2 earlier events" in out and "clarify-loop (count) FIRED: 3 matching events in a row" in out
    assert main(["explain", "--suite", str(SUITE), "--case", "clarify-loop", "--turn", "2", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["decision"]["outcome"] == "clarify"
    rules = {r["rule"]: r for r in doc["session"]["rules"]}
    assert rules["clarify-loop"]["status"] == "not fired" and doc["session"]["earlier_events"] == 1
    # a single-turn case of a stateful policy: its default session id, on the suite's clock
    assert main(["explain", "--suite", str(SUITE), "--case", "case[7]"]) == 0
    assert "conversation `retail-session/case[7]`, 0 earlier events" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "message"), [
    (["--case", "nope"], "no case `nope` in"),
    (["--case", "clarify-loop", "--turn", "4"], "has turns 1 to 3, not 4"),
    (["--case", "case[7]", "--turn", "2"], "has one turn"),
    ([], "--suite needs --case ID"),
])
def test_cli_suite_errors(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--suite", str(SUITE), *args]) == 1
    assert message in capsys.readouterr().err


def test_cli_needs_a_case(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--policy", str(POLICIES / "retail.yaml")]) == 1
    assert "give --policy P and a CASE.json, or --suite FILE --case ID" in capsys.readouterr().err
    case = tmp_path / "c.json"
    case.write_text(json.dumps(dict(with_session_id({"proposal": {"name": "checkout", "arguments": {}}}, "x"))))
    assert main(["explain", "--suite", str(SUITE), "--case", "clarify-loop", str(case)]) == 1
    assert "not both" in capsys.readouterr().err
