"""A Google ADK agent guarded by txguard's plugin: scripted model, no network, no API key.

The model asks to check out a cart. ``TxguardPlugin`` decides the call before the tool runs: the
user has not confirmed it yet, so the plugin asks for ADK's tool confirmation with txguard's
confirmation as payload. The host shows it on its own screen, the user approves there, and the
host answers the ``adk_request_confirmation`` call with ``approval_response(...)``. ADK runs the
original call again; the plugin re-checks it with that approval, and only then does ``checkout`` run.

Run it from the repository root: ``python examples/adk_checkout.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

from google.adk.agents import LlmAgent
from google.adk.apps import App
from google.adk.events import Event
from google.adk.models.base_llm import BaseLlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.adk.runners import InMemoryRunner
from google.genai import types

from txguard import Guard
from txguard.integrations.adk import TxguardPlugin, approval_response

HERE = Path(__file__).resolve().parent
guard = Guard.from_file(HERE.parent / "policies" / "retail.yaml")
context: dict[str, Any] = {
    "request": {"text": "a black drip coffee maker with a timer", "product_type": "Coffee Maker", "quantity": 1},
    "session": {"authenticated_user_id": "chen_smith_8425", "confirmed": []},
    "facts": json.loads((HERE / "catalog" / "catalog.json").read_text(encoding="utf-8")),
}
CART = {"items": [{"sku": "2115393569", "product_id": "7996920482", "title": "Coffee Maker", "quantity": 1,
                   "unit_price": "270.91"}],
        "currency": "USD", "total": "270.91", "payment_method_id": "credit_card_6177109", "confidence": 0.95}
orders: list[dict[str, Any]] = []


def checkout(items: list[dict[str, Any]], currency: str, total: str, payment_method_id: str,
             confidence: float) -> dict[str, str]:
    """Pay for the cart. Only a call txguard allowed gets here."""
    orders.append({"items": items, "total": total})
    return {"status": f"order #{len(orders)} placed: {total} {currency}"}


class ScriptedModel(BaseLlm):
    """Asks for the checkout once, then closes when the tool's result is in the history."""

    async def generate_content_async(self, llm_request: LlmRequest, stream: bool = False) -> AsyncGenerator[LlmResponse, None]:
        done = any(p.function_response is not None and p.function_response.name == "checkout"
                   for c in llm_request.contents for p in (c.parts or []))
        part = (types.Part(text="Your coffee maker is ordered.") if done else
                types.Part(function_call=types.FunctionCall(name="checkout", args=CART, id="call_1")))
        yield LlmResponse(content=types.Content(role="model", parts=[part]))


async def main() -> None:
    agent = LlmAgent(name="shopper", model=ScriptedModel(model="scripted"), tools=[checkout])
    runner = InMemoryRunner(app=App(name="shop", root_agent=agent, plugins=[TxguardPlugin(guard, context)]))
    await runner.session_service.create_session(app_name="shop", user_id="chen", session_id="s1")

    async def send(*parts: types.Part) -> list[Event]:
        message = types.Content(role="user", parts=list(parts))
        return [e async for e in runner.run_async(user_id="chen", session_id="s1", new_message=message)]

    events = await send(types.Part(text="The black drip coffee maker, please."))
    (request,) = [fc for e in events for fc in e.get_function_calls() if fc.name == "adk_request_confirmation"]
    shown = request.args["toolConfirmation"]["payload"]["txguard"]  # type: ignore[index]
    print("[guard] ", shown["outcome"] + ":", ", ".join(r["code"] for r in shown["reasons"]))
    print("[screen]", request.args["toolConfirmation"]["hint"].replace("\n", "\n         "))  # type: ignore[index]
    print("[host]   user approved on the trusted screen")
    answer = types.FunctionResponse(name="adk_request_confirmation", id=request.id,
                                    response=approval_response(request.args or {}))
    for event in await send(types.Part(function_response=answer)):
        for response in event.get_function_responses():
            if response.name == "checkout":
                print("[tool]  ", (response.response or {}).get("status"))
        if event.content and event.content.parts and event.content.parts[0].text:
            print("[model] ", event.content.parts[0].text)
    print("orders placed:", len(orders))


if __name__ == "__main__":
    asyncio.run(main())
