"""Adversarial corners of the decision pipeline (review of issue 10): every path ends in a
fail-closed decision with the right reason, never an allow and never an exception out of ``check``
or ``decide``; ``txguard check`` and ``txguard explain`` decide a case alike."""

from __future__ import annotations

import json
import secrets
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from txguard import ConsentSigner, Guard, Outcome, compile_file
from txguard.audit import MemorySink
from txguard.authoring.explain import explain
from txguard.cli import main
from txguard.core.observe import Observer
from txguard.sessions import MemoryStore, open_store

from .helpers import POLICIES, RETAIL, checkout_args, envelope, line

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
SESSION_POLICY = POLICIES / "retail-session.yaml"


def _env(**kw: Any) -> dict[str, Any]:
    env = envelope(checkout_args(), **kw)
    env["session"]["id"] = "conv-1"
    return env


@pytest.mark.parametrize("reading", [datetime(2026, 3, 1, 12), "2026-03-01T12:00:00Z", date(2026, 3, 1), 0, 1.5e9],
                         ids=["naive", "text", "date", "int", "float"])
@pytest.mark.parametrize("layers", [(), ("audit",), ("sessions",)])
def test_a_clock_that_returns_no_aware_datetime_escalates_internal_error(reading: Any, layers: tuple[str, ...]) -> None:
    sink = MemorySink()
    kw: dict[str, Any] = {}
    if "audit" in layers:
        kw["audit"] = sink
    if "sessions" in layers:
        kw["sessions"] = open_store("memory:")
    guard = Guard.from_file(RETAIL, clock=lambda: reading, **kw)
    decision = guard.check_envelope(_env())
    assert decision.outcome is Outcome.ESCALATE
    assert decision.codes == ("internal_error",)
    assert "timezone-aware" in decision.reasons[0].message
    if "audit" in layers:
        assert len(list(sink.records())) == 1


def test_a_case_read_by_another_guard_is_decided_with_the_deciding_guards_keys() -> None:
    policy = compile_file(RETAIL)
    signer = ConsentSigner(secrets.token_bytes(32), key_id="host-1")
    trusting = Guard(policy, clock=lambda: NOW, consent_keys=signer)
    keyless = Guard(policy, clock=lambda: NOW)
    env = envelope(checkout_args(), confirm=False)
    intent = keyless.case(env["proposal"], None, env["session"], env["facts"]).intent
    env["session"]["confirmed"] = [{"token": signer.issue(intent, expires_at=NOW + timedelta(minutes=5))}]
    assert trusting.independent().check_envelope(env).allowed
    assert keyless.check_envelope(env).codes == ("consent",)
    case = trusting.case(env["proposal"], None, env["session"], env["facts"])
    # the keyless guard holds no key: the token it cannot verify confirms nothing
    assert keyless.decide(case).codes == ("consent",)
    assert trusting.decide(case).allowed


@pytest.mark.parametrize("bad", [None, "case", {"proposal": {"name": "checkout"}}, object()])
def test_decide_on_something_not_a_case_fails_closed_without_raising(bad: Any) -> None:
    guard = Guard.from_file(RETAIL, clock=lambda: NOW, audit=MemorySink())
    decision = guard.decide(bad)
    assert decision.outcome is Outcome.ESCALATE and decision.codes == ("internal_error",)


def test_a_case_decided_twice_consumes_its_confirmation_once() -> None:
    guard = Guard.from_file(RETAIL, clock=lambda: NOW)
    env = _env()
    case = guard.case(env["proposal"], None, env["session"], env["facts"])
    assert guard.decide(case).allowed
    assert guard.decide(case).codes == ("confirmation_used",)


def test_explain_with_a_raising_clock_escalates_as_check_does() -> None:
    def broken() -> datetime:
        raise RuntimeError("clock down")

    policy = compile_file(RETAIL)
    checked = Guard(policy, clock=broken).check_envelope(_env())
    explained = explain(policy, _env(), broken).decision
    assert checked.codes == explained.codes == ("internal_error",)


class _Raising(Observer):
    def on_decision(self, *args: Any, **kw: Any) -> None:
        raise RuntimeError("observer down")

    def on_audit_append(self, *args: Any, **kw: Any) -> None:
        raise RuntimeError("observer down")

    def on_shadow(self, *args: Any, **kw: Any) -> None:
        raise RuntimeError("observer down")


class _BrokenSink(MemorySink):
    def append(self, entry: Any) -> None:
        raise OSError("disk full")


def test_a_raising_sink_escalates_audit_unavailable_whatever_the_observers_do() -> None:
    guard = Guard.from_file(RETAIL, clock=lambda: NOW, audit=_BrokenSink(), observers=[_Raising()], shadow=RETAIL)
    decision = guard.check_envelope(_env())
    assert decision.codes == ("audit_unavailable",)
    ok = Guard.from_file(RETAIL, clock=lambda: NOW, audit=MemorySink(), observers=[_Raising()], shadow=RETAIL)
    assert ok.check_envelope(_env()).allowed


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    assert main(list(argv)) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


@pytest.mark.parametrize("sid", ["conv-1", None], ids=["with-id", "without-id"])
def test_txguard_check_and_explain_agree_on_a_policy_that_keeps_state(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], sid: str | None) -> None:
    # 899.99 USD in one checkout: past retail-session.yaml's 700.00 USD per user per day
    env = envelope(checkout_args(line("S-ESP-1", "P-ESP", "Espresso Machine", unit_price="899.99")))
    if sid is not None:
        env["session"]["id"] = sid
    case = tmp_path / "case.json"
    case.write_text(json.dumps(env))
    checked = _cli(capsys, "check", "--policy", str(SESSION_POLICY), "--format", "json", str(case))
    explained = _cli(capsys, "explain", "--policy", str(SESSION_POLICY), "--format", "json", str(case))["decision"]
    assert checked["outcome"] == explained["outcome"] == "escalate"
    assert [r["code"] for r in checked["reasons"]] == [r["code"] for r in explained["reasons"]]
    cases = tmp_path / "cases.jsonl"
    cases.write_text(json.dumps({"id": "c", **env}) + "\n" + json.dumps({"id": "d", **env}) + "\n")
    out = tmp_path / "out.jsonl"
    assert main(["check", "--policy", str(SESSION_POLICY), "--cases", str(cases), "--out", str(out)]) == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["outcome"] for r in rows] == ["escalate", "escalate"]  # each case its own world, budgets applied
    assert [[x["code"] for x in r["reasons"]] for r in rows] == [[r["code"] for r in checked["reasons"]]] * 2


def test_a_guard_with_a_store_and_one_without_agree_on_a_lone_case_with_explain() -> None:
    policy = compile_file(SESSION_POLICY)
    env = _env()
    stored = Guard(policy, clock=lambda: NOW, sessions=MemoryStore()).check_envelope(env)
    assert explain(policy, env, lambda: NOW).decision.codes == stored.codes


def test_a_model_proposal_whose_kind_raises_is_malformed_not_an_exception_out_of_check() -> None:
    from pydantic import BaseModel

    class Hostile(BaseModel):
        @property
        def kind(self) -> str:
            raise RuntimeError("boom")

    for layers, code in (({}, "malformed"), ({"sessions": MemoryStore()}, "malformed"),
                         ({"audit": MemorySink()}, "audit_unavailable")):  # the record cannot read it either
        decision = Guard.from_file(RETAIL, clock=lambda: NOW, **layers).check(Hostile())
        assert decision.outcome is Outcome.ESCALATE and decision.codes == (code,)


def test_tracing_never_changes_a_decision_when_the_session_evaluator_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    # the evaluator's failure is session_engine_error (and the decision event is logged); the
    # tracer re-measuring the same rule must not turn it into a store error that logs nothing
    from txguard.engine.trace import Trace
    from txguard.sessions import _rules, _trace

    def broken(*args: Any, **kw: Any) -> str | None:
        raise RuntimeError("evaluator down")

    monkeypatch.setattr(_rules, "fire", broken)
    monkeypatch.setattr(_trace, "fire", broken)
    # txguard's evaluator settles a decision on which no rule can fire by compiled gates, without
    # `fire` (txguard/sessions/_gates.py): the evaluator itself fails too
    monkeypatch.setattr(_rules.OwnEvaluator, "evaluate", broken)
    policy = compile_file(SESSION_POLICY)
    outcomes = []
    for trace in (None, Trace()):
        store = MemoryStore()
        guard = Guard(policy, clock=lambda: NOW, sessions=store)
        env = _env()
        decision = guard.decide(guard.case(env["proposal"], None, env["session"], env["facts"], trace=trace))
        with store.transaction("conv-1") as tx:
            logged = len(tx.events())
        outcomes.append((decision.codes, logged))
    assert outcomes[0] == outcomes[1]
    assert "session_engine_error" in outcomes[0][0]


def test_explain_of_a_later_turn_sees_the_confirmations_the_earlier_turns_used(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a policy with no session section: `txguard test` still plays the turns as one conversation
    base = (POLICIES / "retail-session.tests.yaml").read_text(encoding="utf-8")
    head = base[:base.index("\ncases:")].replace("policy: retail-session.yaml", f"policy: {RETAIL}")
    suite = tmp_path / "reuse.tests.yaml"
    suite.write_text(head + """
cases:
  - note: the same confirmation twice
    id: reuse
    proposal: hose
    request: hose
    session: anya
    facts: anya
    confirmed: [proposal]
    turns:
      - {want: {outcome: allow}}
      - {at: "+1m", want: {outcome: clarify, reasons: [confirmation_used]}}
""", encoding="utf-8")
    assert main(["test", str(suite)]) == 0
    capsys.readouterr()
    explained = _cli(capsys, "explain", "--suite", str(suite), "--case", "reuse", "--turn", "2", "--format", "json")
    assert [r["code"] for r in explained["decision"]["reasons"]] == ["confirmation_used"]


@pytest.mark.parametrize("url", ["jsonl", "sqlite"])
def test_a_case_with_a_record_id_decided_twice_writes_one_record_and_withholds_the_second(
        tmp_path: Path, url: str) -> None:
    from txguard.audit import open_sink
    from txguard.core.ids import uuid7

    sink = open_sink(f"{url}:{tmp_path / ('a.jsonl' if url == 'jsonl' else 'a.db')}")
    guard = Guard.from_file(RETAIL, clock=lambda: NOW, audit=sink)
    env = _env()
    case = guard.case(env["proposal"], None, env["session"], env["facts"], record_id=uuid7())
    assert guard.decide(case).allowed
    again = guard.decide(case)
    assert again.codes == ("audit_unavailable",) and "already written" in again.reasons[0].message
    sink.close()  # a second record under the same id failed the sqlite batch here, the first allow's record with it
    reader = open_sink(f"{url}:{tmp_path / ('a.jsonl' if url == 'jsonl' else 'a.db')}", readonly=True)
    assert len(list(reader.records())) == 1
    reader.close()
