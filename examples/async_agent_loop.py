"""An async agent loop guarded by txguard: Anthropic Messages shape, scripted model, no network.

The tool is an async function wrapped with ``on_block="raise"``: a call the guard does not allow
raises ``ToolBlocked``, and the loop turns it into a ``tool_result`` with ``is_error`` for the model
and a message for the user. The scripted model first states a price the catalog never had
(escalate: nothing runs), then asks for the real cart, which the user confirms on the host's
trusted screen before it is paid.

Run it from the repository root: ``python examples/async_agent_loop.py``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from txguard import Guard, ToolBlocked, render_confirmation
from txguard.adapters import anthropic_calls

HERE = Path(__file__).resolve().parent
guard = Guard.from_file(HERE.parent / "policies" / "retail.yaml")
catalog = json.loads((HERE / "catalog" / "catalog.json").read_text(encoding="utf-8"))

context: dict[str, Any] = {
    "request": {"text": "a blue bluetooth speaker, 20 hours of battery", "product_type": "Bluetooth Speaker",
                "quantity": 1},
    "session": {"authenticated_user_id": "omar_silva_7446", "confirmed": []},
    "facts": catalog,
}


async def place_order(**cart: Any) -> str:
    """The developer's own async tool (a payment API call in real life)."""
    await asyncio.sleep(0)
    return f"paid {cart['total']} {cart['currency']} with {cart['payment_method_id']}"


checkout = guard.wrap(place_order, tool="checkout", context=context, on_block="raise")


def cart(unit_price: str) -> dict[str, Any]:
    return {"items": [{"sku": "2635605237", "product_id": "4768869376", "title": "Bluetooth Speaker",
                       "quantity": 1, "unit_price": unit_price}],
            "currency": "USD", "total": unit_price, "payment_method_id": "credit_card_5322562", "confidence": 0.92}


def tool_use(block_id: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": block_id, "name": "checkout", "input": arguments}


SCRIPT: list[dict[str, Any]] = [
    {"role": "assistant", "stop_reason": "tool_use",
     "content": [{"type": "text", "text": "It's on sale for $199.99, buying it."}, tool_use("toolu_1", cart("199.99"))]},
    {"role": "assistant", "stop_reason": "tool_use",
     "content": [{"type": "text", "text": "Sorry, the price is $271.89."}, tool_use("toolu_2", cart("271.89"))]},
    {"role": "assistant", "stop_reason": "tool_use", "content": [tool_use("toolu_3", cart("271.89"))]},
    {"role": "assistant", "stop_reason": "end_turn", "content": [{"type": "text", "text": "Paid. Enjoy the music!"}]},
]


async def main() -> None:
    transcript: list[dict[str, Any]] = [{"role": "user", "content": "A blue bluetooth speaker with 20 hours of battery."}]
    for reply in SCRIPT:
        transcript.append(reply)
        for block in reply["content"]:
            if block["type"] == "text":
                print("[model] ", block["text"])
        results = []
        for call in anthropic_calls(reply):
            try:
                outcome = await checkout.dispatch(call)
            except ToolBlocked as blocked:
                result = blocked.blocked
                route = f", route {result.route}" if result.route else ""
                print(f"[guard]  {result.outcome.value} ({', '.join(result.decision.codes)}){route}")
                if result.confirmation is not None:
                    print("[screen]", render_confirmation(result.confirmation).replace("\n", "\n         "))
                    context["session"]["confirmed"].append({"digest": result.confirmation.digest})
                    print("[host]   user tapped Confirm on the trusted screen")
                else:
                    print("[user]  ", result.message)
                results.append({"type": "tool_result", "tool_use_id": call.call_id, "is_error": True,
                                "content": result.message})
            else:
                print("[tool]  ", outcome)
                results.append({"type": "tool_result", "tool_use_id": call.call_id, "content": outcome})
        if reply["stop_reason"] != "tool_use":
            break
        transcript.append({"role": "user", "content": results})  # what the model would read next
    print(f"transcript: {len(transcript)} messages")


if __name__ == "__main__":
    asyncio.run(main())
