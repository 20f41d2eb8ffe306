"""``txguard mcp-proxy``: guard an MCP server's ``tools/call`` for any MCP client.

``txguard mcp-proxy --policy P [--context mod:fn | --facts-url URL] -- python server.py`` starts
the server on stdio and serves the guarded server on this process's stdin/stdout;
``--upstream URL`` guards a streamable HTTP server instead. The proxy exits 0 when its client
disconnects, 1 when the upstream cannot be reached at start or the options are wrong, 3 when the
policy is invalid. Needs ``pip install 'txguard[mcp]'``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import TYPE_CHECKING

from ..core.errors import UsageError
from .._guard import Guard
from ..audit import AuditError, open_sink
from ..sessions import open_store
from ..integrations.mcp_context import ContextProvider, facts_url_provider, load_context_provider
from ._common import compile_or_report

if TYPE_CHECKING:
    from mcp import Client

    from ..integrations.mcp_proxy import ProxyOptions

HELP = "guard an MCP server: decide every tools/call before forwarding it (stdio or streamable HTTP upstream)"


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--policy", required=True, help="the policy YAML file")
    p.add_argument("--audit", metavar="URL", help="append one audit record per decision (e.g. sqlite:audit.db)")
    p.add_argument("--sessions", metavar="URL", help="conversation store for session rules, budgets, single-use confirmations")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--context", metavar="MODULE:CALLABLE",
                     help="context provider: `pkg.mod:fn` or `file.py:fn`, called as fn(tool, arguments)")
    src.add_argument("--facts-url", metavar="URL", help="context provider endpoint: POST {tool, arguments}, JSON context back")
    p.add_argument("--facts-timeout", type=float, default=5.0, metavar="SECONDS",
                   help="timeout of a --facts-url request; a timeout escalates the call (default 5)")
    p.add_argument("--mode", choices=("enforce", "shadow"), default="enforce",
                   help="enforce: forward only allowed calls; shadow: forward everything, record the decision")
    p.add_argument("--only-mapped", action="store_true", help="list only the tools the policy maps")
    p.add_argument("--errors", choices=("result", "jsonrpc"), default="result",
                   help="a call that is not forwarded answers with an isError result (default) or a JSON-RPC error")
    p.add_argument("--upstream", metavar="URL", help="the guarded server's streamable HTTP URL (instead of a command)")
    p.add_argument("--listen", metavar="HOST:PORT",
                   help="serve the proxy on streamable HTTP at http://HOST:PORT/mcp instead of stdio")
    p.add_argument("--upstream-timeout", type=float, default=None, metavar="SECONDS",
                   help="read timeout of each upstream request (default: none)")
    p.add_argument("server_command", nargs=argparse.REMAINDER, metavar="-- COMMAND", help="-- the guarded server's command, started on stdio")


def run(args: argparse.Namespace) -> int:
    try:
        from ..integrations import mcp_proxy as mp
    except ImportError as exc:
        print(f"txguard mcp-proxy: needs the MCP SDK: pip install 'txguard[mcp]' ({exc})", file=sys.stderr)
        return 1
    command = list(args.server_command)
    if command and command[0] == "--":
        command = command[1:]
    policy = compile_or_report(args.policy)
    if policy is None:
        return 3
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # `--context pkg.mod:fn` resolves from the current directory, as `python -m` would
    try:
        listen = _listen(args.listen) if args.listen else None
        upstream = mp.upstream_client(command or None, args.upstream, timeout=args.upstream_timeout)
        context = (load_context_provider(args.context) if args.context else
                   facts_url_provider(args.facts_url, timeout=args.facts_timeout) if args.facts_url else None)
        sink = open_sink(args.audit) if args.audit else None
    except (UsageError, AuditError) as exc:
        print(f"txguard mcp-proxy: {exc}", file=sys.stderr)
        return 1
    store = None
    try:
        if args.sessions:
            store = open_store(args.sessions)
        guard = Guard(policy, audit=sink, sessions=store)
        options = mp.ProxyOptions(mode=args.mode, only_mapped=args.only_mapped, errors=args.errors)
        return _serve(guard, upstream, context, options, listen)
    except UsageError as exc:
        print(f"txguard mcp-proxy: {exc}", file=sys.stderr)
        return 1
    finally:
        if sink is not None:
            sink.close()
        if store is not None:
            store.close()


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--listen: expected HOST:PORT, got `{value}`")
    return host, int(port)


def _serve(guard: Guard, upstream: Client, context: ContextProvider | None, options: ProxyOptions,
           listen: tuple[str, int] | None) -> int:
    import anyio

    from ..integrations.mcp_proxy import serve_http, serve_stdio

    try:
        if listen is None:
            anyio.run(serve_stdio, guard, upstream, context, options)
        else:
            host, port = listen

            async def http() -> None:
                await serve_http(guard, upstream, context, options, host=host, port=port)
            # uvicorn stops gracefully on SIGINT/SIGTERM, then re-raises the signal to the handler it
            # found: a no-op one here, so that a stopped proxy exits 0 like any finished command.
            previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                anyio.run(http)
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
    except Exception as exc:  # noqa: BLE001 - the upstream could not be reached, or failed at start
        print(f"txguard mcp-proxy: {_root(exc)}", file=sys.stderr)
        return 1
    print("txguard mcp-proxy: client disconnected, exiting" if listen is None else "txguard mcp-proxy: stopped",
          file=sys.stderr)
    return 0


def _stopped(sig: int, frame: object) -> None:
    """Nothing to do: uvicorn has already shut the server down when it re-raises the signal."""


def _root(exc: BaseException) -> str:
    """The first leaf of an exception group (anyio task groups wrap the upstream's failure)."""
    inner = getattr(exc, "exceptions", None)
    while isinstance(inner, tuple) and inner:
        exc = inner[0]
        inner = getattr(exc, "exceptions", None)
    return f"{type(exc).__name__}: {exc}"
