"""Public API usage of guarded tools and adapters that must type-check under mypy --strict.

Checked by tests/test_typing_guarded.py; never imported by the test run.
"""

from __future__ import annotations

from typing import Any

from typing_extensions import assert_type

from txguard import AsyncGuardedTool, Blocked, Guard, GuardedTool, Outcome, render_confirmation
from txguard.adapters import ToolCall, from_anthropic, openai_chat_calls

guard = Guard.from_file("policies/retail.yaml")


def place_order(items: list[dict[str, Any]], total: str) -> int:
    return 1


async def place_order_async(items: list[dict[str, Any]], total: str) -> str:
    return "ok"


checkout = guard.wrap(place_order, tool="checkout")
assert isinstance(checkout, GuardedTool)
assert_type(checkout([], "1.00"), int | Blocked)

strict = guard.wrap(place_order, tool="checkout", on_block="raise")
assert_type(strict([], "1.00"), int)

async_checkout = guard.wrap(place_order_async, tool="checkout")
assert isinstance(async_checkout, AsyncGuardedTool)
assert_type(async_checkout.tool, str)


@guard.tool("checkout")
def decorated(total: str) -> float:
    return 1.0


assert_type(decorated("1.00"), float | Blocked)


async def loop() -> None:
    result = await async_checkout([], "1.00")
    if isinstance(result, Blocked):
        assert_type(result.outcome, Outcome)
        if result.confirmation is not None:
            assert_type(render_confirmation(result.confirmation), str)
    else:
        assert_type(result, str)
    call = from_anthropic({"type": "tool_use", "id": "t", "name": "checkout", "input": {}})
    assert_type(call, ToolCall)
    assert_type(openai_chat_calls({}), list[ToolCall])
    assert_type(await async_checkout.dispatch(call), str | Blocked)
