"""A minimal agent loop guarded by txguard: OpenAI Chat Completions shape, scripted model, no network.

It shows the three pieces an agent developer adds:

1. the adapter (``openai_chat_calls``) turns the model's ``tool_calls`` into proposals, whatever
   state their arguments are in;
2. the guarded tool (``@guard.tool("checkout")``): ``place_order`` runs only on ``allow``; otherwise
   the call returns a ``Blocked`` whose ``message`` goes back to the model as the tool result;
3. the confirmation round trip: a ``clarify`` for missing consent carries a confirmation request;
   the host shows it on its own trusted screen and records the user's tap there, never the model's
   words; the retried call then passes.

Run it from the repository root: ``python examples/agent_loop.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from txguard import Blocked, Guard, render_confirmation
from txguard.adapters import openai_chat_calls

HERE = Path(__file__).resolve().parent
guard = Guard.from_file(HERE.parent / "policies" / "retail.yaml")
catalog = json.loads((HERE / "catalog" / "catalog.json").read_text(encoding="utf-8"))

# What the host knows: who is signed in, what they asked for, what they confirmed on its screen.
context: dict[str, Any] = {
    "request": {"text": "a black drip coffee maker with a timer", "product_type": "Coffee Maker", "quantity": 1},
    "session": {"authenticated_user_id": "chen_smith_8425", "confirmed": []},
    "facts": catalog,
}
orders: list[dict[str, Any]] = []


@guard.tool("checkout", context=context)
def checkout(**cart: Any) -> str:
    """The developer's own tool: it charges the card. Only an allowed call gets here."""
    orders.append(cart)
    return f"order #{len(orders)} placed: {cart['total']} {cart['currency']}"


CART = {"items": [{"sku": "2115393569", "product_id": "7996920482", "title": "Coffee Maker", "quantity": 1,
                   "unit_price": "270.91"}],
        "currency": "USD", "total": "270.91", "payment_method_id": "credit_card_6177109", "confidence": 0.95}


def tool_call(call_id: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": "checkout", "arguments": arguments}}


# The scripted model: one assistant message per turn, as the Chat Completions API returns them.
SCRIPT: list[dict[str, Any]] = [
    {"role": "assistant", "content": "Buying it now.", "tool_calls": [tool_call("call_1", json.dumps(CART))]},
    {"role": "assistant", "content": None, "tool_calls": [tool_call("call_2", json.dumps(CART)[:40])]},  # garbled
    {"role": "assistant", "content": "Retrying.", "tool_calls": [tool_call("call_3", json.dumps(CART))]},
    {"role": "assistant", "content": "Done! Your coffee maker is on its way."},
]


def user_taps_confirm(screen: str) -> bool:
    """The host's trusted confirmation screen. Here the user reads it and taps Confirm."""
    print("[screen]", screen.replace("\n", "\n         "))
    return True


def main() -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "The black drip coffee maker with the timer, please."}]
    print("[user]  ", messages[0]["content"])
    for reply in SCRIPT:
        messages.append(reply)
        if reply.get("content"):
            print("[model] ", reply["content"])
        calls = openai_chat_calls(reply)
        if not calls:
            break
        for call in calls:
            result = checkout.dispatch(call)
            if isinstance(result, Blocked):
                print(f"[guard]  {result.outcome.value}: {', '.join(result.decision.codes)}")
                content = result.message
                if result.confirmation is not None and user_taps_confirm(render_confirmation(result.confirmation)):
                    # A trusted action: the host, not the model, records the user's explicit yes.
                    context["session"]["confirmed"].append({"digest": result.confirmation.digest})
                    print("[host]   user confirmed on the trusted screen")
                    content = "The user confirmed this exact cart. Call checkout again with the same arguments."
            else:
                print("[tool]  ", result)
                content = result
            messages.append({"role": "tool", "tool_call_id": call.call_id, "content": content})
    print(f"orders placed: {len(orders)}")


if __name__ == "__main__":
    main()
