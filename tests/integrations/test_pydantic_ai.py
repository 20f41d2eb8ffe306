"""txguard in Pydantic AI, against the real package with a scripted FunctionModel (no network)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

if sys.version_info < (3, 11):  # elsewhere CI installs the extra (test extra) and a missing package FAILS these tests
    pytest.skip("pydantic-ai-slim 2.68 requires Python >= 3.11", allow_module_level=True)

from pydantic_ai import Agent, DeferredToolRequests, DeferredToolResults, ToolApproved  # noqa: E402
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolCallPart, ToolReturnPart  # noqa: E402
from pydantic_ai.models.function import AgentInfo, FunctionModel  # noqa: E402

from txguard import Guard, UsageError  # noqa: E402
from txguard.audit import open_sink  # noqa: E402
from txguard.integrations.pydantic_ai import TxguardCapability  # noqa: E402

from ..conftest import POLICIES  # noqa: E402
from ._support import (changed, confirmed_case, consent_case, escalate_case, event_loop_of_the_test,  # noqa: E402
                       lineage_sources, run_async)

__all__ = ["event_loop_of_the_test"]  # the autouse fixture applies to this module's tests


class Shop:
    """An agent with a guarded checkout tool and an unguarded lookup tool, driven by a scripted model."""

    def __init__(self, guard: Guard, env: dict[str, Any], calls: list[ToolCallPart]) -> None:
        self.received: list[dict[str, Any]] = []
        self.looked_up: list[str] = []
        self.capability = TxguardCapability(guard, context=env, tools=["checkout"])
        script = iter([[c] for c in calls])

        def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
            last = messages[-1]
            if isinstance(last, ModelRequest) and any(isinstance(p, ToolReturnPart) for p in last.parts):
                return ModelResponse(parts=[TextPart("done")])
            return ModelResponse(parts=list(next(script)))

        self.agent: Agent[None, str | DeferredToolRequests] = Agent(
            FunctionModel(model), capabilities=[self.capability], output_type=[str, DeferredToolRequests])

        @self.agent.tool_plain
        def checkout(items: list[dict[str, Any]], currency: str, total: str, payment_method_id: str, confidence: float) -> str:
            self.received.append({"items": items, "currency": currency, "total": total,
                                  "payment_method_id": payment_method_id, "confidence": confidence})
            return f"order #{len(self.received)} placed"

        @self.agent.tool_plain
        def lookup(sku: str) -> str:
            self.looked_up.append(sku)
            return "in stock"


def _returns(messages: list[ModelMessage]) -> list[ToolReturnPart]:
    return [p for m in messages if isinstance(m, ModelRequest) for p in m.parts if isinstance(p, ToolReturnPart)]


def _call(env: dict[str, Any], call_id: str) -> ToolCallPart:
    return ToolCallPart("checkout", env["proposal"]["arguments"], tool_call_id=call_id)


def test_allow_runs_the_tool_once_with_the_decided_arguments(guard: Guard, tmp_path: Path) -> None:
    env = confirmed_case(guard)
    sink = open_sink(f"jsonl:{tmp_path / 'trail.jsonl'}")
    shop = Shop(Guard.from_file(POLICIES / "retail.yaml", audit=sink), env, [_call(env, "pyd_1")])
    result = shop.agent.run_sync("buy the sunglasses")
    sink.close()
    assert result.output == "done"
    assert shop.received == [env["proposal"]["arguments"]]
    assert [r.content for r in _returns(result.all_messages())] == ["order #1 placed"]
    trail = lineage_sources(tmp_path / "trail.jsonl")
    assert trail == [{"framework": "pydantic-ai", "call_id": "pyd_1"}]


def test_clarify_defers_and_the_hosts_approval_runs_exactly_the_confirmed_call(guard: Guard, tmp_path: Path) -> None:
    env = consent_case(guard)
    sink = open_sink(f"jsonl:{tmp_path / 'trail.jsonl'}")
    shop = Shop(Guard.from_file(POLICIES / "retail.yaml", audit=sink), env, [_call(env, "pyd_2")])

    async def run() -> None:
        first = await shop.agent.run("buy the sunglasses")
        assert isinstance(first.output, DeferredToolRequests) and shop.received == []
        pending = shop.capability.pending(first.output)
        assert list(pending) == ["pyd_2"]
        assert pending["pyd_2"]["outcome"] == "clarify" and pending["pyd_2"]["confirmation"]["digest"]
        results = shop.capability.approve(first.output, "pyd_2")
        resumed = await shop.agent.run(message_history=first.all_messages(), deferred_tool_results=results)
        assert resumed.output == "done"

    run_async(run())
    sink.close()
    assert shop.received == [env["proposal"]["arguments"]]
    assert env["session"]["confirmed"] == []
    trail = lineage_sources(tmp_path / "trail.jsonl")
    assert trail == [{"framework": "pydantic-ai", "call_id": "pyd_2"}] * 2  # clarify, then allow with the approval


def test_a_call_changed_after_approval_is_caught(guard: Guard) -> None:
    env = consent_case(guard)
    shop = Shop(guard, env, [_call(env, "pyd_3")])
    first = shop.agent.run_sync("buy the sunglasses")
    assert isinstance(first.output, DeferredToolRequests)
    results = shop.capability.approve(first.output, "pyd_3")
    results.approvals["pyd_3"] = ToolApproved(override_args=changed(env["proposal"]["arguments"]))
    resumed = shop.agent.run_sync(message_history=first.all_messages(), deferred_tool_results=results)
    assert shop.received == []
    [ret] = _returns(resumed.all_messages())
    assert "confirm" in str(ret.content).lower()
    assert ret.metadata["txguard"]["outcome"] == "clarify"


def test_an_approval_without_the_guards_record_does_not_run_the_call(guard: Guard) -> None:
    env = consent_case(guard)
    shop = Shop(guard, env, [_call(env, "pyd_4")])
    first = shop.agent.run_sync("buy")
    assert isinstance(first.output, DeferredToolRequests)
    plain = DeferredToolResults(approvals={"pyd_4": True})  # approved, but no consent to txguard's confirmation recorded
    shop.agent.run_sync(message_history=first.all_messages(), deferred_tool_results=plain)
    assert shop.received == []


def test_a_denied_call_never_runs(guard: Guard) -> None:
    env = consent_case(guard)
    shop = Shop(guard, env, [_call(env, "pyd_5")])
    first = shop.agent.run_sync("buy")
    assert isinstance(first.output, DeferredToolRequests)
    results = shop.capability.deny(first.output, "pyd_5", message="The user declined.")
    resumed = shop.agent.run_sync(message_history=first.all_messages(), deferred_tool_results=results)
    assert shop.received == []
    assert [r.content for r in _returns(resumed.all_messages())] == ["The user declined."]
    with pytest.raises(UsageError):
        shop.capability.approve(first.output, "not-a-call")


@pytest.mark.parametrize("path", ["sync", "async"])
def test_escalate_never_runs_the_tool_and_the_route_reaches_the_host(guard: Guard, path: str) -> None:
    env = escalate_case(guard)
    shop = Shop(guard, env, [_call(env, "pyd_x")])
    result = shop.agent.run_sync("buy") if path == "sync" else run_async(shop.agent.run("buy"))
    assert result.output == "done" and shop.received == []
    [ret] = _returns(result.all_messages())
    info = ret.metadata["txguard"]
    assert info["outcome"] == "escalate" and info["route"] == "human" and info["call_id"] == "pyd_x"
    assert ret.content == info["message"]
    assert "price_cap" in [r["code"] for r in info["reasons"]]


def test_tools_outside_the_guarded_set_run_unchecked(guard: Guard) -> None:
    env = escalate_case(guard)
    shop = Shop(guard, env, [ToolCallPart("lookup", {"sku": "123"}, tool_call_id="pyd_l")])
    shop.agent.run_sync("is it in stock?")
    assert shop.looked_up == ["123"]


def test_a_failing_hook_fails_closed(guard: Guard) -> None:
    env = confirmed_case(guard)
    shop = Shop(guard, env, [_call(env, "pyd_f")])

    class Broken:
        def check(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("guard unavailable")

    shop.capability.hook = Broken()  # type: ignore[assignment]
    with pytest.raises(RuntimeError, match="guard unavailable"):
        shop.agent.run_sync("buy")
    assert shop.received == []


def test_the_core_never_imports_pydantic_ai() -> None:
    code = "import sys, txguard, txguard.integrations; print('pydantic_ai' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False"
