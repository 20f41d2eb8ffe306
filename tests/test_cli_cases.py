"""``txguard check --cases``: the fast loop (``txguard.cli._lines``) writes exactly what the per-line
loop it replaced wrote (kept here as :func:`reference_lines`), on both corpora and on adversarial
lines, and decides every case as its own world (no confirmation used by one case is used for
another)."""

from __future__ import annotations

import gzip
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from txguard import CompiledPolicy, Guard, compile_file
from txguard.audit import AuditSink
from txguard.authoring.corpus import numbered_lines
from txguard.authoring.suite import SuiteError
from txguard.audit.sinks.memory import MemorySink
from txguard.cli import _lines, main
from txguard.core.decision import Decision, Outcome, Reason
from txguard.core.jsonio import read_json
from txguard.engine import combine as combine_module
from txguard.sessions import MemoryStore

from .conftest import CORPUS, POLICIES

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def _now() -> datetime:
    return NOW


def reference_lines(guard: Guard, source: Iterator[str], out: io.StringIO, name: str, sink: AuditSink | None) -> None:
    """The loop of ``check --cases`` before issue 13: a new world per case (``independent()``, or a
    new guard and store for a policy that keeps a conversation), ``json.dumps`` per row."""
    for n, line in enumerate(source, 1):
        if not line.strip():
            continue
        problem = None
        try:
            envelope = read_json(line)
        except (ValueError, RecursionError) as exc:
            envelope, problem = None, f"{name}:{n}: malformed line: {str(exc)[:120]}"
        case_id = envelope.get("id") if isinstance(envelope, dict) else None
        if problem is not None or not isinstance(envelope, dict):
            problem = problem or f"{name}:{n}: malformed line: not a JSON object"
            print(problem, file=sys.stderr)
            if sink is not None:
                decision = guard.check_envelope(None)
            else:
                decision = Decision(Outcome.ESCALATE, (Reason("txguard:malformed", "malformed", problem,
                                                              Outcome.ESCALATE),), guard.policy.ref, route="refuse")
        else:
            if guard.policy.session.needs_session_id:
                world = Guard(guard.policy, clock=guard.clock, audit=sink, sessions=MemoryStore())
            else:
                world = guard.independent()
            decision = world.check_envelope(envelope)
        row: dict[str, Any] = {"id": case_id, "outcome": decision.outcome.value,
                               "reasons": [{"rule": r.rule, "code": r.code, "message": r.message}
                                           for r in decision.reasons]}
        if case_id is None:
            row["line"] = n
        out.write(json.dumps(row) + "\n")


def both(policy: CompiledPolicy, text: str, capsys: pytest.CaptureFixture[str], *,
         audited: bool = False) -> tuple[tuple[str, str], tuple[str, str]]:
    """(stdout, stderr) of the fast loop and of the reference on ``text``, each on a new guard."""
    results = []
    for fast in (True, False):
        sink = MemorySink() if audited else None
        guard = Guard(policy, clock=_now, audit=sink)
        out = io.StringIO()
        if fast:
            _lines.decide_lines(guard, io.StringIO(text), out, "cases.jsonl", sink)
        else:
            reference_lines(guard, iter(io.StringIO(text)), out, "cases.jsonl", sink)
        if sink is not None:  # one record per case, the same outcomes
            out.write("".join(f"{r.body['decision']['outcome']}\n" for r in sink.stored))
        results.append((out.getvalue(), capsys.readouterr().err))
    return results[0], results[1]


def corpus_text(name: str) -> str:
    with gzip.open(CORPUS / name, "rt", encoding="utf-8") as fh:
        return fh.read()


@pytest.fixture(scope="module")
def retail() -> CompiledPolicy:
    return compile_file(POLICIES / "retail.yaml")


def reusable(policy: CompiledPolicy) -> CompiledPolicy:
    return replace(policy, session=replace(policy.session, reusable_confirmations=True))


@pytest.mark.parametrize(("corpus", "policy_file"), [
    ("chat-to-buy-dev.jsonl.gz", "retail.yaml"),
    ("tau-retail-dev.jsonl.gz", "tau-retail.yaml"),
    ("chat-to-buy-dev.jsonl.gz", "retail-session.yaml"),
])
def test_both_corpora_twice_give_the_same_bytes_and_each_copy_the_same_rows(
        corpus: str, policy_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    policy = compile_file(POLICIES / policy_file)
    text = corpus_text(corpus)
    fast, ref = both(policy, text + text, capsys)
    assert fast == ref
    rows = fast[0].splitlines()
    half = len(rows) // 2
    assert rows[:half] == rows[half:]  # a case decided after the whole corpus is decided as before it
    outcomes = {json.loads(r)["outcome"] for r in rows}
    assert outcomes == {"allow", "clarify", "escalate"} or policy.session.needs_session_id


def test_a_reusable_confirmation_policy_and_an_audit_sink_give_the_same_bytes(
        retail: CompiledPolicy, capsys: pytest.CaptureFixture[str]) -> None:
    text = corpus_text("chat-to-buy-dev.jsonl.gz")
    lines = text.splitlines(keepends=True)[:150]
    sample = "".join(lines + ["not json\n", "[1]\n"] + lines[:40])
    fast, ref = both(reusable(retail), sample, capsys)
    assert fast == ref
    fast, ref = both(retail, sample, capsys, audited=True)
    assert fast == ref
    assert fast[0].count("\n") == 2 * (len(lines) + 42)  # a row and a record per case


def allowed_line(policy: CompiledPolicy) -> str:
    """The first chat-to-buy dev case the policy allows (it carries the confirmation it uses)."""
    for line in corpus_text("chat-to-buy-dev.jsonl.gz").splitlines():
        if Guard(policy, clock=_now).check_envelope(read_json(line)).outcome is Outcome.ALLOW:
            return line
    raise AssertionError("no case is allowed")


def test_one_confirmation_authorises_every_case_that_carries_it(
        retail: CompiledPolicy, capsys: pytest.CaptureFixture[str]) -> None:
    line = allowed_line(retail)
    env = read_json(line)
    other = json.dumps({**env, "id": "same-confirmation"})
    fast, ref = both(retail, "\n".join([line, line, other, line]) + "\n", capsys)
    assert fast == ref
    assert [json.loads(r)["outcome"] for r in fast[0].splitlines()] == ["allow"] * 4
    guard = Guard(retail, clock=_now)  # one world: the confirmation is used once
    first, second = guard.check_envelope(env), guard.check_envelope(env)
    assert first.outcome is Outcome.ALLOW and "confirmation_used" in second.codes


def test_a_decision_that_fails_after_using_a_confirmation_leaks_nothing(
        retail: CompiledPolicy, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Combine fails on the first case, after the ledger consumed its confirmation: internal_error;
    the same case on the next line is still allowed (a new world)."""
    line = allowed_line(retail)
    real = combine_module.combine
    calls = [0]

    def failing_once(*args: Any) -> Decision:
        calls[0] += 1
        if calls[0] == 1:
            raise RuntimeError("boom")
        return real(*args)

    results = []
    for fast in (True, False):
        calls[0] = 0
        monkeypatch.setattr(combine_module, "combine", failing_once)
        guard = Guard(retail, clock=_now)
        out = io.StringIO()
        text = "\n".join([line] * 3) + "\n"
        if fast:
            _lines.decide_lines(guard, io.StringIO(text), out, "c", None)
        else:
            reference_lines(guard, iter(io.StringIO(text)), out, "c", None)
        results.append(out.getvalue())
    capsys.readouterr()
    assert results[0] == results[1]
    rows = [json.loads(r) for r in results[0].splitlines()]
    assert [r["outcome"] for r in rows] == ["escalate", "allow", "allow"]
    assert rows[0]["reasons"][0]["code"] == "internal_error"


ADVERSARIAL = [
    '{"id": "a", ', "not json", "", "   ", "\t", "\u2003", "\ufeff{}", "[1, 2]", '"text"', "42", "null", "true",
    '{"id": "dup", "id": "dup2"}',
    '{"id": "d2", "proposal": {"name": "checkout", "arguments": {"total": "1", "total": "2"}}}',
    '{"id": 123456789012345678901234567890123, "proposal": null}',
    '{"id": "big", "proposal": {"name": "checkout", "arguments": {"items": '
    '[{"sku": "1", "quantity": 100000000000000000000000000001}], "total": 1e400}}}',
    '{"id": 1.5}', '{"id": 0.79999999999999999}', '{"id": 1e400}', '{"id": NaN}', '{"id": -Infinity}',
    '{"id": [1, {"a": "b"}]}', '{"id": true}', '{"id": {}}', '{"id": "\\ud800"}', '{"id": "caf\u00e9 \u2603"}',
    '{"id": "x\\u0000y\\n\\"z\\\\"}', '{"id": "\\u00e9\\udfff"}', "{}", '{"proposal": "checkout"}',
    '{"id": "wrong", "proposal": {"name": "checkout", "arguments": "{\\"total\\": true}"}, "session": 7}',
    "[" * 5000, "9" * 5000, '{"id": ' + "[" * 3000 + "]" * 3000 + "}",
]


@pytest.mark.parametrize("policy_file", ["retail.yaml", "retail-session.yaml"])
def test_adversarial_lines_give_the_same_bytes_and_reports(policy_file: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    policy = compile_file(POLICIES / policy_file)
    real = corpus_text("chat-to-buy-dev.jsonl.gz").splitlines()[:6]
    lines = [*real, *ADVERSARIAL, real[0], allowed_line(compile_file(POLICIES / "retail.yaml")), *real]
    text = "\n".join(lines) + "\n"
    for audited in (False, True):
        fast, ref = both(policy, text, capsys, audited=audited)
        assert fast == ref
        assert "malformed line" in fast[1]


def test_the_command_writes_what_the_loop_writes(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 retail: CompiledPolicy) -> None:
    real = corpus_text("chat-to-buy-dev.jsonl.gz").splitlines()[:30]
    text = "\n".join([*real, *ADVERSARIAL, *real]) + "\n"
    cases = tmp_path / "cases.jsonl.gz"
    with gzip.open(cases, "wt", encoding="utf-8") as fh:
        fh.write(text)
    assert main(["check", "--policy", str(POLICIES / "retail.yaml"), "--cases", str(cases),
                 "--out", str(tmp_path / "out.jsonl")]) == 0
    err = capsys.readouterr().err
    ref = io.StringIO()
    reference_lines(Guard(retail), iter(io.StringIO(text)), ref, str(cases), None)
    assert (tmp_path / "out.jsonl").read_text(encoding="utf-8") == ref.getvalue()
    assert err.startswith(capsys.readouterr().err)
    assert main(["check", "--policy", str(POLICIES / "retail.yaml"), "--cases", str(cases)]) == 0
    assert capsys.readouterr().out == ref.getvalue()


def test_the_lines_decided_before_an_unreadable_one_are_written(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    real = corpus_text("chat-to-buy-dev.jsonl.gz").splitlines()[:40]
    cases = tmp_path / "cases.jsonl"
    cases.write_bytes(("\n".join(real) + "\n").encode() + b'{"id": "\xff"}\n')
    readable = 0  # the lines the text reader yields before it fails (it decodes in chunks)
    with pytest.raises(SuiteError), open(cases, encoding="utf-8") as fh:
        for _ in numbered_lines(fh, "x"):
            readable += 1
    assert readable > 10
    out = tmp_path / "out.jsonl"
    assert main(["check", "--policy", str(POLICIES / "retail.yaml"), "--cases", str(cases), "--out", str(out)]) == 1
    assert "cannot read" in capsys.readouterr().err
    assert [json.loads(r)["id"] for r in out.read_text(encoding="utf-8").splitlines()] == [
        read_json(x)["id"] for x in real[:readable]]


class _Recorded(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty
        self.writes = 0

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


@pytest.mark.parametrize("tty", [True, False])
def test_a_terminal_gets_each_line_as_it_is_decided(tty: bool, retail: CompiledPolicy) -> None:
    text = "\n".join(corpus_text("chat-to-buy-dev.jsonl.gz").splitlines()[:20]) + "\n"
    out = _Recorded(tty)
    _lines.decide_lines(Guard(retail, clock=_now), io.StringIO(text), out, "c", None)
    assert out.getvalue().count("\n") == 20
    assert out.writes == (20 if tty else 1)
