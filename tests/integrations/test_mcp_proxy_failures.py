"""The proxy when a side fails: the upstream server crashes, the client disconnects mid-call."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import MCPError

from .mcp_helpers import ADD, CART, CONTEXT, proxy, proxy_params, recorded, run, text

pytestmark = pytest.mark.system  # real processes: the proxy, the example server, the SDK's client

CRASHING = Path(__file__).resolve().parent / "mcp_crashing_server.py"


def test_an_upstream_crash_answers_an_error_and_the_proxy_stays_up(tmp_path: Path) -> None:
    errlog = tmp_path / "proxy.err"

    async def scenario() -> None:
        params = proxy_params(tmp_path, "--context", CONTEXT, upstream=["--", sys.executable, str(CRASHING)])
        with open(errlog, "w", encoding="utf-8") as err:
            async with proxy(params, errlog=err) as client:
                crashed = await client.call_tool("add_to_cart", copy.deepcopy(ADD))
                assert crashed.is_error
                assert "whether it ran is unknown" in text(crashed)
                again = await client.call_tool("add_to_cart", copy.deepcopy(ADD))
                assert again.is_error
                assert text(again).startswith("upstream server unavailable (")
                assert text(again).endswith("`add_to_cart` was not forwarded")
                blocked = await client.call_tool("get_order", {"order_id": "x"})  # still decided: escalated
                assert blocked.structured_content["outcome"] == "escalate"
                with pytest.raises(MCPError) as listing:
                    await client.list_tools()
                assert "upstream server unavailable" in listing.value.message

    run(scenario)
    log = errlog.read_text(encoding="utf-8")
    assert "txguard mcp-proxy: upstream server failed:" in log
    assert "txguard mcp-proxy: client disconnected, exiting" in log


def test_a_client_that_disconnects_mid_call_leaves_nothing_forwarded(tmp_path: Path) -> None:
    errlog = tmp_path / "proxy.err"
    events: list[anyio.Event] = []

    async def elicit(ctx: Any, params: Any) -> types.ElicitResult:
        events[0].set()
        await anyio.sleep_forever()  # the user never answers: the client goes away instead
        raise AssertionError("unreachable")

    async def scenario() -> None:
        asked = anyio.Event()
        events.append(asked)
        with open(errlog, "w", encoding="utf-8") as err:
            async with proxy(proxy_params(tmp_path, "--context", CONTEXT), elicit=elicit, errlog=err) as client:
                async with anyio.create_task_group() as tg:
                    async def call() -> None:
                        await client.call_tool("checkout", copy.deepcopy(CART))
                    tg.start_soon(call)
                    with anyio.fail_after(60):
                        await asked.wait()
                    tg.cancel_scope.cancel()
            # leaving the block closed the proxy's stdin: it must exit by itself and forward nothing

    run(scenario)
    assert "txguard mcp-proxy: client disconnected, exiting" in errlog.read_text(encoding="utf-8")
    assert recorded(tmp_path / "executed.jsonl") == []
