"""``txguard mcp-proxy --upstream URL``: the example server on streamable HTTP as a real process on a loopback port."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client

from .mcp_helpers import (ADD, CART, CONTEXT, RETAIL, SERVER, TXGUARD, accept, audit_records, decline, free_port, http_server,
                          proxy, proxy_params, recorded, run, text)

pytestmark = pytest.mark.system  # real processes: the proxy, the example server, the SDK's client


def test_allowed_and_confirmed_calls_are_forwarded_over_http_and_escalated_ones_are_not(tmp_path: Path) -> None:
    shown: list[str] = []
    with http_server(tmp_path) as url:
        async def scenario() -> None:
            params = proxy_params(tmp_path, "--context", CONTEXT, upstream=["--upstream", url])
            async with proxy(params, elicit=accept(shown), mode="auto") as client:
                assert [t.name for t in (await client.list_tools()).tools] == ["checkout", "add_to_cart", "get_order"]
                added = await client.call_tool("add_to_cart", copy.deepcopy(ADD))
                assert not added.is_error, text(added)
                paid = await client.call_tool("checkout", copy.deepcopy(CART))
                assert text(paid) == "order #W0000001 placed: 270.91 USD"
                refused = await client.call_tool("get_order", {"order_id": "#W0000001"})
                assert refused.is_error and refused.structured_content["outcome"] == "escalate"
        run(scenario)
    assert len(shown) == 1
    assert recorded(tmp_path / "executed.jsonl") == [{"tool": "add_to_cart", "arguments": ADD},
                                                      {"tool": "checkout", "arguments": CART}]
    assert [r["decision"]["outcome"] for r in audit_records(tmp_path / "audit.jsonl")] == ["allow", "clarify", "allow", "escalate"]


def test_an_unreachable_upstream_url_exits_1_with_a_message(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/mcp"
    done = subprocess.run([sys.executable, "-m", "txguard.cli", "mcp-proxy", "--policy", RETAIL, "--upstream", url],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 1
    assert done.stderr.startswith("txguard mcp-proxy: ")
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("era", ["legacy", "auto"])
def test_the_proxy_serves_streamable_http_with_listen(tmp_path: Path, era: str) -> None:
    """``--listen``: the proxy itself on a loopback port, the example server behind it on stdio."""
    shown: list[str] = []
    stopped: list[int] = []

    def command(port: int) -> list[str]:
        return [*TXGUARD, "mcp-proxy", "--policy", RETAIL, "--audit", f"jsonl:{tmp_path / 'audit.jsonl'}", "--context", CONTEXT,
                "--sessions", f"sqlite:{tmp_path / 'sessions.db'}", "--listen", f"127.0.0.1:{port}", "--", sys.executable, str(SERVER)]

    with http_server(tmp_path, command, name="proxy", stopped=stopped) as url:
        async def scenario() -> None:
            async with Client(url, elicitation_callback=accept(shown), mode=era, read_timeout_seconds=60) as client:
                assert not (await client.call_tool("checkout", copy.deepcopy(CART))).is_error
            async with Client(url, elicitation_callback=decline([]), mode=era, read_timeout_seconds=60) as other:
                declined = await other.call_tool("checkout", copy.deepcopy(CART))
                assert declined.is_error and "declined" in text(declined)
        run(scenario)
    assert stopped == [0]
    assert (tmp_path / "proxy.log").read_text(encoding="utf-8").endswith("txguard mcp-proxy: stopped\n")
    assert len(shown) == 1
    assert recorded(tmp_path / "executed.jsonl") == [{"tool": "checkout", "arguments": CART}]

