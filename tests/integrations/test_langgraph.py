"""txguard in LangGraph's ToolNode and in a LangChain v1 agent, against the real packages."""

from __future__ import annotations

import asyncio
import copy
import uuid
from decimal import Decimal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


from langchain.agents import create_agent  # noqa: E402
from langchain_core.language_models.chat_models import BaseChatModel  # noqa: E402
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage  # noqa: E402
from langchain_core.outputs import ChatGeneration, ChatResult  # noqa: E402
from langchain_core.tools import StructuredTool  # noqa: E402
from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402
from langgraph.graph import END, START, MessagesState, StateGraph  # noqa: E402
from langgraph.types import Command  # noqa: E402

from txguard import Guard  # noqa: E402
from txguard.audit import open_sink  # noqa: E402
from txguard.integrations.langgraph import TxguardMiddleware, approve, guarded_tool_node, reject  # noqa: E402

from ..conftest import POLICIES  # noqa: E402
from ._support import FeeItem, lineage_sources, with_confirmation  # noqa: E402


class Recorder:
    """The real tool: records exactly what it receives."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def tool(self) -> StructuredTool:
        def checkout(**kwargs: Any) -> str:
            self.calls.append(copy.deepcopy(kwargs))
            return "order placed"

        async def acheckout(**kwargs: Any) -> str:
            return checkout(**kwargs)

        schema = {"type": "object", "properties": {}, "additionalProperties": True}
        return StructuredTool(name="checkout", description="Pay for the cart.", args_schema=schema,
                              func=checkout, coroutine=acheckout)


def _args(case: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(case["proposal"]["arguments"])


def _changed(case: dict[str, Any]) -> dict[str, Any]:
    """The same cart with one more of its first line, total kept consistent: a valid, different call."""
    args = _args(case)
    line = args["items"][0]
    line["quantity"] += 1
    args["total"] = str(sum(Decimal(str(l["unit_price"])) * l["quantity"] for l in args["items"]))
    return args


def _graph(guard: Guard, context: Any, rec: Recorder) -> Any:
    builder = StateGraph(MessagesState)
    builder.add_node("tools", guarded_tool_node([rec.tool()], guard, context))
    builder.add_edge(START, "tools")
    builder.add_edge("tools", END)
    return builder.compile(checkpointer=InMemorySaver())


def _ask(args: dict[str, Any], call_id: str = "call_1") -> dict[str, Any]:
    return {"messages": [AIMessage(content="", tool_calls=[{"name": "checkout", "args": args, "id": call_id}])]}


def _run(graph: Any, value: Any, thread: str, use_async: bool) -> dict[str, Any]:
    config = {"configurable": {"thread_id": thread}}
    if use_async:
        return asyncio.run(graph.ainvoke(value, config))  # type: ignore[no-any-return]
    return graph.invoke(value, config)  # type: ignore[no-any-return]


def _last_tool_message(state: dict[str, Any]) -> ToolMessage:
    messages = [m for m in state["messages"] if isinstance(m, ToolMessage)]
    assert messages, "no tool message"
    return messages[-1]


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_allow_runs_the_tool_once_with_exactly_the_decided_arguments(guard: Guard, case: dict[str, Any], use_async: bool) -> None:
    context = with_confirmation(case, guard)
    rec = Recorder()
    state = _run(_graph(guard, context, rec), _ask(_args(case)), str(uuid.uuid4()), use_async)
    assert rec.calls == [case["proposal"]["arguments"]]
    assert _last_tool_message(state).content == "order placed"


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_clarify_pauses_and_the_hosts_approval_runs_exactly_the_confirmed_call(guard: Guard, case: dict[str, Any], use_async: bool) -> None:
    rec = Recorder()
    graph, thread = _graph(guard, case, rec), str(uuid.uuid4())
    state = _run(graph, _ask(_args(case)), thread, use_async)
    assert rec.calls == []
    (pause,) = state["__interrupt__"]
    request = pause.value
    assert request["action_requests"][0]["name"] == "checkout"
    assert request["review_configs"][0]["allowed_decisions"] == ["approve", "reject"]
    assert request["txguard"]["outcome"] == "clarify" and request["txguard"]["confirmation"]["digest"]
    state = _run(graph, Command(resume=approve(request)), thread, use_async)
    assert rec.calls == [case["proposal"]["arguments"]]
    assert _last_tool_message(state).status == "success"


def test_an_approval_does_not_run_a_changed_call(guard: Guard, case: dict[str, Any]) -> None:
    rec = Recorder()
    graph = _graph(guard, case, rec)
    shown = _run(graph, _ask(_args(case)), "t-shown", False)["__interrupt__"][0].value
    changed = _changed(case)
    thread = "t-changed"
    assert "__interrupt__" in _run(graph, _ask(changed), thread, False)
    state = _run(graph, Command(resume=approve(shown)), thread, False)  # the yes to the first cart
    assert rec.calls == []
    message = _last_tool_message(state)
    assert message.status == "error" and message.artifact["txguard"]["outcome"] == "clarify"


@pytest.mark.parametrize("answer", [
    pytest.param(lambda req: reject(req, "too expensive"), id="reject"),
    pytest.param(lambda req: {"decisions": [{"type": "approve"}]}, id="approve-without-confirmation"),
    pytest.param(lambda req: {"type": "edit", "edited_action": {"name": "checkout", "args": {}}}, id="edit"),
    pytest.param(lambda req: "yes please", id="words"),
])
def test_anything_but_a_bound_approval_leaves_the_tool_unrun(guard: Guard, case: dict[str, Any], answer: Any) -> None:
    rec = Recorder()
    graph, thread = _graph(guard, case, rec), str(uuid.uuid4())
    request = _run(graph, _ask(_args(case)), thread, False)["__interrupt__"][0].value
    state = _run(graph, Command(resume=answer(request)), thread, False)
    assert rec.calls == []
    assert _last_tool_message(state).status == "error"


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_escalate_never_runs_the_tool_and_shows_the_route(guard: Guard, case: dict[str, Any], use_async: bool) -> None:
    rec = Recorder()
    broken = _args(case)
    broken["total"] = "not money"
    state = _run(_graph(guard, case, rec), _ask(broken), str(uuid.uuid4()), use_async)
    assert rec.calls == [] and "__interrupt__" not in state
    message = _last_tool_message(state)
    assert message.status == "error"
    assert message.artifact["txguard"]["outcome"] == "escalate" and message.artifact["txguard"]["route"]


def test_the_audit_record_carries_the_tool_call_id(case: dict[str, Any], tmp_path: Path) -> None:
    url = f"jsonl:{tmp_path / 'trail.jsonl'}"
    sink = open_sink(url)
    guard = Guard.from_file(POLICIES / "retail.yaml", audit=sink)
    _run(_graph(guard, case, Recorder()), _ask(_args(case), call_id="call_lg_7"), "t-audit", False)
    sink.close()
    assert lineage_sources(tmp_path / "trail.jsonl") == [{"framework": "langgraph", "call_id": "call_lg_7"}]


class Scripted(BaseChatModel):
    """A chat model that plays a fixed script of replies (no network, no key)."""

    replies: list[AIMessage]
    turn: int = 0

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Scripted:  # type: ignore[override]
        return self

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        reply = self.replies[min(self.turn, len(self.replies) - 1)]
        self.turn += 1
        return ChatResult(generations=[ChatGeneration(message=reply)])


@pytest.mark.parametrize("use_async", [False, True], ids=["sync", "async"])
def test_middleware_in_a_langchain_agent_pauses_then_runs_the_approved_call(guard: Guard, case: dict[str, Any], use_async: bool) -> None:
    rec = Recorder()
    model = Scripted(replies=[
        AIMessage(content="", tool_calls=[{"name": "checkout", "args": _args(case), "id": "call_a1"}]),
        AIMessage(content="Done: your order is placed."),
    ])
    agent = create_agent(model=model, tools=[rec.tool()], middleware=[TxguardMiddleware(guard, lambda request: case)],
                         checkpointer=InMemorySaver())
    thread = str(uuid.uuid4())
    state = _run(agent, {"messages": [{"role": "user", "content": "buy the sunglasses"}]}, thread, use_async)
    assert rec.calls == []
    request = state["__interrupt__"][0].value
    state = _run(agent, Command(resume=approve(request)), thread, use_async)
    assert rec.calls == [case["proposal"]["arguments"]]
    assert state["messages"][-1].content == "Done: your order is placed."


def test_approve_and_reject_need_a_txguard_request() -> None:
    with pytest.raises(ValueError, match="not a txguard approval request"):
        approve({"action_requests": []})
    with pytest.raises(ValueError, match="not a txguard approval request"):
        reject({"txguard": {"confirmation": None}})


# -- defaults the tool would fill in: decided, shown and handed to the tool explicitly ------------------

def _defaulted_tool(rec: Recorder, merchant: str) -> StructuredTool:
    def checkout(items: list[dict[str, Any]], currency: str, total: str, payment_method_id: str,
                 confidence: float, merchant: str = merchant) -> str:
        """Pay for the cart."""
        rec.calls.append({"merchant": merchant, "total": total})
        return "order placed"

    return StructuredTool.from_function(checkout)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(merchant=st.text(alphabet=st.characters(categories=("L", "N")), min_size=1, max_size=12))
def test_a_default_the_tool_fills_in_is_decided_and_never_runs_unconfirmed(case: dict[str, Any], merchant: str) -> None:
    # The user confirmed the call as the model made it (no merchant); the tool's own default
    # merchant was never shown. It must not run with it: the confirmation does not bind the
    # completed call, so the graph asks again, showing the merchant the tool would pay.
    guard = Guard.from_file(POLICIES / "retail.yaml")
    context = with_confirmation(case, guard)
    rec = Recorder()
    builder = StateGraph(MessagesState)
    builder.add_node("tools", guarded_tool_node([_defaulted_tool(rec, merchant)], guard, context))
    builder.add_edge(START, "tools")
    builder.add_edge("tools", END)
    graph, thread = builder.compile(checkpointer=InMemorySaver()), str(uuid.uuid4())
    state = _run(graph, _ask(_args(case)), thread, False)
    assert rec.calls == []
    request = state["__interrupt__"][0].value
    assert request["txguard"]["confirmation"]["merchant"] == merchant
    _run(graph, Command(resume=approve(request)), thread, False)
    assert rec.calls == [{"merchant": merchant, "total": case["proposal"]["arguments"]["total"]}]



def test_a_default_inside_a_typed_argument_is_decided_not_added_after(case: dict[str, Any]) -> None:
    # The user confirmed the cart as the model gave it; the tool would receive lines carrying a
    # fee from the line model's default. The decision sees the lines as the tool would, so a line
    # field the policy does not know is refused, and the tool does not run.
    guard = Guard.from_file(POLICIES / "retail.yaml")
    context = with_confirmation(case, guard)
    fees: list[list[str]] = []

    def checkout(items: list[FeeItem], currency: str, total: str, payment_method_id: str, confidence: float) -> str:
        """Pay for the cart."""
        fees.append([i.handling_fee for i in items])
        return "order placed"

    builder = StateGraph(MessagesState)
    builder.add_node("tools", guarded_tool_node([StructuredTool.from_function(checkout)], guard, context))
    builder.add_edge(START, "tools")
    builder.add_edge("tools", END)
    state = _run(builder.compile(checkpointer=InMemorySaver()), _ask(_args(case)), str(uuid.uuid4()), False)
    assert fees == []
    message = _last_tool_message(state)
    assert message.status == "error" and message.artifact["txguard"]["outcome"] == "escalate"
