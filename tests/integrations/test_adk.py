"""txguard as a Google ADK plugin, against the real package with a scripted model (no network)."""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections.abc import AsyncGenerator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


from google.adk.agents import LlmAgent  # noqa: E402
from google.adk.apps import App  # noqa: E402
from google.adk.events import Event  # noqa: E402
from google.adk.models.base_llm import BaseLlm  # noqa: E402
from google.adk.models.llm_request import LlmRequest  # noqa: E402
from google.adk.models.llm_response import LlmResponse  # noqa: E402
from google.adk.runners import InMemoryRunner  # noqa: E402
from google.genai import types  # noqa: E402

from txguard import Guard  # noqa: E402
from txguard.audit import open_sink  # noqa: E402
from txguard.integrations.adk import TxguardPlugin, approval_response  # noqa: E402

from ..conftest import POLICIES  # noqa: E402
from ._support import FeeItem, lineage_sources, with_confirmation  # noqa: E402

CONFIRM = "adk_request_confirmation"


class Scripted(BaseLlm):
    """Plays one tool call, then a closing text once a tool result is in the history."""

    call: dict[str, Any]

    async def generate_content_async(self, llm_request: LlmRequest, stream: bool = False) -> AsyncGenerator[LlmResponse, None]:
        answered = any(p.function_response is not None and p.function_response.name == "checkout"
                       for c in llm_request.contents for p in (c.parts or []))
        if answered:
            yield LlmResponse(content=types.Content(role="model", parts=[types.Part(text="All done.")]))
        else:
            part = types.Part(function_call=types.FunctionCall(name="checkout", args=copy.deepcopy(self.call), id="call_adk_1"))
            yield LlmResponse(content=types.Content(role="model", parts=[part]))


class Shop:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def tool(self) -> Any:
        def checkout(items: list[dict[str, Any]], currency: str, total: str, payment_method_id: str,
                     confidence: float) -> dict[str, str]:
            """Pay for the cart."""
            self.calls.append({"items": items, "currency": currency, "total": total,
                               "payment_method_id": payment_method_id, "confidence": confidence})
            return {"status": "order placed"}

        return checkout


class Session:
    """One ADK conversation: a runner, its session, the events so far."""

    def __init__(self, guard: Guard, context: Any, args: dict[str, Any], shop: Shop) -> None:
        agent = LlmAgent(name="shopper", model=Scripted(model="scripted", call=args), tools=[shop.tool()])
        app = App(name="txguard_test", root_agent=agent, plugins=[TxguardPlugin(guard, context)])
        self.runner = InMemoryRunner(app=app)
        self.sid = str(uuid.uuid4())
        asyncio.run(self.runner.session_service.create_session(app_name="txguard_test", user_id="u", session_id=self.sid))

    def send(self, message: types.Content, use_async: bool = True) -> list[Event]:
        if not use_async:
            return list(self.runner.run(user_id="u", session_id=self.sid, new_message=message))

        async def go() -> list[Event]:
            return [e async for e in self.runner.run_async(user_id="u", session_id=self.sid, new_message=message)]

        return asyncio.run(go())

    def ask(self, use_async: bool = True) -> list[Event]:
        return self.send(types.Content(role="user", parts=[types.Part(text="buy the sunglasses")]), use_async)

    def answer(self, request: types.FunctionCall, response: dict[str, Any], use_async: bool = True) -> list[Event]:
        part = types.Part(function_response=types.FunctionResponse(name=CONFIRM, id=request.id, response=response))
        return self.send(types.Content(role="user", parts=[part]), use_async)


def _confirmation_requests(events: list[Event]) -> list[types.FunctionCall]:
    return [fc for e in events for fc in e.get_function_calls() if fc.name == CONFIRM]


def _tool_responses(events: list[Event]) -> list[dict[str, Any]]:
    return [fr.response or {} for e in events for fr in e.get_function_responses() if fr.name == "checkout"]


def _changed(args: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(args)
    out["items"][0]["quantity"] += 1
    out["total"] = str(sum(Decimal(str(l["unit_price"])) * l["quantity"] for l in out["items"]))
    return out


@pytest.mark.parametrize("use_async", [True, False], ids=["async", "sync"])
def test_allow_runs_the_tool_once_with_exactly_the_decided_arguments(guard: Guard, case: dict[str, Any], use_async: bool) -> None:
    context = with_confirmation(case, guard)
    shop = Shop()
    events = Session(guard, context, case["proposal"]["arguments"], shop).ask(use_async)
    assert shop.calls == [case["proposal"]["arguments"]]
    assert _tool_responses(events) == [{"status": "order placed"}]


@pytest.mark.parametrize("use_async", [True, False], ids=["async", "sync"])
def test_clarify_asks_for_confirmation_and_the_hosts_approval_runs_the_call(guard: Guard, case: dict[str, Any], use_async: bool) -> None:
    shop = Shop()
    conv = Session(guard, lambda tool_context: case, case["proposal"]["arguments"], shop)
    events = conv.ask(use_async)
    assert shop.calls == []
    (request,) = _confirmation_requests(events)
    shown = request.args["toolConfirmation"]["payload"]["txguard"]
    assert shown["outcome"] == "clarify" and shown["confirmation"]["digest"]
    events = conv.answer(request, approval_response(request.args), use_async)
    assert shop.calls == [case["proposal"]["arguments"]]
    assert {"status": "order placed"} in _tool_responses(events)


@pytest.mark.parametrize("response", [
    pytest.param({"confirmed": False}, id="declined"),
    pytest.param({"confirmed": True}, id="approved-without-the-confirmation"),
    pytest.param({"confirmed": True, "payload": {"txguard": {"confirmed": "yes"}}}, id="garbled"),
])
def test_anything_but_a_bound_approval_leaves_the_tool_unrun(guard: Guard, case: dict[str, Any], response: dict[str, Any]) -> None:
    shop = Shop()
    conv = Session(guard, case, case["proposal"]["arguments"], shop)
    (request,) = _confirmation_requests(conv.ask())
    events = conv.answer(request, response)
    assert shop.calls == []
    assert any("error" in r for r in _tool_responses(events))


def test_an_approval_of_another_cart_does_not_run_a_changed_call(guard: Guard, case: dict[str, Any]) -> None:
    shown = Session(guard, case, case["proposal"]["arguments"], Shop())
    (first,) = _confirmation_requests(shown.ask())
    shop = Shop()
    changed = Session(guard, case, _changed(case["proposal"]["arguments"]), shop)
    (second,) = _confirmation_requests(changed.ask())
    events = changed.answer(second, approval_response(first.args))  # the yes given to the first cart
    assert shop.calls == []
    assert any(r.get("txguard", {}).get("outcome") == "clarify" for r in _tool_responses(events))


def test_escalate_never_runs_the_tool(guard: Guard, case: dict[str, Any]) -> None:
    shop = Shop()
    broken = dict(case["proposal"]["arguments"], total="575.59")
    events = Session(guard, case, broken, shop).ask()
    assert shop.calls == []
    (response,) = _tool_responses(events)
    assert response["txguard"]["outcome"] == "escalate" and response["txguard"]["route"]
    assert not _confirmation_requests(events)


def test_approval_response_needs_a_txguard_request() -> None:
    with pytest.raises(ValueError, match="not a txguard confirmation request"):
        approval_response({"toolConfirmation": {"hint": "x", "payload": None}})


def test_the_audit_record_carries_the_function_call_id(case: dict[str, Any], tmp_path: Path) -> None:
    url = f"jsonl:{tmp_path / 'trail.jsonl'}"
    sink = open_sink(url)
    Session(Guard.from_file(POLICIES / "retail.yaml", audit=sink), case, case["proposal"]["arguments"], Shop()).ask()
    sink.close()
    assert lineage_sources(tmp_path / "trail.jsonl") == [{"framework": "adk", "call_id": "call_adk_1"}]


class DefaultedShop(Shop):
    """A tool with a parameter the model's call omits: the function would fill it from its default."""

    def __init__(self, merchant: str) -> None:
        super().__init__()
        self.merchant = merchant

    def tool(self) -> Any:
        def checkout(items: list[dict[str, Any]], currency: str, total: str, payment_method_id: str,
                     confidence: float, merchant: str = self.merchant) -> dict[str, str]:
            """Pay for the cart."""
            self.calls.append({"merchant": merchant, "total": total})
            return {"status": "order placed"}

        return checkout


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(merchant=st.text(alphabet=st.characters(categories=("L", "N")), min_size=1, max_size=12))
def test_a_default_the_tool_fills_in_is_decided_and_never_runs_unconfirmed(case: dict[str, Any], merchant: str) -> None:
    # The host holds the user's yes to the call as the model made it (no merchant): the tool's own
    # default merchant was never shown, so the call asks again, showing it; the yes to that runs it.
    guard = Guard.from_file(POLICIES / "retail.yaml")
    context = with_confirmation(case, guard)
    shop = DefaultedShop(merchant)
    conv = Session(guard, context, case["proposal"]["arguments"], shop)
    (request,) = _confirmation_requests(conv.ask())
    assert shop.calls == []
    assert request.args["toolConfirmation"]["payload"]["txguard"]["confirmation"]["merchant"] == merchant
    conv.answer(request, approval_response(request.args))
    assert shop.calls == [{"merchant": merchant, "total": case["proposal"]["arguments"]["total"]}]



def test_a_default_inside_a_typed_argument_is_decided_not_added_after(case: dict[str, Any]) -> None:
    # The user confirmed the cart as the model gave it; ADK would hand the tool lines carrying a
    # fee from the line model's default. The decision sees the lines as the tool would, so a line
    # field the policy does not know is refused, and the tool does not run.
    guard = Guard.from_file(POLICIES / "retail.yaml")
    context = with_confirmation(case, guard)
    shop = Shop()

    def checkout(items: list[FeeItem], currency: str, total: str, payment_method_id: str,
                 confidence: float) -> dict[str, str]:
        """Pay for the cart."""
        shop.calls.append({"fees": [i.handling_fee for i in items]})
        return {"status": "order placed"}

    shop.tool = lambda: checkout  # type: ignore[method-assign]
    events = Session(guard, context, case["proposal"]["arguments"], shop).ask()
    assert shop.calls == []
    assert any(r.get("txguard", {}).get("outcome") == "escalate" for r in _tool_responses(events))
