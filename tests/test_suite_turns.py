"""Multi-turn suite cases: one conversation per case, on a clock, located errors, coverage."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from txguard import compile_file, compile_policy
from txguard.authoring.coverage import Coverage
from txguard.authoring.suite import SuiteError, describe_failure
from txguard.authoring.suite_load import parse_suite
from txguard.authoring.suite_run import guard_for, run_case, run_suite
from txguard.cli import main

from .conftest import POLICIES

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)

POLICY = """\
apiVersion: txguard/v1
id: turns
version: "1"
currency: USD
tools:
  checkout: {intent: checkout}
defaults: {checkout: allow}
rules:
  - id: consent
    check: consent
session:
  rules:
    - id: clarify-loop
      count: {where: {outcome: clarify}, in_a_row: true, at_least: 3}
    - id: burst
      count: {where: {kind: checkout}, within: 1m, at_least: 3}
  budgets:
    - {id: daily, amount: "150.00", currency: USD, window: 1d, scope: session}
  single_use_confirmations: true
"""

HEAD = """\
apiVersion: txguard/v1
suite: t
policy: turns.yaml
clock: "2026-01-01T12:00:00Z"
fixtures:
  sessions:
    u1: {authenticated_user_id: u1}
  proposals:
    cart:
      name: checkout
      arguments:
        items: [{sku: s1, product_id: p1, title: Kettle, quantity: 1, unit_price: "100.00"}]
        currency: USD
        total: "100.00"
        payment_method_id: card_1
cases:
"""

LOOP = """\
  - note: the third clarification in a row escalates
    id: loop
    session: u1
    turns:
      - {proposal: cart, want: {outcome: clarify, reasons: [consent]}}
      - {at: "+2m", proposal: cart, want: {outcome: clarify, reasons: [consent]}}
      - {at: "+2m", proposal: cart, want: {outcome: escalate, reasons: [clarify_loop, consent]}}
"""


def _write(tmp_path: Path, cases: str) -> Path:
    (tmp_path / "turns.yaml").write_text(POLICY, encoding="utf-8")
    path = tmp_path / "t.tests.yaml"
    path.write_text(HEAD + cases, encoding="utf-8")
    return path


def _errors(tmp_path: Path, cases: str) -> list[str]:
    path = _write(tmp_path, cases)
    with pytest.raises(SuiteError) as exc:
        parse_suite(path.read_text(encoding="utf-8"), str(path))
    return [f"{d.line}:{d.column}: {d.message}" for d in exc.value.diagnostics]


def _load(tmp_path: Path, cases: str):  # type: ignore[no-untyped-def]
    path = _write(tmp_path, cases)
    return parse_suite(path.read_text(encoding="utf-8"), str(path)), compile_file(tmp_path / "turns.yaml")


def test_turns_resolve_times_turn_numbers_and_one_session_id(tmp_path: Path) -> None:
    suite, _ = _load(tmp_path, LOOP + """\
  - note: absolute and relative times, and a turn without `at` keeps the previous time
    turns:
      - {at: "2026-02-01T08:00:00+01:00", proposal: cart, session: {id: mine, turn: 7}, want: {outcome: clarify}}
      - {at: "+1h", proposal: cart, want: {outcome: clarify}}
      - {proposal: cart, want: {outcome: clarify}}
      - {at: "+2d", proposal: cart, want: {outcome: clarify}}
""")
    loop, times = suite.cases
    assert [t.at for t in loop.turns] == [T0, T0 + timedelta(minutes=2), T0 + timedelta(minutes=4)]
    assert [t.envelope["session"]["turn"] for t in loop.turns] == [1, 2, 3]
    assert {t.envelope["session"]["id"] for t in loop.turns} == {"t/loop"}
    assert loop.envelope == loop.turns[-1].envelope and loop.want == loop.turns[-1].want
    start = datetime(2026, 2, 1, 7, 0, tzinfo=timezone.utc)
    assert [t.at for t in times.turns] == [start, start + timedelta(hours=1), start + timedelta(hours=1),
                                           start + timedelta(days=2, hours=1)]
    assert times.turns[0].envelope["session"] == {"id": "mine", "turn": 7}
    assert "session" not in times.turns[1].envelope   # no session given: nothing invented
    assert [t.line for t in loop.turns] == [len(HEAD.splitlines()) + 5 + i for i in range(3)]


def test_case_keys_apply_to_every_turn_and_turns_override_them(tmp_path: Path) -> None:
    suite, _ = _load(tmp_path, """\
  - note: layered keys
    proposal: cart
    session: u1
    confirmed: [proposal]
    set: {proposal.arguments.merchant: shop-a}
    want: {outcome: allow}
    turns:
      - {}
      - {set: {proposal.arguments.total: "100.00", session.authenticated_user_id: u2}, confirmed: []}
      - {proposal: {name: checkout, arguments: {items: [{sku: s2, product_id: p1, title: K, quantity: 1, unit_price: "5.00"}], currency: USD, total: "5.00", payment_method_id: c}}, want: {outcome: clarify}}
""")
    t1, t2, t3 = suite.cases[0].turns
    assert t1.envelope["proposal"]["arguments"]["merchant"] == "shop-a"
    assert t1.envelope["session"]["confirmed"] == [t1.envelope["proposal"]]   # `proposal` is the turn's own
    assert t2.envelope["session"]["authenticated_user_id"] == "u2"
    assert t2.envelope["session"]["confirmed"] == []                           # the turn's `confirmed: []` wins
    assert t3.envelope["proposal"]["arguments"]["merchant"] == "shop-a"        # the case's set, on the turn's proposal
    assert t3.envelope["session"]["confirmed"] == [t3.envelope["proposal"]]
    assert [t.want.outcome.value for t in (t1, t2, t3)] == ["allow", "allow", "clarify"]


def test_errors_are_located(tmp_path: Path) -> None:
    base = len(HEAD.splitlines())
    errors = _errors(tmp_path, """\
  - note: bad turns
    session: u1
    turns:
      - {at: "2026-01-01T12:00:00", proposal: cart, want: {outcome: clarify}}
      - {at: "+5x", proposal: cart, want: {outcome: clarify}}
      - {proposal: cart, when: now, want: {outcome: clarify}}
      - {proposal: cart}
      - {want: {outcome: allow}}
      - {proposal: nope, want: {outcome: allow}}
  - note: empty
    turns: []
""")
    assert errors == [
        f"{base + 4}:14: `2026-01-01T12:00:00` has no timezone (write e.g. `2026-01-01T12:00:00Z`); "
        "or write `+<n>s`, `+<n>m`, `+<n>h`, `+<n>d` after the previous turn",
        f"{base + 5}:14: Invalid isoformat string: '+5x'; or write `+<n>s`, `+<n>m`, `+<n>h`, `+<n>d` after the previous turn",
        f"{base + 6}:32: unknown key `when` (expected one of: at, confirmed, facts, note, proposal, request, session, set, unset, want)",
        f"{base + 7}:9: every turn needs `want` with at least `outcome` (on the turn or on its case)",
        f"{base + 8}:9: every turn needs a `proposal` (on the turn or on its case)",
        f"{base + 9}:20: unknown proposals fixture `nope` (known: cart)",
        f"{base + 11}:12: expected a non-empty list of turns (each a mapping with `proposal` and `want`)",
    ]


def test_a_relative_first_turn_needs_a_clock(tmp_path: Path) -> None:
    path = tmp_path / "t.tests.yaml"
    (tmp_path / "turns.yaml").write_text(POLICY, encoding="utf-8")
    path.write_text(HEAD.replace('clock: "2026-01-01T12:00:00Z"\n', "") + """\
  - note: no clock anywhere
    turns:
      - {at: "+1m", proposal: cart, want: {outcome: clarify}}
  - note: no clock anywhere either
    turns:
      - {proposal: cart, want: {outcome: clarify}}
""", encoding="utf-8")
    with pytest.raises(SuiteError) as exc:
        parse_suite(path.read_text(encoding="utf-8"), str(path))
    messages = [d.message for d in exc.value.diagnostics]
    assert messages == [
        "`+1m` is relative and there is no earlier time: give the suite a `clock` or the first turn an absolute `at`",
        "the first turn needs a time: give the suite a `clock` or this turn an absolute `at`",
    ]


def test_turns_run_as_one_conversation_on_their_clock(tmp_path: Path) -> None:
    suite, policy = _load(tmp_path, LOOP + """\
  - note: questions spread out still loop; a burst of checkouts does not need a loop
    id: burst
    session: u1
    proposal: cart
    turns:
      - {confirmed: [proposal], want: {outcome: allow}}
      - {at: "+10s", set: {proposal.arguments.total: "10.00", "proposal.arguments.items[0].unit_price": "10.00"}, confirmed: [proposal], want: {outcome: allow}}
      - {at: "+10s", set: {proposal.arguments.total: "20.00", "proposal.arguments.items[0].unit_price": "20.00"}, confirmed: [proposal], want: {outcome: escalate, reasons: [burst]}}
  - note: the same conversation id in another case starts from nothing
    id: fresh
    session: {id: t/loop, authenticated_user_id: u1}
    turns:
      - {proposal: cart, want: {outcome: clarify, reasons: [consent]}}
  - note: budget and single use, across turns and a day
    id: money
    session: u1
    proposal: cart
    confirmed: [proposal]
    turns:
      - {want: {outcome: allow}}
      - {at: "+5m", set: {proposal.arguments.merchant: m2}, want: {outcome: escalate, reasons: [budget_exceeded]}}
      - {at: "+1d", want: {outcome: clarify, reasons: [confirmation_used]}}
""")
    results = run_suite(suite, policy)
    assert [r.passed for r in results] == [True, True, True, True], [r.diffs for r in results]
    loop = results[0]
    assert [t.decision.outcome.value for t in loop.turns] == ["clarify", "clarify", "escalate"]
    assert loop.decision is loop.turns[-1].decision


def test_a_failing_turn_is_reported_with_its_index_and_location(tmp_path: Path) -> None:
    suite, policy = _load(tmp_path, LOOP.replace("{outcome: escalate, reasons: [clarify_loop, consent]}",
                                                 "{outcome: clarify}"))
    result = run_case(guard_for(policy, suite.clock),
                      suite.cases[0])
    assert not result.passed
    where = f"{suite.file}:{suite.cases[0].turns[2].line}:{suite.cases[0].turns[2].column}"
    assert result.diffs == (f"turn 3 ({where}): outcome: want clarify, got escalate",)
    text = describe_failure(result)
    assert f"turn 3 at {where} (2026-01-01T12:04:00+00:00)" in text
    assert "clarify-loop [clarify_loop, escalate]: 3 matching events" in text
    assert "turn 1" not in text   # passing turns are not repeated


def test_single_turn_cases_of_a_stateful_policy_are_one_turn_conversations(tmp_path: Path) -> None:
    suite, policy = _load(tmp_path, """\
  - note: the default session id keeps the session layer working
    proposal: cart
    session: u1
    confirmed: [proposal]
    want: {outcome: allow, reasons: []}
  - note: the same again in another case is a fresh conversation (its confirmation is unused)
    proposal: cart
    session: u1
    confirmed: [proposal]
    want: {outcome: allow, reasons: []}
  - note: an explicit null id is kept, and the guard says so
    proposal: cart
    session: u1
    confirmed: [proposal]
    set: {session.id: null}
    want: {outcome: escalate, reasons: [session_id_missing]}
  - note: over the budget in one turn
    proposal: cart
    session: u1
    confirmed: [proposal]
    set: {proposal.arguments.total: "200.00", "proposal.arguments.items[0].unit_price": "200.00"}
    want: {outcome: escalate, reasons: [budget_exceeded]}
""")
    results = run_suite(suite, policy)
    assert [r.diffs for r in results] == [(), (), (), ()]


def test_coverage_counts_session_rules_budgets_and_single_use(tmp_path: Path) -> None:
    suite, policy = _load(tmp_path, LOOP)
    cov = Coverage(policy)
    for r in run_suite(suite, policy):
        cov.add_result(r)
    assert cov.rule_ids == ["consent", "burst", "clarify-loop", "budgets.daily", "session.single_use_confirmations"]
    assert cov.never_fired == ["burst", "budgets.daily", "session.single_use_confirmations"]
    assert cov.fired["consent"] == 3 and cov.fired["clarify-loop"] == 1
    assert cov.codes == ["budget_exceeded", "burst", "clarify_loop", "confirmation_used", "consent"]
    assert cov.never_asserted == ["budget_exceeded", "burst", "confirmation_used"]
    assert cov.percent == pytest.approx(40.0)


def test_policies_without_session_sections_are_unchanged() -> None:
    plain = compile_policy(POLICY.split("session:")[0], "p.yaml")
    assert not plain.session.needs_session_id
    cov = Coverage(plain)
    assert cov.rule_ids == ["consent"] and cov.codes == ["consent"]


def test_cli_reports_turns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, LOOP.replace("reasons: [clarify_loop, consent]", "reasons: [consent]"))
    assert main(["test", str(path)]) == 2
    out = capsys.readouterr().out
    assert "FAIL" in out and "turn 3 at" in out and "missing" not in out and "unexpected clarify_loop" in out
    assert main(["test", str(path), "--format", "json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    turns = doc["suites"][0]["cases"][0]["turns"]
    assert [t["status"] for t in turns] == ["pass", "pass", "fail"]
    assert turns[2]["got"] == {"outcome": "escalate", "reasons": ["clarify_loop", "consent"], "route": "human"}
    assert turns[1]["at"] == "2026-01-01T12:02:00+00:00"


def test_shipped_session_suite_covers_every_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", str(POLICIES / "retail-session.tests.yaml"), "--fail-under", "100"]) == 0
    assert "17/17 rules fired (100.0%)" in capsys.readouterr().out


def test_pytest_plugin_runs_multi_turn_cases(tmp_path: Path) -> None:
    from .test_plugin import _pytest

    _write(tmp_path, LOOP + LOOP.replace("id: loop", "id: loop-wrong").replace(
        "reasons: [clarify_loop, consent]}", "reasons: [consent]}"))
    proc = _pytest(["-p", "txguard.pytest_plugin", "t.tests.yaml"], tmp_path)
    assert "1 failed, 1 passed" in proc.stdout, proc.stdout
    assert "turn 3 at" in proc.stdout and "unexpected clarify_loop" in proc.stdout
