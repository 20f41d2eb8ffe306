"""An MCP client talking to the example commerce server through ``txguard mcp-proxy``.

The client is the official MCP SDK's; the agent's tool calls are scripted (no model, no network).
The proxy starts the server, decides each ``tools/call`` with ``policies/retail.yaml`` and the
context from ``examples/mcp_context.py``, and forwards only what the guard allows. The checkout
needs the user's consent: the proxy shows the confirmation with an MCP elicitation form, which the
client here answers as the user would on the client's own screen.

Run it from the repository root: ``python examples/mcp_proxy_demo.py`` (needs ``txguard[mcp]``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
from mcp import Client, StdioServerParameters

HERE = Path(__file__).resolve().parent
PROXY = StdioServerParameters(
    command=sys.executable,
    args=["-m", "txguard.cli", "mcp-proxy", "--policy", str(HERE.parent / "policies" / "retail.yaml"),
          "--context", f"{HERE / 'mcp_context.py'}:context", "--", sys.executable, str(HERE / "mcp_commerce_server.py")],
    cwd=str(HERE.parent),
)
CART: dict[str, Any] = {
    "items": [{"sku": "2115393569", "product_id": "7996920482", "title": "Coffee Maker", "quantity": 1,
               "unit_price": "270.91"}],
    "currency": "USD", "total": "270.91", "payment_method_id": "credit_card_6177109", "confidence": 0.95,
}
CALLS: list[tuple[str, Any]] = [
    ("checkout", {**CART, "total": "NaN"}),          # corrupted model output
    ("checkout", CART),                              # the real cart: the user must confirm it
    ("get_order", {"order_id": "#W0000001"}),        # a tool the policy does not map
]


async def user_screen(ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
    """The client's own confirmation screen: the user reads exactly what will run and taps Confirm."""
    print("[screen]", params.message.replace("\n", "\n         "))
    print("[user]   taps Confirm")
    return types.ElicitResult(action="accept", content={"confirm": True})


async def main() -> None:
    async with Client(PROXY, elicitation_callback=user_screen, mode="legacy") as client:
        tools = await client.list_tools()
        print("[client] tools:", ", ".join(t.name for t in tools.tools))
        for name, arguments in CALLS:
            print(f"[agent]  calls {name}")
            result = await client.call_tool(name, arguments)
            text = "".join(c.text for c in result.content if isinstance(c, types.TextContent))
            if result.is_error:
                print(f"[proxy]  not run ({result.structured_content['outcome']}): {text}")
            else:
                print(f"[tool]   {text}")


if __name__ == "__main__":
    anyio.run(main)
