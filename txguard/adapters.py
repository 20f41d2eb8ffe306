"""Adapters from the tool-call shapes real LLM APIs emit to txguard proposals.

Plain functions over dicts (decoded JSON, or an SDK object's ``model_dump()``): no SDK is imported.
Each returns a :class:`ToolCall` whose ``proposal`` (``{"name", "arguments"}``) goes straight to
:meth:`txguard.Guard.check`, and whose ``call_id`` is what the host echoes back to the provider with
the tool's result.

================================  ==========================================================
shape                             function
================================  ==========================================================
OpenAI Chat Completions           :func:`from_openai_chat` (one ``message.tool_calls[i]``),
                                  :func:`openai_chat_calls` (a message or a whole completion)
OpenAI Responses API              :func:`from_openai_responses` (one ``function_call`` item),
                                  :func:`openai_responses_calls` (a response or its ``output``)
Anthropic Messages                :func:`from_anthropic` (one ``tool_use`` block),
                                  :func:`anthropic_calls` (a message or its ``content``)
MCP ``tools/call`` request        :func:`from_mcp`
================================  ==========================================================

Adapters never raise. A tool call they cannot read (a missing field, a wrong type, a truncated
argument string) still becomes a proposal, one the guard is certain to decide ``escalate``: the
tool name when there is one (else ``""``, an unknown tool), and the raw arguments when they are
there. An envelope problem the guard could not see for itself (for example Anthropic ``input``
sent as a string, or an OpenAI ``function.arguments`` sent as an object) is recorded in
``ToolCall.problem`` and replaces the arguments by a text that is not JSON, so the decision is
``escalate`` (``malformed``) and the problem is kept, in the proposal, for the audit trail.

Example:
    >>> from txguard.adapters import from_anthropic
    >>> call = from_anthropic({"type": "tool_use", "id": "toolu_1", "name": "checkout",
    ...                        "input": {"items": []}})
    >>> call.proposal, call.call_id
    ({'name': 'checkout', 'arguments': {'items': []}}, 'toolu_1')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "Source",
    "ToolCall",
    "anthropic_calls",
    "from_anthropic",
    "from_mcp",
    "from_openai_chat",
    "from_openai_responses",
    "openai_chat_calls",
    "openai_responses_calls",
]

Source = Literal["openai_chat", "openai_responses", "anthropic", "mcp"]
"""Which provider shape a :class:`ToolCall` was read from."""


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One tool call read from a provider's shape.

    Attributes:
        proposal: ``{"name": str, "arguments": ...}``, ready for :meth:`txguard.Guard.check`.
        call_id: the provider's id for this call (``tool_calls[i].id``, ``call_id``, the
            ``tool_use`` block's ``id``, the JSON-RPC request ``id``), or ``None`` if absent.
        source: the shape it was read from.
        problem: why the envelope could not be read as documented, or ``None``. When set, the
            proposal is certain to be decided ``escalate``.
    """

    proposal: dict[str, Any]
    call_id: str | int | None
    source: Source
    problem: str | None = None

    @property
    def name(self) -> str:
        """The tool name (``""`` when the call named none)."""
        return str(self.proposal["name"])


def _unusable(problem: str) -> str:
    # Deliberately not JSON: the guard decides it `malformed`, and the text stays in the audit trail.
    return f"<unusable tool call: {problem}>"


def _call(source: Source, name: Any, arguments: Any, call_id: Any, problem: str | None) -> ToolCall:
    if not isinstance(name, str):
        problem = problem or ("tool name is missing" if name is None else f"tool name is a {type(name).__name__}, not a string")
        name = ""
    if call_id is not None and (isinstance(call_id, bool) or not isinstance(call_id, (str, int))):
        call_id = None
    if problem is not None:
        arguments = _unusable(problem)
    return ToolCall({"name": name, "arguments": arguments}, call_id, source, problem)


def _expect_type(obj: Mapping[str, Any], wanted: str, what: str) -> str | None:
    kind = obj.get("type")
    if kind != wanted:
        return f"{what} has type `{kind}`, expected `{wanted}`"
    return None


def from_openai_chat(tool_call: Any) -> ToolCall:
    """One entry of an OpenAI Chat Completions ``message.tool_calls`` list.

    Shape: ``{"id": "call_...", "type": "function", "function": {"name": str, "arguments": str}}``
    where ``arguments`` is the JSON text the model generated (it may be invalid JSON: the guard
    decides that case ``escalate``).
    """
    if not isinstance(tool_call, Mapping):
        return _call("openai_chat", None, None, None, f"a tool call must be an object, got {type(tool_call).__name__}")
    call_id = tool_call.get("id")
    problem = _expect_type(tool_call, "function", "tool call") if "type" in tool_call else None
    function = tool_call.get("function")
    if not isinstance(function, Mapping):
        return _call("openai_chat", None, None, call_id, problem or "`function` is missing or not an object")
    arguments = function.get("arguments")
    if problem is None:
        if "arguments" not in function:
            problem = "`function.arguments` is missing"
        elif not isinstance(arguments, str):
            problem = f"`function.arguments` must be a JSON string, got {type(arguments).__name__}"
    return _call("openai_chat", function.get("name"), arguments, call_id, problem)


def openai_chat_calls(message: Any) -> list[ToolCall]:
    """Every tool call of an assistant message, or of the first choice of a whole completion.

    A message without ``tool_calls`` (a plain text answer) gives an empty list. A ``tool_calls``
    that is not a list gives one unusable call, so the host decides it rather than missing it.
    """
    if isinstance(message, Mapping) and "choices" in message:
        choices = message.get("choices")
        first = choices[0] if isinstance(choices, Sequence) and not isinstance(choices, str) and choices else None
        message = first.get("message") if isinstance(first, Mapping) else None
    if not isinstance(message, Mapping):
        return [_call("openai_chat", None, None, None, "the completion has no assistant message")]
    calls = message.get("tool_calls")
    if calls is None:
        return []
    if not isinstance(calls, Sequence) or isinstance(calls, (str, bytes)):
        return [_call("openai_chat", None, None, None, "`tool_calls` is not a list")]
    return [from_openai_chat(c) for c in calls]


def from_openai_responses(item: Any) -> ToolCall:
    """One ``function_call`` item of an OpenAI Responses API ``output`` list.

    Shape: ``{"type": "function_call", "id": "fc_...", "call_id": "call_...", "name": str,
    "arguments": str, "status": "completed"}``. An item whose ``status`` is ``in_progress`` or
    ``incomplete`` (the stream stopped before the arguments were complete) is unusable.
    """
    if not isinstance(item, Mapping):
        return _call("openai_responses", None, None, None, f"an output item must be an object, got {type(item).__name__}")
    call_id = item.get("call_id")
    problem = _expect_type(item, "function_call", "output item")
    arguments = item.get("arguments")
    if problem is None:
        status = item.get("status")
        if status is not None and status != "completed":
            problem = f"the function call is `{status}`, not `completed`"
        elif "arguments" not in item:
            problem = "`arguments` is missing"
        elif not isinstance(arguments, str):
            problem = f"`arguments` must be a JSON string, got {type(arguments).__name__}"
    return _call("openai_responses", item.get("name"), arguments, call_id, problem)


def openai_responses_calls(response: Any) -> list[ToolCall]:
    """Every ``function_call`` item of a Responses API response (or of its ``output`` list).

    Other item types (``message``, ``reasoning``, built-in tool calls) are not function calls of
    the host and are skipped.
    """
    output = response.get("output") if isinstance(response, Mapping) else response
    if not isinstance(output, Sequence) or isinstance(output, (str, bytes)):
        return [_call("openai_responses", None, None, None, "the response has no `output` list")]
    return [
        from_openai_responses(item)
        for item in output
        if not (isinstance(item, Mapping) and isinstance(item.get("type"), str) and item["type"] != "function_call")
    ]


def from_anthropic(block: Any) -> ToolCall:
    """One ``tool_use`` content block of an Anthropic Messages response.

    Shape: ``{"type": "tool_use", "id": "toolu_...", "name": str, "input": {...}}``; ``input`` is
    already an object. A string ``input`` (for example the ``partial_json`` of an unfinished
    stream) is unusable.
    """
    if not isinstance(block, Mapping):
        return _call("anthropic", None, None, None, f"a content block must be an object, got {type(block).__name__}")
    call_id = block.get("id")
    problem = _expect_type(block, "tool_use", "content block")
    arguments = block.get("input")
    if problem is None:
        if "input" not in block:
            problem = "`input` is missing"
        elif not isinstance(arguments, Mapping):
            problem = f"`input` must be an object, got {type(arguments).__name__}"
    return _call("anthropic", block.get("name"), arguments, call_id, problem)


def anthropic_calls(message: Any) -> list[ToolCall]:
    """Every ``tool_use`` block of an Anthropic message (or of its ``content`` list).

    Text and thinking blocks are skipped.
    """
    content = message.get("content") if isinstance(message, Mapping) else message
    if isinstance(content, str):
        return []
    if not isinstance(content, Sequence) or isinstance(content, bytes):
        return [_call("anthropic", None, None, None, "the message has no `content` list")]
    return [
        from_anthropic(block)
        for block in content
        if not (isinstance(block, Mapping) and isinstance(block.get("type"), str) and block["type"] != "tool_use")
    ]


def from_mcp(request: Any) -> ToolCall:
    """An MCP ``tools/call`` JSON-RPC request.

    Shape: ``{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": str,
    "arguments": {...}}}``. ``params.arguments`` is optional in MCP; when absent the guard sees
    no arguments (and escalates any tool that needs some).
    """
    if not isinstance(request, Mapping):
        return _call("mcp", None, None, None, f"a JSON-RPC request must be an object, got {type(request).__name__}")
    call_id = request.get("id")
    problem: str | None = None
    if request.get("jsonrpc") != "2.0":
        problem = f"`jsonrpc` is `{request.get('jsonrpc')}`, expected `2.0`"
    elif request.get("method") != "tools/call":
        problem = f"method is `{request.get('method')}`, expected `tools/call`"
    params = request.get("params")
    if not isinstance(params, Mapping):
        return _call("mcp", None, None, call_id, problem or "`params` is missing or not an object")
    arguments = params.get("arguments")
    if problem is None and arguments is not None and not isinstance(arguments, Mapping):
        problem = f"`params.arguments` must be an object, got {type(arguments).__name__}"
    return _call("mcp", params.get("name"), arguments, call_id, problem)
