"""A LangChain v1 agent guarded by txguard's middleware: scripted model, no network, no API key.

The model asks to check out a cart. txguard's middleware decides the call before the tool runs:
the user has not confirmed it yet, so the agent pauses (``interrupt``) with the confirmation;
the host shows it on its own screen, the user approves there, and the agent resumes with
``Command(resume=approve(request))``. The re-check allows exactly the confirmed cart, and only
then does ``checkout`` run. Then the model tries a changed cart with the old approval: refused.

Run it from the repository root: ``python examples/langgraph_checkout.py``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from txguard import Guard
from txguard.integrations.langgraph import TxguardMiddleware, approve

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


@tool
def checkout(items: list[dict[str, Any]], currency: str, total: str, payment_method_id: str, confidence: float) -> str:
    """Pay for the cart. Only a call txguard allowed gets here."""
    orders.append({"items": items, "total": total})
    return f"order #{len(orders)} placed: {total} {currency}"


class ScriptedModel(BaseChatModel):
    """Plays fixed replies in order, as a real chat model would return them."""

    replies: list[AIMessage]
    turn: int = 0

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedModel:  # type: ignore[override]
        return self

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        reply = self.replies[min(self.turn, len(self.replies) - 1)]
        self.turn += 1
        return ChatResult(generations=[ChatGeneration(message=reply)])


def main() -> None:
    bigger = {**CART, "items": [{**CART["items"][0], "quantity": 2}], "total": "541.82"}
    model = ScriptedModel(replies=[
        AIMessage(content="", tool_calls=[{"name": "checkout", "args": CART, "id": "call_1"}]),
        AIMessage(content="", tool_calls=[{"name": "checkout", "args": bigger, "id": "call_2"}]),
        AIMessage(content="Your coffee maker is ordered."),
    ])
    agent = create_agent(model=model, tools=[checkout], middleware=[TxguardMiddleware(guard, context)],
                         checkpointer=InMemorySaver())
    config: Any = {"configurable": {"thread_id": "demo"}}
    state = agent.invoke({"messages": [{"role": "user", "content": "The black drip coffee maker, please."}]}, config)
    first = state["__interrupt__"][0].value
    print("[guard] ", first["txguard"]["outcome"] + ":", ", ".join(r["code"] for r in first["txguard"]["reasons"]))
    print("[screen]", first["action_requests"][0]["description"].replace("\n", "\n         "))
    print("[host]   user approved on the trusted screen")
    state = agent.invoke(Command(resume=approve(first)), config)
    second = state["__interrupt__"][0].value  # the model now wants two: a new confirmation is needed
    print("[guard] ", second["txguard"]["outcome"] + ":", ", ".join(r["code"] for r in second["txguard"]["reasons"]),
          "(the model changed the cart)")
    state = agent.invoke(Command(resume=approve(first)), config)  # replaying the first yes
    for message in state["messages"]:
        if isinstance(message, ToolMessage):
            print(f"[tool]   {message.tool_call_id}: {message.status}: {str(message.content).splitlines()[0]}")
    print("[model] ", state["messages"][-1].content)
    print("orders placed:", len(orders))


if __name__ == "__main__":
    main()
