"""A small stdio MCP server with one checkout tool, for the OpenAI Agents SDK's local-MCP test.

Every call it receives is appended, as JSON, to the file named by ``SHOP_LOG``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from mcp.server.mcpserver import MCPServer

server = MCPServer("shop")


@server.tool()
def checkout(items: list[dict[str, Any]], currency: str, total: str, payment_method_id: str, confidence: float) -> str:
    """Place the order."""
    call = {"items": items, "currency": currency, "total": total, "payment_method_id": payment_method_id, "confidence": confidence}
    with open(os.environ["SHOP_LOG"], "a", encoding="utf-8") as fh:
        fh.write(json.dumps(call) + "\n")
    return "order placed"


if __name__ == "__main__":
    server.run()
