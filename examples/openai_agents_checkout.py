"""txguard in an OpenAI Agents SDK agent: scripted model, no network, no API key.

The developer adds two things to the agent:

1. ``g.protect(checkout)``: the tool gets txguard's input guardrail (it runs before every call:
   ``allow`` runs the tool with exactly the decided arguments, anything else sends the decision's
   message back to the model instead) and a ``needs_approval`` callback (a ``clarify`` for consent
   pauses the run with the SDK's own approval interruption);
2. the host's approval loop: for each interruption it shows ``g.pending(item).confirmation`` on its
   own trusted screen and calls ``g.approve(state, item)`` only on the user's tap, then resumes.

Run it from the repository root: ``python examples/openai_agents_checkout.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agents import Agent, RunConfig, Runner, function_tool
from agents.testing import ScriptedModel, assistant_message, function_call

from txguard import Guard, render_confirmation
from txguard.integrations.openai_agents import OpenAIAgentsGuard

HERE = Path(__file__).resolve().parent
guard = Guard.from_file(HERE.parent / "policies" / "retail.yaml")
catalog = json.loads((HERE / "catalog" / "catalog.json").read_text(encoding="utf-8"))

# What the host knows: who is signed in, what they asked for, the catalog.
context: dict[str, Any] = {
    "request": {"text": "a black drip coffee maker with a timer", "product_type": "Coffee Maker", "quantity": 1},
    "session": {"authenticated_user_id": "chen_smith_8425", "confirmed": []},
    "facts": catalog,
}
orders: list[dict[str, Any]] = []


# Plain JSON parameters: the SDK then shows each call to the approval callback before it runs. (With
# TypedDict or model parameters it cannot, and pauses every call: the host then sees the guard's
# verdict, often `allow`, in `g.pending(item)` and approves or rejects it the same way.)
@function_tool(strict_mode=False)
def checkout(items: list[dict[str, Any]], currency: str, total: str, payment_method_id: str, confidence: float) -> str:
    """Place the order and charge the payment method. Only an allowed call gets here."""
    orders.append({"items": items, "total": total, "currency": currency})
    return f"order #{len(orders)} placed: {total} {currency}"


CART = {"items": [{"sku": "2115393569", "product_id": "7996920482", "title": "Coffee Maker", "quantity": 1,
                   "unit_price": "270.91"}],
        "currency": "USD", "total": "270.91", "payment_method_id": "credit_card_6177109", "confidence": 0.95}
WRONG_PRICE = {**CART, "items": [{**CART["items"][0], "unit_price": "199.99"}], "total": "199.99"}

# The scripted model: first a cart with a price the catalog never had, then the real one.
model = ScriptedModel([
    [function_call("checkout", WRONG_PRICE, call_id="call_1")],
    [function_call("checkout", CART, call_id="call_2")],
    [assistant_message("Done! Your coffee maker is on its way.")],
])
g = OpenAIAgentsGuard(guard, context=context)
agent = Agent(name="shop", instructions="Buy what the user asks for.", model=model, tools=[g.protect(checkout)])
RUN = RunConfig(tracing_disabled=True)


def user_taps_confirm(screen: str) -> bool:
    """The host's trusted confirmation screen. Here the user reads it and taps Confirm."""
    print("[screen]", screen.replace("\n", "\n         "))
    return True


def main() -> None:
    result = Runner.run_sync(agent, "The black drip coffee maker with the timer, please.", run_config=RUN)
    while result.interruptions:
        state = result.to_state()
        for item in result.interruptions:
            verdict = g.pending(item)
            print(f"[guard]  {verdict.outcome.value} ({', '.join(verdict.decision.codes)}) on {item.call_id}")
            if verdict.confirmation is not None and user_taps_confirm(render_confirmation(verdict.confirmation)):
                print("[host]   user confirmed on the trusted screen")
                g.approve(state, item)
            else:
                g.reject(state, item, "The user did not confirm.")
        result = Runner.run_sync(agent, state, run_config=RUN)
    for check in result.tool_input_guardrail_results:  # every guardrail verdict of the run, for the host
        info = check.output.output_info
        if info["outcome"] != "allow":
            print(f"[guard]  {info['call_id']} did not run: {info['outcome']}, route {info['route']}")
    for item in result.new_items:
        if item.type == "tool_call_output_item":
            print("[tool]  ", item.output)
    print("[model] ", result.final_output)
    print(f"orders placed: {len(orders)}")


if __name__ == "__main__":
    main()
