"""txguard in a Pydantic AI agent: scripted FunctionModel, no network, no API key.

The developer adds two things to the agent:

1. ``TxguardCapability(guard, context, tools=["checkout"])`` in ``capabilities``: before the tool
   runs, ``allow`` lets it run with exactly the decided arguments; a ``clarify`` for consent defers
   the call (``ApprovalRequired``, the confirmation in the deferred call's metadata); anything else
   skips the tool and hands the model the decision's message;
2. the host's approval loop: the run ends with ``DeferredToolRequests``; the host shows each
   pending confirmation on its own trusted screen, records the user's tap with ``cap.approve``, and
   resumes with ``deferred_tool_results``. The call is checked again with that approval.

Run it from the repository root: ``python examples/pydantic_ai_checkout.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic_ai import Agent, DeferredToolRequests, DeferredToolResults
from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from txguard import Guard
from txguard.integrations.pydantic_ai import TxguardCapability

HERE = Path(__file__).resolve().parent
guard = Guard.from_file(HERE.parent / "policies" / "retail.yaml")
catalog = json.loads((HERE / "catalog" / "catalog.json").read_text(encoding="utf-8"))

context: dict[str, Any] = {
    "request": {"text": "a black drip coffee maker with a timer", "product_type": "Coffee Maker", "quantity": 1},
    "session": {"authenticated_user_id": "chen_smith_8425", "confirmed": []},
    "facts": catalog,
}
orders: list[dict[str, Any]] = []

CART = {"items": [{"sku": "2115393569", "product_id": "7996920482", "title": "Coffee Maker", "quantity": 1,
                   "unit_price": "270.91"}],
        "currency": "USD", "total": "270.91", "payment_method_id": "credit_card_6177109", "confidence": 0.95}
WRONG_PRICE = {**CART, "items": [{**CART["items"][0], "unit_price": "199.99"}], "total": "199.99"}
SCRIPT = iter([ToolCallPart("checkout", WRONG_PRICE, tool_call_id="call_1"),
               ToolCallPart("checkout", CART, tool_call_id="call_2"),
               TextPart("Done! Your coffee maker is on its way.")])


def scripted_model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """One scripted part per model turn."""
    return ModelResponse(parts=[next(SCRIPT)])


cap = TxguardCapability(guard, context=context, tools=["checkout"])
agent: Agent[None, str | DeferredToolRequests] = Agent(FunctionModel(scripted_model), capabilities=[cap],
                                                       output_type=[str, DeferredToolRequests])


@agent.tool_plain
def checkout(items: list[dict[str, Any]], currency: str, total: str, payment_method_id: str, confidence: float) -> str:
    """Place the order and charge the payment method. Only an allowed call gets here."""
    orders.append({"items": items, "total": total, "currency": currency})
    return f"order #{len(orders)} placed: {total} {currency}"


def screen(confirmation: dict[str, Any]) -> str:
    """The host's trusted confirmation screen, drawn from the confirmation in the verdict."""
    # every bound field of each line (the summary is what the confirmation binds; amounts carry their code)
    lines = [f"  {x['quantity']} x {x['title']} (sku {x['sku']}, product {x['product_id']}) at {x['unit_price']}"
             for x in confirmation["summary"]["items"]]
    total = f"  Total: {confirmation['total']} {confirmation['currency']}, paid with {confirmation['payment_method_id']}"
    return "\n".join(["Please confirm this checkout:", *lines, total])


def user_taps_confirm(text: str) -> bool:
    print("[screen]", text.replace("\n", "\n         "))
    return True


def main() -> None:
    result = agent.run_sync("The black drip coffee maker with the timer, please.")
    while isinstance(result.output, DeferredToolRequests):
        results = DeferredToolResults()
        for call_id, verdict in cap.pending(result.output).items():
            print(f"[guard]  {verdict['outcome']} ({', '.join(r['code'] for r in verdict['reasons'])}) on {call_id}")
            if user_taps_confirm(screen(verdict["confirmation"])):
                print("[host]   user confirmed on the trusted screen")
                cap.approve(result.output, call_id, results)
            else:
                cap.deny(result.output, call_id, results)
        result = agent.run_sync(message_history=result.all_messages(), deferred_tool_results=results)
    for message in result.all_messages():
        for part in message.parts if isinstance(message, ModelRequest) else ():
            if isinstance(part, ToolReturnPart):
                verdict = (part.metadata or {}).get("txguard")
                if verdict is not None:
                    print(f"[guard]  {part.tool_call_id} did not run: {verdict['outcome']}, route {verdict['route']}")
                print("[tool]  ", part.content)
    print("[model] ", result.output)
    print(f"orders placed: {len(orders)}")


if __name__ == "__main__":
    main()
