"""The script of ``txguard demo``: the failure stories, and the provider shapes the scripted model
answers in (what each provider's API would return for a model that says ``text`` and calls
``checkout(arguments)``). :mod:`txguard.cli.demo` plays them against the guard.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .. import adapters

USER = "chen_smith_8425"
CARD = "credit_card_6177109"


def _line(sku: str, product_id: str, title: str, quantity: int, unit_price: str) -> dict[str, Any]:
    return {"sku": sku, "product_id": product_id, "title": title, "quantity": quantity, "unit_price": unit_price}


def _cart(line: dict[str, Any], total: str, confidence: float) -> dict[str, Any]:
    return {"items": [line], "currency": "USD", "total": total, "payment_method_id": CARD, "confidence": confidence}


def _openai_chat(text: str, arguments: Any) -> Any:
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"role": "assistant", "content": text,
            "tool_calls": [{"id": "call_demo", "type": "function", "function": {"name": "checkout", "arguments": raw}}]}


def _openai_responses(text: str, arguments: Any) -> Any:
    return {"output": [
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]},
        {"type": "function_call", "id": "fc_demo", "call_id": "call_demo", "name": "checkout",
         "arguments": json.dumps(arguments), "status": "completed"}]}


def _anthropic(text: str, arguments: Any) -> Any:
    return {"role": "assistant", "stop_reason": "tool_use", "content": [
        {"type": "text", "text": text},
        {"type": "tool_use", "id": "toolu_demo", "name": "checkout", "input": arguments}]}


def _mcp(text: str, arguments: Any) -> Any:
    return {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "checkout", "arguments": arguments}}


Source = Literal["openai_chat", "openai_responses", "anthropic", "mcp"]
SHAPES: dict[Source, tuple[str, Callable[[str, Any], Any], Callable[[Any], list[adapters.ToolCall]]]] = {
    "openai_chat": ("OpenAI Chat Completions tool call", _openai_chat, adapters.openai_chat_calls),
    "openai_responses": ("OpenAI Responses function_call", _openai_responses, adapters.openai_responses_calls),
    "anthropic": ("Anthropic tool_use block", _anthropic, adapters.anthropic_calls),
    "mcp": ("MCP tools/call request", _mcp, lambda request: [adapters.from_mcp(request)]),
}


@dataclass(frozen=True)
class Say:
    """The user says something in the chat."""

    text: str


@dataclass(frozen=True)
class Propose:
    """The scripted model answers `text` and calls checkout(arguments), in a provider's shape."""

    source: Source
    text: str
    arguments: Any


@dataclass(frozen=True)
class Confirm:
    """The user taps Confirm on the host's trusted confirmation screen (not in the chat)."""


Step = Say | Propose | Confirm


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    request: dict[str, Any]
    steps: tuple[Step, ...]
    note: str | None = None
    confirmed_before: tuple[dict[str, Any], ...] = ()


_COFFEE = _line("2115393569", "7996920482", "Coffee Maker", 1, "270.91")
_FRENCH_PRESS = _line("3020722515", "7996920482", "Coffee Maker", 1, "238.64")
_EREADER = _line("7609274509", "3801771308", "E-Reader", 1, "243.40")

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "coffee-maker", "The artisanal coffee maker",
        {"text": "an artisanal coffee maker, a small french press, nothing over $300", "product_type": "Coffee Maker",
         "budget": "300", "quantity": 1, "options": {"type": "french press"}},
        (Say("I'm after an artisanal coffee maker, a small french press would be lovely. Nothing over $300."),
         Propose("openai_chat", "I found the perfect machine for you and I'm checking it out now!",
                 _cart(_line("3714494375", "4354588079", "Espresso Machine", 1, "2709.83"), "2709.83", 0.91))),
    ),
    Scenario(
        "good-deal", "\"A good deal on a TV\" (a tablet here)",
        {"text": "a good deal on a tablet, $950 at most", "product_type": "Tablet", "budget": "950", "quantity": 1},
        (Say("Find me a good deal on a tablet, $950 at most."),
         Propose("openai_responses", "Best pick: the premium 128GB gold tablet. Ordering it for you.",
                 _cart(_line("6065192424", "8024098596", "Tablet", 1, "989.70"), "989.70", 0.88))),
        note="The catalog sells no TV; the closest honest equivalent is a good deal on a tablet.",
    ),
    Scenario(
        "no-consent", "A payment without consent, then the confirmation round trip",
        {"text": "the black drip coffee maker with the timer", "product_type": "Coffee Maker", "quantity": 1,
         "options": {"type": "drip"}},
        (Say("The black drip coffee maker with the timer, please."),
         Propose("anthropic", "On it, paying now.", _cart(_COFFEE, "270.91", 0.95)),
         Confirm(),
         Propose("anthropic", "Thanks for confirming, placing the order.", _cart(_COFFEE, "270.91", 0.95))),
    ),
    Scenario(
        "cart-changed", "Consent given, then the cart changed",
        {"text": "one french press coffee maker", "product_type": "Coffee Maker", "quantity": 1},
        (Say("Yes, that one french press, I confirmed it on the screen."),
         Propose("mcp", "I added a second one for the office, you'll love it!",
                 _cart(dict(_FRENCH_PRESS, quantity=2), "477.28", 0.9))),
        note="Earlier the user confirmed 1 x french press at 238.64 on the confirmation screen.",
        confirmed_before=({"name": "checkout", "arguments": _cart(_FRENCH_PRESS, "238.64", 0.9)},),
    ),
    Scenario(
        "hallucinated-price", "A hallucinated price",
        {"text": "a blue bluetooth speaker with 20 hours of battery", "product_type": "Bluetooth Speaker",
         "quantity": 1},
        (Say("A blue bluetooth speaker with 20 hours of battery, please."),
         Propose("openai_chat", "Good news, it's on sale today for $199.99!",
                 _cart(_line("2635605237", "4768869376", "Bluetooth Speaker", 1, "199.99"), "199.99", 0.93))),
        note="The catalog price of that speaker is 271.89 USD; it was never 199.99.",
    ),
    Scenario(
        "corrupted-output", "Corrupted model output",
        {"text": "two pink yoga mats", "product_type": "Yoga Mat", "quantity": 2},
        (Say("Two pink yoga mats, please."),
         Propose("openai_chat", "Ord\ufffd\ufffdering y\u2592\u2592our m\ufffd",
                 '{"items": [{"sku": "1794273251", "product_id": "46359\u0000\u2592\u2592#@@}}]] ,,"quantity": 2\u00ff\u00ff,'
                 ' "unit_pr')),
    ),
    Scenario(
        "straight-through", "A correct purchase goes straight through",
        {"text": "an 8-inch Wi-Fi e-reader with 32GB", "product_type": "E-Reader", "quantity": 1},
        (Say("The 8-inch Wi-Fi e-reader with 32GB, please. Yes, I confirmed it."),
         Propose("openai_responses", "Placing your order.", _cart(_EREADER, "243.40", 0.97))),
        note="The user confirmed exactly this cart on the confirmation screen before the agent paid.",
        confirmed_before=({"name": "checkout", "arguments": _cart(_EREADER, "243.40", 0.97)},),
    ),
)
