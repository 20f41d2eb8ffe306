"""The pre-tool-call step shared by every framework integration."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from txguard import Guard, Outcome, UsageError
from txguard.audit import open_sink
from txguard.integrations import ToolCallHook, Verdict

from ..conftest import POLICIES
from ._support import consent_case


def test_clarify_then_the_hosts_approval_allows_exactly_that_call(guard: Guard) -> None:
    env = consent_case(guard)
    hook = ToolCallHook(guard, context=env, framework="test")
    call = env["proposal"]
    first = hook.check(call["name"], call["arguments"], call_id="c1")
    assert not first.run and first.needs_approval and first.outcome is Outcome.CLARIFY
    assert "confirm" in first.message.lower()
    approval = first.approval()
    again = hook.check(call["name"], call["arguments"], call_id="c1", approvals=[approval])
    assert again.run and again.message == ""
    assert env["session"]["confirmed"] == []  # the host's context is not changed by an approval


def test_a_call_changed_after_approval_is_not_allowed(guard: Guard) -> None:
    env = consent_case(guard)
    hook = ToolCallHook(guard, context=env, framework="test")
    call = env["proposal"]
    approval = hook.check(call["name"], call["arguments"]).approval()
    args = copy.deepcopy(call["arguments"])
    args = args if isinstance(args, dict) else __import__("json").loads(args)
    args["items"][0]["quantity"] = int(args["items"][0].get("quantity", 1)) + 1
    changed = hook.check(call["name"], args, approvals=[approval])
    assert not changed.run


def test_escalate_and_unapprovable_verdicts(guard: Guard) -> None:
    hook = ToolCallHook(guard, context={}, framework="test")
    verdict = hook.check("checkout", "{not json", call_id="c9")
    assert verdict.outcome is Outcome.ESCALATE and not verdict.run and not verdict.needs_approval
    assert verdict.message
    with pytest.raises(UsageError):
        verdict.approval()
    assert verdict.to_dict()["call_id"] == "c9"


def test_a_failing_context_provider_escalates(guard: Guard) -> None:
    def provider() -> dict[str, Any]:
        raise RuntimeError("facts service down")

    verdict = ToolCallHook(guard, context=provider, framework="test").check("checkout", {})
    assert verdict.outcome is Outcome.ESCALATE


def test_the_audit_record_carries_the_frameworks_call_id(tmp_path: Any) -> None:
    sink = open_sink(f"jsonl:{tmp_path / 'trail.jsonl'}")
    guard = Guard.from_file(POLICIES / "retail.yaml", audit=sink)
    ToolCallHook(guard, context={}, framework="langgraph").check("checkout", "{", call_id="call_42")
    sink.close()
    records = list(open_sink(f"jsonl:{tmp_path / 'trail.jsonl'}", readonly=True).records())
    assert records[-1].body["lineage"]["source"] == {"framework": "langgraph", "call_id": "call_42"}


def test_an_approval_read_back_from_a_stored_payload(guard: Guard) -> None:
    env = consent_case(guard)
    hook = ToolCallHook(guard, context=env, framework="test")
    call = env["proposal"]
    first = hook.check(call["name"], call["arguments"])
    stored = __import__("json").loads(__import__("json").dumps(first.to_dict()))  # as a framework keeps it
    assert Verdict.approval_from(stored) == first.approval()
    assert hook.check(call["name"], call["arguments"], approvals=[Verdict.approval_from(stored)]).run
    for payload in ({}, {"confirmation": None}, {"confirmation": {"digest": ""}}, hook.check("checkout", "{").to_dict()):
        with pytest.raises(UsageError):
            Verdict.approval_from(payload)
