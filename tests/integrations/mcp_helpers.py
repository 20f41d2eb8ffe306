"""Shared pieces of the MCP guard proxy tests: real processes, the SDK's real client, bounded waits."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, TextIO

import anyio
import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.client.session import ElicitationFnT
from mcp.client.stdio import stdio_client

from ..conftest import POLICIES, ROOT

SERVER = ROOT / "examples" / "mcp_commerce_server.py"
CONTEXT = f"{ROOT / 'examples' / 'mcp_context.py'}:context"
TXGUARD = [sys.executable, "-m", "txguard.cli"]
RETAIL = str(POLICIES / "retail.yaml")
CALL_TIMEOUT = 60.0

# The demo user's coffee maker (examples/catalog): the retail policy asks for consent, then allows it.
CART: dict[str, Any] = {
    "items": [{"sku": "2115393569", "product_id": "7996920482", "title": "Coffee Maker", "quantity": 1,
               "unit_price": "270.91"}],
    "currency": "USD", "total": "270.91", "payment_method_id": "credit_card_6177109", "confidence": 0.95,
}
ADD: dict[str, Any] = {"items": CART["items"], "currency": "USD", "confidence": 0.95}


def run(scenario: Callable[[], Awaitable[None]], bound: float = 120.0) -> None:
    """Run one async scenario under a time bound."""
    async def bounded() -> None:
        with anyio.fail_after(bound):
            await scenario()
    anyio.run(bounded)


def recorded(path: Path) -> list[dict[str, Any]]:
    """What the example server executed, one ``{"tool", "arguments"}`` per call."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def audit_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line)["body"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def proxy_params(tmp: Path, *extra: str, upstream: list[str] | None = None, policy: str = RETAIL) -> StdioServerParameters:
    """``txguard mcp-proxy`` guarding the example server, auditing to ``tmp/audit.jsonl``."""
    server = upstream if upstream is not None else ["--", sys.executable, str(SERVER)]
    args = [*TXGUARD[1:], "mcp-proxy", "--policy", policy, "--audit", f"jsonl:{tmp / 'audit.jsonl'}", *extra, *server]
    env = {**os.environ, "TXGUARD_EXAMPLE_RECORD": str(tmp / "executed.jsonl")}
    return StdioServerParameters(command=TXGUARD[0], args=args, env=env, cwd=str(ROOT))


@asynccontextmanager
async def proxy(params: StdioServerParameters, *, elicit: ElicitationFnT | None = None, mode: str = "legacy",
                errlog: TextIO | None = None) -> AsyncIterator[Client]:
    """The SDK's client connected to the proxy over stdio; the proxy (and its upstream) stop on exit."""
    transport = stdio_client(params, errlog=errlog if errlog is not None else sys.stderr)
    async with Client(transport, elicitation_callback=elicit, mode=mode, read_timeout_seconds=CALL_TIMEOUT) as client:
        yield client


def accept(log: list[str]) -> ElicitationFnT:
    """An elicitation callback: the user reads the confirmation (kept in ``log``) and confirms."""
    async def callback(ctx: Any, params: Any) -> types.ElicitResult:
        log.append(params.message)
        assert params.mode == "form"
        assert set(params.requested_schema["properties"]) == {"confirm"}  # nothing else is asked, no credentials
        return types.ElicitResult(action="accept", content={"confirm": True})
    return callback


def decline(log: list[str]) -> ElicitationFnT:
    async def callback(ctx: Any, params: Any) -> types.ElicitResult:
        log.append(params.message)
        return types.ElicitResult(action="decline")
    return callback


def text(result: types.CallToolResult) -> str:
    return "".join(c.text for c in result.content if isinstance(c, types.TextContent))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def http_server(tmp: Path, command: Callable[[int], list[str]] | None = None, *, name: str = "http-server",
                stopped: list[int] | None = None) -> Iterator[str]:
    """A process serving MCP on streamable HTTP on a free loopback port (by default the example server);
    terminated on exit, even on failure. ``command(port)`` is its command line; ``stopped`` receives
    its exit code after SIGTERM."""
    port = free_port()
    argv = [sys.executable, str(SERVER), "--http", str(port)] if command is None else command(port)
    env = {**os.environ, "TXGUARD_EXAMPLE_RECORD": str(tmp / "executed.jsonl")}
    log = open(tmp / f"{name}.log", "w", encoding="utf-8")
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"the HTTP server exited: {(tmp / f'{name}.log').read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError("the HTTP server did not listen within 30 s") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        try:
            code = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait(timeout=10)
        log.close()
        if stopped is not None:
            stopped.append(code)
