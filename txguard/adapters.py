"""Adapters from the tool-call shapes real LLM APIs emit to txguard proposals.

Plain functions over dicts (decoded JSON, or an SDK object's ``model_dump()``) or over the raw JSON
text of the same shape: no SDK is imported. Give the raw text when you have it: it is read
strictly, so a key repeated anywhere (``{"total": "5", "total": "500"}``) makes the call
unusable instead of keeping whichever value a JSON reader happens to keep.
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
The list readers skip only items whose ``type`` is another, correctly spelled type (``text``,
``reasoning``): an item with no type or a mis-spelled one (``FUNCTION_CALL``, ``Tool_use``) is
read as a call, and escalates.

Example:
    >>> from txguard.adapters import from_anthropic
    >>> call = from_anthropic({"type": "tool_use", "id": "toolu_1", "name": "checkout",
    ...                        "input": {"items": []}})
    >>> call.proposal, call.call_id
    ({'name': 'checkout', 'arguments': {'items': []}}, 'toolu_1')
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .core.jsonio import DuplicateKeyError, read_json, unusable

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


def _call(source: Source, name: Any, arguments: Any, call_id: Any, problem: str | None) -> ToolCall:
    if not isinstance(name, str):
        problem = problem or ("tool name is missing" if name is None else f"tool name is a {type(name).__name__}, not a string")
        name = ""
    if call_id is not None and (isinstance(call_id, bool) or not isinstance(call_id, (str, int))):
        call_id = None
    if problem is not None:
        arguments = unusable(problem)
    return ToolCall({"name": name, "arguments": arguments}, call_id, source, problem)


def _decoded(value: Any, what: str) -> tuple[Any, str | None]:
    """A shape given as raw JSON text is read strictly (a repeated key is a problem, not last-wins)."""
    if not isinstance(value, (str, bytes, bytearray)):
        return value, None
    try:
        return read_json(value), None
    except DuplicateKeyError as exc:
        return None, f"{what} repeats the key `{exc.key[:80]}`"
    except (ValueError, RecursionError) as exc:
        return None, f"{what} is not valid JSON ({str(exc)[:80]})"


_TYPE_SPELLING = re.compile(r"[a-z][a-z0-9_]*")


def _other_item(item: Any, call_type: str) -> bool:
    """Certainly not a call of the host's tools: an object whose ``type`` is a correctly spelled
    type other than ``call_type``. Anything else (no type, a mis-cased or mis-spelled type) is read
    as a call, so that what cannot be read becomes an escalation rather than disappearing."""
    if not isinstance(item, Mapping):
        return False
    kind = item.get("type")
    return (isinstance(kind, str) and _TYPE_SPELLING.fullmatch(kind) is not None and kind != call_type
            and kind.replace("_", "") != call_type.replace("_", ""))


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
    tool_call, problem = _decoded(tool_call, "the tool call")
    if problem is not None:
        return _call("openai_chat", None, None, None, problem)
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
    message, problem = _decoded(message, "the message")
    if problem is not None:
        return [_call("openai_chat", None, None, None, problem)]
    if isinstance(message, Mapping) and "choices" in message:
        choices = message.get("choices")
        first = choices[0] if isinstance(choices, Sequence) and not isinstance(choices, str) and choices else None
        message = first.get("message") if isinstance(first, Mapping) else None
    if not isinstance(message, Mapping):
        return [_call("openai_chat", None, None, None, "the completion has no assistant message")]
    calls = message.get("tool_calls")
    # The legacy single ``function_call`` is a call too: never dropped.
    legacy = message.get("function_call")
    out = [] if legacy is None else [from_openai_chat({"type": "function", "function": legacy})]
    if calls is None:
        return out
    if not isinstance(calls, Sequence) or isinstance(calls, (str, bytes, bytearray)):
        return [_call("openai_chat", None, None, None,
                      f"`tool_calls` must be a list of tool calls, got {type(calls).__name__}")] + out
    return [from_openai_chat(c) for c in calls] + out


def from_openai_responses(item: Any) -> ToolCall:
    """One ``function_call`` item of an OpenAI Responses API ``output`` list.

    Shape: ``{"type": "function_call", "id": "fc_...", "call_id": "call_...", "name": str,
    "arguments": str, "status": "completed"}``. An item whose ``status`` is ``in_progress`` or
    ``incomplete`` (the stream stopped before the arguments were complete) is unusable.
    """
    item, problem = _decoded(item, "the output item")
    if problem is not None:
        return _call("openai_responses", None, None, None, problem)
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
    response, problem = _decoded(response, "the response")
    if problem is not None:
        return [_call("openai_responses", None, None, None, problem)]
    output = response.get("output") if isinstance(response, Mapping) else response
    if not isinstance(output, Sequence) or isinstance(output, (str, bytes, bytearray)):
        return [_call("openai_responses", None, None, None, "the response has no `output` list")]
    return [from_openai_responses(item) for item in output if not _other_item(item, "function_call")]


def from_anthropic(block: Any) -> ToolCall:
    """One ``tool_use`` content block of an Anthropic Messages response.

    Shape: ``{"type": "tool_use", "id": "toolu_...", "name": str, "input": {...}}``; ``input`` is
    already an object. A string ``input`` (for example the ``partial_json`` of an unfinished
    stream) is unusable.
    """
    block, problem = _decoded(block, "the content block")
    if problem is not None:
        return _call("anthropic", None, None, None, problem)
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
    if isinstance(message, str) and not message.lstrip().startswith(("{", "[")):
        return []  # the ``content`` of a plain text answer
    message, problem = _decoded(message, "the message")
    if problem is not None:
        return [_call("anthropic", None, None, None, problem)]
    if not isinstance(message, Mapping):
        content = message
    elif "content" in message and isinstance(message["content"], str):
        return []  # a plain text answer
    else:
        content = message.get("content")
    if not isinstance(content, Sequence) or isinstance(content, (str, bytes, bytearray)):
        return [_call("anthropic", None, None, None, "the message has no `content` list")]
    return [from_anthropic(block) for block in content if not _other_item(block, "tool_use")]


def from_mcp(request: Any) -> ToolCall:
    """An MCP ``tools/call`` JSON-RPC request.

    Shape: ``{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": str,
    "arguments": {...}}}``. ``params.arguments`` is optional in MCP; when absent the guard sees
    no arguments (and escalates any tool that needs some).
    """
    request, problem = _decoded(request, "the JSON-RPC request")
    if problem is not None:
        return _call("mcp", None, None, None, problem)
    if not isinstance(request, Mapping):
        return _call("mcp", None, None, None, f"a JSON-RPC request must be an object, got {type(request).__name__}")
    call_id = request.get("id")
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
