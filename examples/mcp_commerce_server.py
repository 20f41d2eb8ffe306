"""A small commerce MCP server to put behind ``txguard mcp-proxy`` (the official ``mcp`` SDK).

Its tools are named as ``policies/retail.yaml`` maps them (``checkout``, ``add_to_cart``), plus a
read-only ``get_order`` the policy does not map (``--only-mapped`` hides it; otherwise the guard
escalates it as an unknown tool), a resource and a prompt (the proxy passes those through). The
server trusts whatever reaches it: guarding is the proxy's job.

Run it on stdio behind the proxy::

    txguard mcp-proxy --policy policies/retail.yaml --context examples/mcp_context.py:context \\
        -- python examples/mcp_commerce_server.py

or on streamable HTTP (``--http PORT``, loopback only) and point the proxy at it with
``--upstream http://127.0.0.1:PORT/mcp``.

``TXGUARD_EXAMPLE_RECORD=path``: append one JSON line ``{"tool", "arguments"}`` per executed call,
exactly as received (the tests read it to prove what ran).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from mcp.server.mcpserver import MCPServer

server = MCPServer("txguard-example-commerce")
_orders: dict[str, dict[str, Any]] = {}


def _record(tool: str, arguments: dict[str, Any]) -> None:
    path = os.environ.get("TXGUARD_EXAMPLE_RECORD")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"tool": tool, "arguments": arguments}, sort_keys=True) + "\n")


@server.tool()
def checkout(items: list[dict[str, Any]], currency: str, total: str, payment_method_id: str,
             confidence: float | None = None) -> str:
    """Pay for a cart: charges the payment method and places the order."""
    args: dict[str, Any] = {"items": items, "currency": currency, "total": total, "payment_method_id": payment_method_id}
    if confidence is not None:
        args["confidence"] = confidence
    _record("checkout", args)
    order_id = f"#W{len(_orders) + 1:07d}"
    _orders[order_id] = {"status": "pending", **args}
    return f"order {order_id} placed: {total} {currency}"


@server.tool()
def add_to_cart(items: list[dict[str, Any]], currency: str, confidence: float | None = None) -> str:
    """Put items in the user's cart (nothing is paid)."""
    args: dict[str, Any] = {"items": items, "currency": currency}
    if confidence is not None:
        args["confidence"] = confidence
    _record("add_to_cart", args)
    return f"{sum(int(i.get('quantity', 1)) for i in items)} item(s) added to the cart"


@server.tool()
def get_order(order_id: str) -> str:
    """Read an order placed in this session."""
    _record("get_order", {"order_id": order_id})
    order = _orders.get(order_id)
    return json.dumps(order) if order is not None else f"no order {order_id}"


@server.resource("orders://placed", mime_type="application/json")
def placed_orders() -> str:
    """The orders placed in this session (a resource: the proxy passes it through unguarded)."""
    return json.dumps(sorted(_orders))


@server.prompt()
def shopping_assistant(product_type: str) -> str:
    """A system prompt for an agent that shops for one product type."""
    return f"Help the user choose and buy one {product_type}. Always show the exact cart before paying."


def main(argv: list[str]) -> None:
    if len(argv) == 2 and argv[0] == "--http":
        server.run("streamable-http", host="127.0.0.1", port=int(argv[1]))
    else:
        server.run()


if __name__ == "__main__":
    main(sys.argv[1:])
