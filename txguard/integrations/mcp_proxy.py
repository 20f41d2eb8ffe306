"""A guard proxy in front of any MCP server: ``tools/call`` runs upstream only when txguard allows it.

The proxy is an MCP server to its client (stdio) and an MCP client to the upstream server (a
command it starts on stdio, or a streamable HTTP URL). It lists the upstream's tools unchanged (or
only those the policy maps), and decides every ``tools/call`` with :class:`ToolCallHook` before
forwarding it:

- ``allow``: forwarded once, with exactly the arguments that were decided;
- ``clarify`` with a confirmation: when the client declared form elicitation, the confirmation is
  shown with ``elicitation/create`` (accept or decline only: the form never asks for anything
  else, payment credentials least of all); on accept the call is checked again with the user's
  approval and forwarded only if that allows it. A client without elicitation gets a result
  telling the agent what to ask the user, with the confirmation text;
- ``escalate``: never forwarded; the client gets the decision's message and reason codes.

Every call that is not forwarded comes back as a tool result with ``isError: true`` (or, with
``errors="jsonrpc"``, as a JSON-RPC error) whose ``structuredContent`` is :meth:`Verdict.to_dict`.
In ``shadow`` mode every call is forwarded and the decision is only recorded (audit trail). The
upstream's prompts and resources are passed through unchanged: reading them runs no tool.

Context providers: :mod:`txguard.integrations.mcp_context`. Needs ``pip install 'txguard[mcp]'``; CLI: ``txguard mcp-proxy``.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import os
import secrets
import sys
from collections.abc import AsyncIterator, Awaitable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import anyio
import anyio.to_thread
import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import Server
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError

from ..core.errors import UsageError
from .._guard import Guard
from .guarded import render_confirmation
from ..core.jsonio import unusable
from ._hook import SchemaDefaultsError, ToolCallHook, Verdict, with_schema_defaults
from .mcp_context import ContextProvider

__all__ = [
    "GUARD_ERROR_CODE",
    "GuardProxy",
    "ProxyOptions",
    "serve_http",
    "serve_stdio",
    "upstream_client",
]

_R = TypeVar("_R")

GUARD_ERROR_CODE = -32050
"""The JSON-RPC error code of a call the guard did not let through (``errors="jsonrpc"``)."""

_CONNECTION_LOST = (MCPError, anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, OSError)
"""What calling a dead or disconnected upstream raises (an ``MCPError`` only with ``CONNECTION_CLOSED``)."""

_CONFIRM_KEY = "txguard_confirm"
_CONFIRM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"confirm": {"type": "boolean", "title": "Confirm",
                               "description": "Run exactly what is shown above"}},
    "required": ["confirm"],
}


@dataclass(frozen=True, slots=True)
class ProxyOptions:
    """How the proxy treats calls.

    Attributes:
        mode: ``enforce`` (forward only on ``allow``) or ``shadow`` (forward everything, record the decision).
        only_mapped: list only the tools the policy maps.
        errors: how a call that is not forwarded is answered: ``result`` (``isError`` tool result)
            or ``jsonrpc`` (a JSON-RPC error with code :data:`GUARD_ERROR_CODE`).
    """

    mode: Literal["enforce", "shadow"] = "enforce"
    only_mapped: bool = False
    errors: Literal["result", "jsonrpc"] = "result"


# -- the proxy ----------------------------------------------------------------------------------

class GuardProxy:
    """An MCP server that decides every ``tools/call`` before forwarding it to ``upstream``.

    Args:
        guard: the guard that decides (with its audit sink and session store).
        upstream: a connected :class:`mcp.Client` to the guarded server.
        context: the host's context provider; None decides with an empty context.
        options: :class:`ProxyOptions`.
    """

    def __init__(self, guard: Guard, upstream: Client, context: ContextProvider | None = None,
                 options: ProxyOptions = ProxyOptions()) -> None:
        self.guard = guard
        self.upstream = upstream
        self.context = context
        self.options = options
        self._state_key = secrets.token_bytes(32)
        self._upstream_failed: str | None = None
        self._schemas: dict[str, Any] = {}  # tool name -> the upstream's input schema (read once)
        self.server: Server[Any] = Server("txguard-mcp-proxy", on_list_tools=self._list_tools,
                                          on_call_tool=self._call_tool)
        self._relay_unguarded()

    def _relay_unguarded(self) -> None:
        """Pass the upstream's prompts and resources through unchanged (nothing there runs a tool)."""
        try:
            caps = self.upstream.server_capabilities
        except RuntimeError:  # not connected: tools only
            return
        up = self.upstream
        add = self.server.add_request_handler

        async def list_prompts(ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams) -> types.ListPromptsResult:
            return await _relayed(up.list_prompts(cursor=params.cursor))

        async def get_prompt(ctx: ServerRequestContext[Any], params: types.GetPromptRequestParams) -> types.GetPromptResult:
            return await _relayed(up.get_prompt(params.name, params.arguments))

        async def list_resources(ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams
                                 ) -> types.ListResourcesResult:
            return await _relayed(up.list_resources(cursor=params.cursor))

        async def list_templates(ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams
                                 ) -> types.ListResourceTemplatesResult:
            return await _relayed(up.list_resource_templates(cursor=params.cursor))

        async def read_resource(ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
                                ) -> types.ReadResourceResult:
            return await _relayed(up.read_resource(str(params.uri)))

        if caps.prompts is not None:
            add("prompts/list", types.PaginatedRequestParams, list_prompts)
            add("prompts/get", types.GetPromptRequestParams, get_prompt)
        if caps.resources is not None:
            add("resources/list", types.PaginatedRequestParams, list_resources)
            add("resources/templates/list", types.PaginatedRequestParams, list_templates)
            add("resources/read", types.ReadResourceRequestParams, read_resource)

    # ---- tools/list
    async def _list_tools(self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
                          ) -> types.ListToolsResult:
        cursor = params.cursor if params is not None else None
        try:
            page = await self.upstream.list_tools(cursor=cursor)
        except Exception as exc:  # noqa: BLE001 - an upstream failure is reported to the client, not raised
            raise MCPError(types.INTERNAL_ERROR, f"upstream server unavailable: {_short(exc)}") from None
        tools = page.tools
        if self.options.only_mapped:
            mapped = self.guard.policy.tools
            tools = [t for t in tools if t.name in mapped]
        return types.ListToolsResult(tools=tools, next_cursor=page.next_cursor)

    # ---- tools/call
    async def _call_tool(self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
                         ) -> types.CallToolResult | types.InputRequiredResult:
        tool, arguments = params.name, params.arguments
        call_id = str(ctx.request_id) if ctx.request_id is not None else None
        decided: Any  # the arguments decided and forwarded: the call's, with the upstream's defaults
        if self.options.mode == "shadow":
            await self._decide(tool, arguments, call_id)
            return await self._forward(tool, arguments)

        # The upstream fills a parameter the call omits from its schema's default: decide that
        # value too, and forward it explicitly (what the upstream runs is what was decided).
        schema = await self._schema(tool)
        try:
            decided = (with_schema_defaults(arguments, schema) if schema is not None
                       else unusable(f"the upstream's schema of tool `{tool[:80]}` cannot be read"))
        except SchemaDefaultsError as exc:
            decided = unusable(f"the defaults of tool `{tool[:80]}` cannot be decided: {exc}")
        if params.request_state is not None:  # the 2026-07-28 retry after the user answered the form
            return await self._resume(tool, decided, call_id, params)

        verdict = await self._decide(tool, decided, call_id)
        if verdict.run:
            return await self._forward(tool, decided)
        if not (verdict.needs_approval and _can_elicit(ctx)):
            return self._blocked(verdict)
        message = _confirm_message(verdict)
        if not ctx.session.can_send_request:
            # 2026-07-28 connections carry server requests inside the result: the client answers
            # the form and retries this call with our signed state.
            return types.InputRequiredResult(
                input_requests={_CONFIRM_KEY: types.ElicitRequest(params=types.ElicitRequestFormParams(
                    message=message, requested_schema=_CONFIRM_SCHEMA))},
                request_state=self._sign(tool, verdict))
        answer = await ctx.session.elicit_form(message, _CONFIRM_SCHEMA, ctx.request_id)
        return await self._after_answer(tool, decided, call_id, verdict.approval(), answer, verdict)

    async def _schema(self, tool: str) -> Any:
        """The upstream tool's input schema (``{}`` when it declares none); None when it cannot be read."""
        if tool not in self._schemas:
            try:
                cursor: str | None = None
                while True:
                    page = await self.upstream.list_tools(cursor=cursor)
                    for t in page.tools:
                        self._schemas[t.name] = t.input_schema
                    cursor = page.next_cursor
                    if not cursor:
                        break
            except Exception:  # noqa: BLE001 - an upstream that cannot list its tools: nothing runs
                return None
        return self._schemas.get(tool, {})

    async def _resume(self, tool: str, arguments: Any, call_id: str | None,
                      params: types.CallToolRequestParams) -> types.CallToolResult:
        digest = self._verify(tool, params.request_state or "")
        answer = (params.input_responses or {}).get(_CONFIRM_KEY)
        if digest is None or not isinstance(answer, types.ElicitResult):
            verdict = await self._decide(tool, arguments, call_id)
            return self._blocked_text(verdict, f"the confirmation state is missing or was altered; `{tool}` was not run")
        return await self._after_answer(tool, arguments, call_id, {"digest": digest}, answer, None)

    async def _after_answer(self, tool: str, arguments: Any, call_id: str | None, approval: Mapping[str, str],
                            answer: types.ElicitResult, asked: Verdict | None) -> types.CallToolResult:
        """Forward only when the user accepted the shown confirmation and the re-check allows the call."""
        if answer.action != "accept" or not isinstance(answer.content, dict) or answer.content.get("confirm") is not True:
            verdict = asked if asked is not None else await self._decide(tool, arguments, call_id)
            what = "cancelled" if answer.action == "cancel" else "declined"
            return self._blocked_text(verdict, f"the user {what} the confirmation; `{tool}` was not run")
        verdict = await self._decide(tool, arguments, call_id, approval)
        if verdict.run:
            return await self._forward(tool, arguments)
        return self._blocked(verdict)

    # ---- pieces
    async def _decide(self, tool: str, arguments: Any, call_id: str | None,
                      approval: Mapping[str, str] | None = None) -> Verdict:
        context: Mapping[str, Any] | None = None
        failure: Exception | None = None
        if self.context is not None:
            provider = self.context
            try:
                # The provider gets a copy: whatever it does, the call forwarded is the one decided.
                context = await anyio.to_thread.run_sync(provider, tool, copy.deepcopy(arguments))
            except Exception as exc:  # noqa: BLE001 - re-raised inside the hook, which escalates and audits
                failure = exc
                print(f"txguard mcp-proxy: context provider failed on `{tool}`: {type(exc).__name__}: {_short(exc)}",
                      file=sys.stderr)

        def read() -> Mapping[str, Any]:
            if failure is not None:
                raise failure
            return context if context is not None else {}

        framework = "mcp-shadow" if self.options.mode == "shadow" else "mcp"
        hook = ToolCallHook(self.guard, read, framework=framework)
        return hook.check(tool, arguments, call_id=call_id, approvals=[approval] if approval else ())

    async def _forward(self, tool: str, arguments: Any) -> types.CallToolResult:
        if self._upstream_failed is not None:
            return _error_result(f"upstream server unavailable ({self._upstream_failed}); `{tool}` was not forwarded")
        try:
            return await self.upstream.call_tool(tool, arguments)
        except _CONNECTION_LOST as exc:
            if isinstance(exc, MCPError) and exc.code != types.CONNECTION_CLOSED:
                raise MCPError.from_error_data(exc.error) from None  # the upstream's own JSON-RPC error, passed through
            # The server died or hung up while the call was in flight: it may or may not have acted.
            self._upstream_failed = _short(exc)
            print(f"txguard mcp-proxy: upstream server failed: {self._upstream_failed}", file=sys.stderr)
            return _error_result(f"upstream server failed on `{tool}`: {self._upstream_failed}; whether it ran is unknown")
        except Exception as exc:  # noqa: BLE001 - e.g. a result that breaks the tool's output schema
            return _error_result(f"upstream server answered `{tool}` with an unusable result: {_short(exc)}")

    def _blocked(self, verdict: Verdict) -> types.CallToolResult:
        text = verdict.message  # a clarify's message already renders its confirmation
        if verdict.needs_approval:
            text += ("\nAsk the user to confirm exactly this. It runs only after the user approves it on the "
                     "host's confirmation screen.")
        return self._blocked_text(verdict, text)

    def _blocked_text(self, verdict: Verdict, text: str) -> types.CallToolResult:
        payload = verdict.to_dict()
        codes = ", ".join(r.code for r in verdict.reasons)
        if codes:
            text += f" [{codes}]"
        if self.options.errors == "jsonrpc":
            raise MCPError(GUARD_ERROR_CODE, text, payload)
        return types.CallToolResult(content=[types.TextContent(text=text)], structured_content=payload, is_error=True)

    def _sign(self, tool: str, verdict: Verdict) -> str:
        body = base64.urlsafe_b64encode(json.dumps([tool, verdict.approval()["digest"]]).encode()).decode()
        mac = hmac.new(self._state_key, body.encode(), hashlib.sha256).hexdigest()
        return f"{body}.{mac}"

    def _verify(self, tool: str, state: str) -> str | None:
        body, _, mac = state.partition(".")
        if not hmac.compare_digest(hmac.new(self._state_key, body.encode(), hashlib.sha256).hexdigest(), mac):
            return None
        try:
            signed_tool, digest = json.loads(base64.urlsafe_b64decode(body.encode()))
        except (ValueError, TypeError):
            return None
        return digest if signed_tool == tool and isinstance(digest, str) else None

    async def run(self, read_stream: Any, write_stream: Any) -> None:
        """Serve one client connection over the given streams until it closes."""
        await self.server.run(read_stream, write_stream, self.server.create_initialization_options())


async def _relayed(call: Awaitable[_R]) -> _R:
    """The upstream's answer; its JSON-RPC error, or an unavailable upstream, as a JSON-RPC error."""
    try:
        return await call
    except MCPError as exc:
        raise MCPError.from_error_data(exc.error) from None
    except Exception as exc:  # noqa: BLE001 - an upstream failure is reported to the client, not raised
        raise MCPError(types.INTERNAL_ERROR, f"upstream server unavailable: {_short(exc)}") from None


def _can_elicit(ctx: ServerRequestContext[Any]) -> bool:
    caps = ctx.session.client_capabilities
    if caps is None or caps.elicitation is None:
        return False
    el = caps.elicitation
    return el.form is not None or el.url is None  # an empty elicitation capability means form mode


def _confirm_message(verdict: Verdict) -> str:
    conf = verdict.confirmation
    assert conf is not None
    return (render_confirmation(conf) + "\n\nConfirm to run exactly this. "
            "Do not enter payment details here: only confirm or decline.")


def _error_result(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=text)], is_error=True)


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


# -- running it -----------------------------------------------------------------------------------

def upstream_client(command: list[str] | None = None, url: str | None = None, *,
                    timeout: float | None = None) -> Client:
    """An (unconnected) SDK client for the guarded server: a command on stdio, or a streamable HTTP URL."""
    if (command is None) == (url is None):
        raise UsageError("give the upstream server either as `-- COMMAND...` or as `--upstream URL`")
    target: StdioServerParameters | str
    if command is not None:
        if not command:
            raise UsageError("the upstream server command is empty")
        # The guarded server inherits the proxy's environment, as under any command wrapper.
        target = StdioServerParameters(command=command[0], args=command[1:], env=dict(os.environ))
    else:
        assert url is not None
        target = url
    return Client(target, read_timeout_seconds=timeout, cache=None)


@asynccontextmanager
async def connected(client: Client) -> AsyncIterator[Client]:
    """``client`` connected for the duration of the block."""
    async with AsyncExitStack() as stack:
        yield await stack.enter_async_context(client)


async def serve_stdio(guard: Guard, upstream: Client, context: ContextProvider | None = None,
                      options: ProxyOptions = ProxyOptions()) -> None:
    """Connect to ``upstream`` and serve the proxy on this process's stdin/stdout until the client leaves."""
    async with connected(upstream) as up:
        proxy = GuardProxy(guard, up, context, options)
        async with stdio_server() as (read_stream, write_stream):
            await proxy.run(read_stream, write_stream)


async def serve_http(guard: Guard, upstream: Client, context: ContextProvider | None = None,
                     options: ProxyOptions = ProxyOptions(), *, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Connect to ``upstream`` and serve the proxy on streamable HTTP at ``http://host:port/mcp``.

    Every client session shares the one upstream connection. Returns after SIGINT or SIGTERM.
    """
    import uvicorn

    async with connected(upstream) as up:
        proxy = GuardProxy(guard, up, context, options)
        app = proxy.server.streamable_http_app(host=host)
        await uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning")).serve()
