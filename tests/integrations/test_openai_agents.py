"""txguard in the OpenAI Agents SDK, against the real package and its scripted model (no network)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from typing_extensions import TypedDict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from agents import Agent, FunctionTool, RunConfig, Runner, RunState, ToolInputGuardrailData, function_tool
from agents.mcp import MCPServerStdio
from agents.testing import ScriptedModel, assistant_message, function_call
from agents.tool_context import ToolContext

from txguard import Guard, Outcome
from txguard.audit import open_sink
from txguard.integrations.openai_agents import OpenAIAgentsGuard

from ..conftest import POLICIES
from ._support import (changed, confirmed_case, consent_case, escalate_case, event_loop_of_the_test, lineage_sources,
                       run_async)

NO_TRACING = RunConfig(tracing_disabled=True)


class Item(TypedDict):
    sku: str
    product_id: str
    title: str
    quantity: int
    unit_price: str

__all__ = ["event_loop_of_the_test"]  # the autouse fixture applies to this module's tests


class Shop:
    """A checkout tool that records every call it receives, exactly as the SDK hands it over."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []

    def tool(self) -> FunctionTool:
        async def invoke(ctx: ToolContext[Any], arguments: str) -> str:
            self.received.append(json.loads(arguments))
            return f"order #{len(self.received)} placed"

        return FunctionTool(name="checkout", description="Place the order.", params_json_schema={"type": "object"},
                            on_invoke_tool=invoke, strict_json_schema=False)


def _agent(g: OpenAIAgentsGuard, shop: Shop, calls: list[Any]) -> tuple[Agent[Any], ScriptedModel]:
    model = ScriptedModel([[call] for call in calls] + [[assistant_message("done")]])
    return Agent(name="shop", model=model, tools=[g.protect(shop.tool())]), model


def _audited(tmp_path: Path) -> tuple[Guard, Any, Path]:
    path = tmp_path / "trail.jsonl"
    sink = open_sink(f"jsonl:{path}")
    return Guard.from_file(POLICIES / "retail.yaml", audit=sink), sink, path


def _lineage(path: Path) -> list[dict[str, Any]]:
    return lineage_sources(path)


def _tool_outputs(model: ScriptedModel) -> list[str]:
    """What the model was told each tool call returned (the input of its last call)."""
    items = model.calls[-1].input
    return [str(i["output"]) for i in items if isinstance(i, dict) and i.get("type") == "function_call_output"]


def test_allow_runs_the_tool_once_with_the_decided_arguments_and_decides_once(guard: Guard, tmp_path: Path) -> None:
    env = confirmed_case(guard)
    audited, sink, path = _audited(tmp_path)
    shop = Shop()
    g = OpenAIAgentsGuard(audited, context=env)
    agent, model = _agent(g, shop, [function_call("checkout", env["proposal"]["arguments"], call_id="call_ok")])
    result = Runner.run_sync(agent, "buy the sunglasses", run_config=NO_TRACING)
    sink.close()
    assert result.interruptions == []
    assert shop.received == [env["proposal"]["arguments"]]
    assert _tool_outputs(model) == ["order #1 placed"]
    assert _lineage(path) == [{"framework": "openai-agents", "call_id": "call_ok"}]  # one decision, the SDK's call id


def test_clarify_pauses_and_the_hosts_approval_runs_exactly_the_confirmed_call(guard: Guard, tmp_path: Path) -> None:
    env = consent_case(guard)
    audited, sink, path = _audited(tmp_path)
    shop = Shop()
    g = OpenAIAgentsGuard(audited, context=env)
    agent, model = _agent(g, shop, [function_call("checkout", env["proposal"]["arguments"], call_id="call_7")])

    async def run() -> None:
        first = await Runner.run(agent, "buy the sunglasses", run_config=NO_TRACING)
        assert shop.received == [] and len(first.interruptions) == 1
        item = first.interruptions[0]
        verdict = g.pending(item)
        assert verdict.outcome is Outcome.CLARIFY and verdict.confirmation is not None
        assert verdict.call.call_id == "call_7"
        state = first.to_state()
        g.approve(state, item)
        resumed = await Runner.run(agent, state, run_config=NO_TRACING)
        assert resumed.final_output == "done"

    run_async(run())
    sink.close()
    assert shop.received == [env["proposal"]["arguments"]]
    assert _tool_outputs(model) == ["order #1 placed"]
    assert env["session"]["confirmed"] == []  # the approval lives with the call, not in the host's context
    assert _lineage(path) == [{"framework": "openai-agents", "call_id": "call_7"}] * 2  # clarify, then allow


def test_a_call_changed_after_approval_is_caught(guard: Guard) -> None:
    env = consent_case(guard)
    shop = Shop()
    g = OpenAIAgentsGuard(guard, context=env)
    agent, model = _agent(g, shop, [function_call("checkout", env["proposal"]["arguments"], call_id="call_8")])
    first = Runner.run_sync(agent, "buy the sunglasses", run_config=NO_TRACING)
    item = first.interruptions[0]
    g.approve(first.to_state(), item)
    # The call reaches the guardrail with other arguments than the ones the user approved.
    edited = json.dumps(changed(item.arguments))
    ctx = ToolContext(context=None, tool_name="checkout", tool_call_id="call_8", tool_arguments=edited)
    out = run_async(g.input_guardrail.run(ToolInputGuardrailData(context=ctx, agent=agent)))
    assert out.behavior["type"] == "reject_content" and "confirm" in out.behavior["message"].lower()
    assert out.output_info["outcome"] == "clarify"
    assert shop.received == []


def test_raw_arguments_repeating_a_key_are_decided_again_and_refused(guard: Guard) -> None:
    env = confirmed_case(guard)
    args = env["proposal"]["arguments"]
    args = args if isinstance(args, dict) else json.loads(args)
    g = OpenAIAgentsGuard(guard, context=env)
    # The SDK parses the raw text keeping the last value: the approval callback sees the confirmed call.
    assert run_async(g.needs_approval("checkout")(None, dict(args), "call_d")) is False  # type: ignore[arg-type]
    raw = '{"payment_method_id": "someone_elses_card", ' + json.dumps(args)[1:]
    assert json.loads(raw) == args
    ctx = ToolContext(context=None, tool_name="checkout", tool_call_id="call_d", tool_arguments=raw)
    out = run_async(g.input_guardrail.run(ToolInputGuardrailData(context=ctx, agent=Agent(name="shop"))))
    assert out.behavior["type"] == "reject_content"
    assert out.output_info["outcome"] == "escalate" and [r["code"] for r in out.output_info["reasons"]] == ["malformed"]


def test_a_run_state_edited_after_approval_never_runs(guard: Guard) -> None:
    env = consent_case(guard)
    shop = Shop()
    g = OpenAIAgentsGuard(guard, context=env)
    agent, model = _agent(g, shop, [function_call("checkout", env["proposal"]["arguments"], call_id="call_8")])
    first = Runner.run_sync(agent, "buy the sunglasses", run_config=NO_TRACING)
    item = first.interruptions[0]
    state = first.to_state()
    g.approve(state, item)
    # The stored run state is edited between the approval and the resume: one more pair of sunglasses.
    original = json.dumps(item.arguments)[1:-1]
    edited = json.dumps(json.dumps(changed(item.arguments), separators=(",", ":")))[1:-1]
    text = state.to_string()
    assert original in text
    tampered = run_async(RunState.from_string(agent, text.replace(original, edited)))
    with pytest.raises(Exception, match="different invocation"):  # the SDK's own check, before txguard's
        run_async(Runner.run(agent, tampered, run_config=NO_TRACING))
    assert shop.received == []


def test_approving_without_the_guard_does_not_run_the_call(guard: Guard) -> None:
    env = consent_case(guard)
    shop = Shop()
    g = OpenAIAgentsGuard(guard, context=env)
    agent, model = _agent(g, shop, [function_call("checkout", env["proposal"]["arguments"], call_id="call_9")])
    first = Runner.run_sync(agent, "buy", run_config=NO_TRACING)
    state = first.to_state()
    state.approve(first.interruptions[0])  # the SDK's approval alone records no consent to the confirmation
    Runner.run_sync(agent, state, run_config=NO_TRACING)
    assert shop.received == []
    assert "confirm" in _tool_outputs(model)[0].lower()


def test_a_rejected_call_never_runs(guard: Guard) -> None:
    env = consent_case(guard)
    shop = Shop()
    g = OpenAIAgentsGuard(guard, context=env)
    agent, model = _agent(g, shop, [function_call("checkout", env["proposal"]["arguments"], call_id="call_10")])
    first = Runner.run_sync(agent, "buy", run_config=NO_TRACING)
    state = first.to_state()
    g.reject(state, first.interruptions[0], "The user declined the purchase.")
    Runner.run_sync(agent, state, run_config=NO_TRACING)
    assert shop.received == []
    assert _tool_outputs(model) == ["The user declined the purchase."]


@pytest.mark.parametrize("path", ["sync", "async"])
def test_escalate_never_runs_the_tool_and_the_route_reaches_the_host(guard: Guard, path: str) -> None:
    env = escalate_case(guard)
    shop = Shop()
    g = OpenAIAgentsGuard(guard, context=env)
    agent, model = _agent(g, shop, [function_call("checkout", env["proposal"]["arguments"], call_id="call_x")])
    if path == "sync":
        result = Runner.run_sync(agent, "buy", run_config=NO_TRACING)
    else:
        result = run_async(Runner.run(agent, "buy", run_config=NO_TRACING))
    assert result.interruptions == [] and shop.received == []
    [guardrail] = result.tool_input_guardrail_results
    info = guardrail.output.output_info
    assert info["outcome"] == "escalate" and info["route"] == "human" and info["call_id"] == "call_x"
    assert _tool_outputs(model) == [info["message"]]
    assert "price_cap" in [r["code"] for r in info["reasons"]]


def test_corrupted_arguments_pause_and_still_never_run(guard: Guard) -> None:
    # The SDK asks for approval of arguments it cannot parse; the guard escalates them, approved or not.
    env = consent_case(guard)
    shop = Shop()
    g = OpenAIAgentsGuard(guard, context=env)
    garbled = json.dumps(env["proposal"]["arguments"])[:40]
    agent, model = _agent(g, shop, [function_call("checkout", garbled, call_id="call_g")])
    first = Runner.run_sync(agent, "buy", run_config=NO_TRACING)
    [item] = first.interruptions
    assert g.pending(item).outcome is Outcome.ESCALATE
    state = first.to_state()
    g.approve(state, item)
    Runner.run_sync(agent, state, run_config=NO_TRACING)
    assert shop.received == []


def test_a_failing_hook_fails_closed(guard: Guard, monkeypatch: pytest.MonkeyPatch) -> None:
    env = confirmed_case(guard)
    shop = Shop()
    g = OpenAIAgentsGuard(guard, context=env)

    class Broken:
        def check(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("guard unavailable")

    monkeypatch.setattr(g, "hook", Broken())
    agent, _ = _agent(g, shop, [function_call("checkout", env["proposal"]["arguments"], call_id="call_f")])
    with pytest.raises(Exception, match="guard unavailable"):
        run_async(Runner.run(agent, "buy", run_config=NO_TRACING))
    assert shop.received == []


def test_a_decorated_tool_with_typed_parameters_pauses_and_gets_exactly_the_decided_arguments(guard: Guard, tmp_path: Path) -> None:
    # The SDK cannot show a TypedDict-typed call to a needs_approval callback before validating it, so it
    # pauses every such call; the host sees the guard's verdict on it (allow) and lets it through.
    env = confirmed_case(guard)
    received: list[dict[str, Any]] = []

    @function_tool
    def checkout(items: list[Item], currency: str, total: str, payment_method_id: str, confidence: float) -> str:
        """Place the order."""
        received.append({"items": items, "currency": currency, "total": total, "payment_method_id": payment_method_id,
                         "confidence": confidence})
        return "order placed"

    audited, sink, path = _audited(tmp_path)
    g = OpenAIAgentsGuard(audited, context=env)
    model = ScriptedModel([[function_call("checkout", env["proposal"]["arguments"], call_id="call_d")], [assistant_message("ok")]])
    agent = Agent(name="shop", model=model, tools=[g.protect(checkout)])
    first = Runner.run_sync(agent, "buy", run_config=NO_TRACING)
    [item] = first.interruptions
    assert g.pending(item).outcome is Outcome.ALLOW and received == []
    state = first.to_state()
    g.approve(state, item)
    Runner.run_sync(agent, state, run_config=NO_TRACING)
    sink.close()
    assert received == [env["proposal"]["arguments"]]
    assert _lineage(path) == [{"framework": "openai-agents", "call_id": "call_d"}]  # decided once, at the pause


def test_a_local_mcp_server_carries_the_same_guardrail_and_approval(guard: Guard, tmp_path: Path) -> None:
    # The SDK's MCP approval policy sees the tool, not the arguments: the host asks for approval of
    # every checkout, and the guard decides what the approval screen shows and what may run.
    env = consent_case(guard)
    log = tmp_path / "shop.jsonl"
    g = OpenAIAgentsGuard(guard, context=env)
    server = MCPServerStdio(
        params={"command": sys.executable, "args": [str(Path(__file__).with_name("_mcp_shop.py"))],
                "env": {**os.environ, "SHOP_LOG": str(log)}},
        tool_input_guardrails=[g.input_guardrail], require_approval={"checkout": "always"}, cache_tools_list=True)

    async def run() -> None:
        async with server:
            model = ScriptedModel([[function_call("checkout", env["proposal"]["arguments"], call_id="mcp_0")],
                                   [function_call("checkout", env["proposal"]["arguments"], call_id="mcp_1")],
                                   [assistant_message("done")]])
            agent = Agent(name="shop", model=model, mcp_servers=[server])
            first = await Runner.run(agent, "buy", run_config=NO_TRACING)
            [item] = first.interruptions
            state = first.to_state()
            state.approve(item)  # approved in the SDK only: the guardrail on the MCP tool still refuses it
            second = await Runner.run(agent, state, run_config=NO_TRACING)
            [item] = second.interruptions
            assert g.pending(item).confirmation is not None
            state = second.to_state()
            g.approve(state, item)
            done = await Runner.run(agent, state, run_config=NO_TRACING)
            assert done.final_output == "done"

    run_async(run())
    assert [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()] == [env["proposal"]["arguments"]]


def test_the_core_never_imports_the_sdk() -> None:
    code = "import sys, txguard, txguard.integrations; print('agents' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False"


def test_a_guardrail_without_the_approval_callback_still_never_runs_an_unconfirmed_call(guard: Guard) -> None:
    env = consent_case(guard)
    shop = Shop()
    g = OpenAIAgentsGuard(guard, context=env)
    tool = dataclasses.replace(shop.tool(), tool_input_guardrails=[g.input_guardrail])  # no needs_approval: no pause
    model = ScriptedModel([[function_call("checkout", env["proposal"]["arguments"], call_id="call_n")], [assistant_message("ok")]])
    result = Runner.run_sync(Agent(name="shop", model=model, tools=[tool]), "buy", run_config=NO_TRACING)
    assert result.interruptions == [] and shop.received == []
    [output] = _tool_outputs(model)
    assert "confirm" in output.lower()


@pytest.mark.parametrize("own", [True, lambda ctx, params, call_id: True], ids=["bool", "sync-callable"])
def test_the_tools_own_approval_policy_still_pauses_an_allowed_call(guard: Guard, own: Any) -> None:
    env = confirmed_case(guard)
    shop = Shop()
    g = OpenAIAgentsGuard(guard, context=env)
    tool = g.protect(dataclasses.replace(shop.tool(), needs_approval=own))
    model = ScriptedModel([[function_call("checkout", env["proposal"]["arguments"], call_id="call_o")], [assistant_message("ok")]])
    agent = Agent(name="shop", model=model, tools=[tool])
    first = Runner.run_sync(agent, "buy", run_config=NO_TRACING)
    [item] = first.interruptions
    assert g.pending(item).outcome is Outcome.ALLOW and shop.received == []
    state = first.to_state()
    g.approve(state, item)
    Runner.run_sync(agent, state, run_config=NO_TRACING)
    assert shop.received == [env["proposal"]["arguments"]]


# -- a parameter the call omits: the SDK would fill it from the function's default, never decided ----

def _defaulted_tool(received: list[dict[str, Any]], merchant: str) -> FunctionTool:
    @function_tool
    def checkout(items: list[Item], currency: str, total: str, payment_method_id: str, confidence: float,
                 merchant: str = merchant) -> str:
        """Place the order."""
        received.append({"merchant": merchant, "total": total})
        return "order placed"

    return checkout


def _run_approving(g: OpenAIAgentsGuard, agent: Agent[Any]) -> list[Outcome]:
    """Run; where the SDK pauses a call (it does for a function tool whose arguments it would
    complete), the host approves what txguard shows it. The verdicts shown, in order."""
    result = Runner.run_sync(agent, "buy", run_config=NO_TRACING)
    shown = []
    while result.interruptions:
        state = result.to_state()
        for item in result.interruptions:
            shown.append(g.pending(item).outcome)
            g.approve(state, item)
        result = Runner.run_sync(agent, state, run_config=NO_TRACING)
    return shown


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(merchant=st.text(alphabet=st.characters(categories=("L", "N")), min_size=1, max_size=12),
       by_hand=st.booleans())
def test_a_call_that_leaves_a_parameter_to_the_tools_default_never_runs(merchant: str, by_hand: bool) -> None:
    # The user confirmed the call as the model made it (no merchant). The SDK would run the tool
    # with its default merchant, which nobody decided or saw: the call must not run.
    guard = Guard.from_file(POLICIES / "retail.yaml")
    env = confirmed_case(guard)
    received: list[dict[str, Any]] = []
    g = OpenAIAgentsGuard(guard, context=env)
    tool = _defaulted_tool(received, merchant)
    tool = dataclasses.replace(tool, tool_input_guardrails=[g.input_guardrail]) if by_hand else g.protect(tool)
    model = ScriptedModel([[function_call("checkout", env["proposal"]["arguments"], call_id="call_d")],
                           [assistant_message("done")]])
    assert set(_run_approving(g, Agent(name="shop", model=model, tools=[tool]))) <= {Outcome.ESCALATE}
    assert received == []
    assert "merchant" in _tool_outputs(model)[0]
    # the same call naming every parameter is decided (and, confirmed as such, runs)
    full = dict(env["proposal"]["arguments"], merchant=merchant)
    digest = guard.independent().check({"name": "checkout", "arguments": full}, env["request"], env["session"], env["facts"]).confirmation
    assert digest is not None
    g2 = OpenAIAgentsGuard(guard, context=dict(env, session=dict(env["session"], confirmed=[{"digest": digest.digest}])))
    model2 = ScriptedModel([[function_call("checkout", full, call_id="call_e")], [assistant_message("done")]])
    _run_approving(g2, Agent(name="shop", model=model2, tools=[g2.protect(_defaulted_tool(received, merchant))]))
    assert received == [{"merchant": merchant, "total": full["total"]}]


class FeeLine(BaseModel):
    """A line as the tool types it: the SDK fills ``handling_fee`` from its default when omitted."""

    sku: str
    product_id: str
    title: str
    quantity: int
    unit_price: str
    handling_fee: str = "49.99"


def _fee_tool(received: list[Any]) -> FunctionTool:
    @function_tool
    def checkout(items: list[FeeLine], currency: str, total: str, payment_method_id: str, confidence: float) -> str:
        """Place the order."""
        received.append([i.handling_fee for i in items])
        return "order placed"

    return checkout


def test_a_default_inside_a_typed_argument_never_runs_undecided(guard: Guard) -> None:
    # The SDK would build each line with the model's default fee, which the call omits: refused.
    env = confirmed_case(guard)
    received: list[Any] = []
    g = OpenAIAgentsGuard(guard, context=env)
    model = ScriptedModel([[function_call("checkout", env["proposal"]["arguments"], call_id="call_f")],
                           [assistant_message("done")]])
    assert set(_run_approving(g, Agent(name="shop", model=model, tools=[g.protect(_fee_tool(received))]))) <= {Outcome.ESCALATE}
    assert received == []
    assert "handling_fee" in _tool_outputs(model)[0]
