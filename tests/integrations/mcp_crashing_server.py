"""An MCP server whose ``add_to_cart`` kills its own process mid-call (the proxy's crash test)."""

from __future__ import annotations

import os
from typing import Any

from mcp.server.mcpserver import MCPServer

server = MCPServer("crashing")


@server.tool()
def add_to_cart(items: list[dict[str, Any]], currency: str, confidence: float | None = None) -> str:
    """Dies before answering."""
    os._exit(3)


if __name__ == "__main__":
    server.run()
