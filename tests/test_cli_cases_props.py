"""Differential properties of ``txguard check --cases`` against the per-line loop it replaced
(:func:`tests.test_cli_cases.reference_lines`): a prediction line is exactly ``json.dumps`` of the
row, and any sequence of cases (real ones, the same confirmation on several lines, mutated fields
of any JSON type, malformed lines) gives the same output and the same reports."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr
from dataclasses import replace
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from txguard import CompiledPolicy, Guard, compile_file
from txguard.audit.sinks.memory import MemorySink
from txguard.cli import _lines
from txguard.core.decision import Decision, Outcome, Reason
from txguard.core.jsonio import JSONNumber, read_json

from .conftest import POLICIES
from .test_cli_cases import NOW, allowed_line, corpus_text, reference_lines

ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=12)
"""Any text, lone surrogates, controls and non-ASCII included."""

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=2**64, max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["0.79999999999999999", "1e400", "-0.0", "12.50"]).map(
        JSONNumber), ANY_TEXT)
JSON = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                     st.dictionaries(ANY_TEXT, inner, max_size=3)), max_leaves=8)


@cache
def _policy() -> CompiledPolicy:
    return compile_file(POLICIES / "retail.yaml")


def _reason_field() -> st.SearchStrategy[Any]:
    return st.one_of(ANY_TEXT, ANY_TEXT, st.integers(), st.none())  # a non-string goes to json.dumps itself


@settings(max_examples=300, deadline=None)
@example(case_id=10**30, fields=[("r", "c", "m")], outcome=Outcome.ALLOW, line=1)
@example(case_id=float("nan"), fields=[("r", "c", "\ud800 caf\u00e9 \x00")], outcome=Outcome.CLARIFY, line=2)
@example(case_id="\udfff\u2603", fields=[("r", 1, None)], outcome=Outcome.ESCALATE, line=3)
@example(case_id=None, fields=[], outcome=Outcome.ESCALATE, line=4)
@example(case_id=JSONNumber("1e400"), fields=[], outcome=Outcome.ALLOW, line=5)
@example(case_id=[True, {"a": -0.0}], fields=[("r", "c", "m")], outcome=Outcome.ALLOW, line=6)
@given(case_id=JSON, fields=st.lists(st.tuples(_reason_field(), _reason_field(), _reason_field()), max_size=4),
       outcome=st.sampled_from(list(Outcome)), line=st.integers(min_value=1, max_value=10**9))
def test_a_row_is_exactly_json_dumps_of_it(case_id: Any, fields: list[tuple[Any, Any, Any]], outcome: Outcome,
                                           line: int) -> None:
    reasons = tuple(Reason(rule, code, message, outcome) for rule, code, message in fields)
    decision = Decision(outcome, reasons, _policy().ref)
    want: dict[str, Any] = {"id": case_id, "outcome": outcome.value,
                            "reasons": [{"rule": r, "code": c, "message": m} for r, c, m in fields]}
    if case_id is None:
        want["line"] = line
    assert _lines.encode_row(case_id, decision, line) == json.dumps(want)


@cache
def _pool() -> tuple[dict[str, Any], ...]:
    """Real cases: one the policy allows (its confirmation used), then a spread of the corpus."""
    lines = corpus_text("chat-to-buy-dev.jsonl.gz").splitlines()
    return tuple(read_json(x) for x in [allowed_line(_policy()), *lines[::61]])


PATHS: list[tuple[str, ...]] = [
    ("id",), ("proposal",), ("proposal", "name"), ("proposal", "arguments"), ("proposal", "arguments", "total"),
    ("proposal", "arguments", "currency"), ("proposal", "arguments", "payment_method_id"),
    ("proposal", "arguments", "confidence"), ("proposal", "arguments", "items"), ("request",), ("request", "budget"),
    ("request", "quantity"), ("session",), ("session", "confirmed"), ("session", "authenticated_user_id"),
    ("session", "id"), ("facts",), ("facts", "users"), ("facts", "products"), ("extra",),
]


def _mutated(env: dict[str, Any], path: tuple[str, ...], value: Any, delete: bool) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(env))
    node = out
    for key in path[:-1]:
        if not isinstance(node.get(key), dict):
            return out
        node = node[key]
    if delete:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return out


@st.composite
def _line(draw: st.DrawFn) -> str:
    pool = _pool()
    kind = draw(st.sampled_from(["real", "real", "first", "mutated", "mutated", "raw", "json"]))
    if kind == "raw":
        return draw(st.sampled_from(["", "  ", "not json", "[1]", "null", '{"id": "d", "id": "e"}', "[" * 3000,
                                     '{"id": 1e400, "proposal": {"name": "checkout", "arguments": "{"}}']))
    if kind == "json":
        text = json.dumps(draw(JSON))
        return text if "\n" not in text else "{}"
    env = pool[0] if kind == "first" else draw(st.sampled_from(pool))
    if kind == "mutated":
        env = _mutated(env, draw(st.sampled_from(PATHS)), draw(JSON), draw(st.booleans()))
    return json.dumps(env)


def _run(policy: CompiledPolicy, text: str, fast: bool, audited: bool) -> tuple[str, str, list[str]]:
    """Output, reports and the outcomes recorded in the audit trail."""
    sink = MemorySink() if audited else None
    guard = Guard(policy, clock=lambda: NOW, audit=sink)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stderr(err):
        if fast:
            _lines.decide_lines(guard, io.StringIO(text), out, "p.jsonl", sink)
        else:
            reference_lines(guard, iter(io.StringIO(text)), out, "p.jsonl", sink)
    return out.getvalue(), err.getvalue(), [r.body["decision"]["outcome"] for r in sink.stored] if sink else []


@pytest.mark.parametrize("mode", ["ledger", "stateless", "conversation", "audited"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(lines=st.lists(_line(), min_size=1, max_size=8))
def test_any_sequence_of_cases_gives_the_same_output(mode: str, lines: list[str]) -> None:
    policy = _policy()
    if mode == "stateless":
        policy = replace(policy, session=replace(policy.session, reusable_confirmations=True))
    elif mode == "conversation":
        policy = compile_file(POLICIES / "retail-session.yaml")
    text = "\n".join(lines) + "\n"
    assert _run(policy, text, True, mode == "audited") == _run(policy, text, False, mode == "audited")
