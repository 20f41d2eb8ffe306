"""The pre-tool-call step shared by every framework integration."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# -- defaults a tool's JSON Schema fills in (the MCP proxy decides and forwards them) -------------

LINE = {"type": "object", "properties": {"sku": {"type": "string"}, "fee": {"type": "string", "default": "0.00"},
                                         "gift": {"type": "boolean", "default": False}}}
CART_SCHEMA = {
    "type": "object",
    "$defs": {"Line": LINE},
    "properties": {"items": {"type": "array", "items": {"$ref": "#/$defs/Line"}},
                   "merchant": {"type": "string", "default": "house"},
                   "note": {"anyOf": [{"$ref": "#/$defs/Line"}, {"type": "null"}], "default": None}},
}


def test_schema_defaults_are_filled_at_any_depth_and_the_call_is_not_changed_in_place() -> None:
    from txguard.integrations._hook import with_schema_defaults

    call = {"items": [{"sku": "a"}, {"sku": "b", "fee": "1.50"}], "note": {"sku": "n"}}
    filled = with_schema_defaults(call, CART_SCHEMA)
    assert filled == {"items": [{"sku": "a", "fee": "0.00", "gift": False}, {"sku": "b", "fee": "1.50", "gift": False}],
                      "merchant": "house", "note": {"sku": "n", "fee": "0.00", "gift": False}}
    assert call == {"items": [{"sku": "a"}, {"sku": "b", "fee": "1.50"}], "note": {"sku": "n"}}
    assert with_schema_defaults("{not json", CART_SCHEMA) == "{not json"  # left for the guard to refuse


def test_schema_defaults_that_alternatives_disagree_on_or_nest_too_deep_are_refused() -> None:
    from txguard.integrations._hook import SchemaDefaultsError, with_schema_defaults

    split = {"anyOf": [{"type": "object", "properties": {"fee": {"default": "0.00"}}},
                       {"type": "object", "properties": {"fee": {"default": "9.99"}}}]}
    with pytest.raises(SchemaDefaultsError):
        with_schema_defaults({}, split)
    deep: dict[str, Any] = {"type": "object", "properties": {}}
    node: dict[str, Any] = deep
    value: dict[str, Any] = {}
    for _ in range(70):
        child: dict[str, Any] = {"type": "object", "properties": {}}
        node["properties"]["x"] = child
        node = child
    inner: dict[str, Any] = value
    for _ in range(70):
        inner["x"] = {}
        inner = inner["x"]
    with pytest.raises(SchemaDefaultsError):
        with_schema_defaults(value, deep)


@settings(max_examples=100, deadline=None)
@given(fee=st.text(max_size=8), merchant=st.text(max_size=8), n=st.integers(min_value=0, max_value=4))
def test_every_declared_default_reaches_the_decided_call(fee: str, merchant: str, n: int) -> None:
    from txguard.integrations._hook import with_schema_defaults

    schema = copy.deepcopy(CART_SCHEMA)
    schema["$defs"]["Line"]["properties"]["fee"]["default"] = fee
    schema["properties"]["merchant"]["default"] = merchant
    filled = with_schema_defaults({"items": [{"sku": str(i)} for i in range(n)]}, schema)
    assert filled["merchant"] == merchant
    assert [line["fee"] for line in filled["items"]] == [fee] * n
