"""A context provider for ``txguard mcp-proxy --context examples/mcp_context.py:context``.

The proxy calls ``context(tool, arguments)`` before deciding each ``tools/call`` and decides with
what it returns: ``{"request", "session", "facts"}``. A real host reads the signed-in user from its
own session, the user's request from its conversation store and the facts from its catalog and
order database; it never takes them from the agent. Anything it raises makes the call escalate.

This one serves the demo catalog and the demo user who asked for a coffee maker.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CATALOG = json.loads((Path(__file__).resolve().parent / "catalog" / "catalog.json").read_text(encoding="utf-8"))


def context(tool: str, arguments: Any) -> dict[str, Any]:
    """The decision context of one call of ``tool`` (the arguments are a copy, for lookups only)."""
    return {
        "request": {"text": "a black drip coffee maker with a timer", "product_type": "Coffee Maker", "quantity": 1},
        "session": {"authenticated_user_id": "chen_smith_8425", "confirmed": []},
        "facts": CATALOG,
    }
