"""LangGraph and LangChain v1: txguard around every tool call a ``ToolNode`` or an agent runs.

Install with ``pip install 'txguard[langgraph]'``. Three ways in, one behaviour:

- ``ToolNode(tools, wrap_tool_call=w, awrap_tool_call=w.awrap)`` with ``w = TxguardToolWrapper(guard, context)``,
  or :func:`guarded_tool_node` which builds exactly that;
- ``create_agent(..., middleware=[TxguardMiddleware(guard, context)])`` (LangChain v1 agents).

``allow`` runs the tool once with exactly the arguments that were decided. ``clarify`` with a
confirmation pauses the graph with ``interrupt(...)`` (a checkpointer is required), in the
human-in-the-loop middleware's request shape plus a ``txguard`` part carrying the confirmation;
the host shows it on its own screen and resumes with ``Command(resume=approve(value))`` or
``Command(resume=reject(value))``. The approval names the confirmation the user saw, so the call is
allowed only if it is still exactly that call. Anything else (``escalate``, a clarify that needs an
answer rather than an approval, a rejection, an edit) answers the model with an error
``ToolMessage`` whose ``artifact`` holds the verdict (outcome, reasons, route) for the host.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Union

from langchain.agents.middleware import AgentMiddleware
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool
from langgraph.prebuilt import ToolNode
from langgraph.prebuilt.tool_node import ToolCallRequest
from langgraph.types import Command, interrupt
from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python

from .._guard import Guard
from ..core.jsonio import unusable
from ._hook import Approval, ToolCallHook, Verdict, model_defaults, with_defaults

FRAMEWORK = "langgraph"

LangGraphContext = Union[Mapping[str, Any], Callable[[ToolCallRequest], Mapping[str, Any]], None]
"""``{"request", "session", "facts"}``: a mapping, or a function of the tool call request (its
``state`` and ``runtime`` are there), called for every call."""

Result = Union[ToolMessage, Command[Any]]


def approve(request: Mapping[str, Any]) -> dict[str, Any]:
    """The resume value that approves the confirmation shown from ``request`` (an interrupt's value).

    Call it only when the user approved on the host's own screen, never on the model's words.

    Raises:
        ValueError: ``request`` is not a txguard approval request.
    """
    return {"type": "approve", "txguard": {"confirmed": [_shown_approval(request)]}}


def reject(request: Mapping[str, Any], message: str | None = None) -> dict[str, Any]:
    """The resume value that rejects the call (``message``: the user's reason, passed to the model)."""
    _shown_approval(request)
    out: dict[str, Any] = {"type": "reject"}
    if message:
        out["message"] = message
    return out


def _shown_approval(request: Mapping[str, Any]) -> dict[str, str]:
    part = request.get("txguard") if isinstance(request, Mapping) else None
    confirmation = part.get("confirmation") if isinstance(part, Mapping) else None
    digest = confirmation.get("digest") if isinstance(confirmation, Mapping) else None
    if not isinstance(digest, str):
        raise ValueError("not a txguard approval request: no `txguard.confirmation.digest`")
    return {"digest": digest}


def _approval_request(verdict: Verdict) -> dict[str, Any]:
    """The interrupt value: the human-in-the-loop middleware's request shape, plus txguard's verdict."""
    call = verdict.call
    return {
        "action_requests": [{"name": call.tool, "args": call.arguments, "description": verdict.message}],
        "review_configs": [{"action_name": call.tool, "allowed_decisions": ["approve", "reject"]}],
        "txguard": verdict.to_dict(),
    }


def _read_answer(answer: Any) -> tuple[list[Approval], str | None]:
    """The approvals a resume value carries, or why it approves nothing (the call then does not run)."""
    if isinstance(answer, Mapping) and isinstance(answer.get("decisions"), list):
        decisions = answer["decisions"]  # the middleware's batched shape: one call, one decision
        if len(decisions) != 1:
            return [], f"expected one decision for one tool call, got {len(decisions)}"
        answer = decisions[0]
    if not isinstance(answer, Mapping):
        return [], "the resume value is not a decision"
    kind = answer.get("type")
    if kind == "reject":
        reason = answer.get("message")
        return [], f"the user rejected the call{': ' + reason if isinstance(reason, str) and reason else ''}"
    if kind != "approve":
        return [], f"`{kind}` is not accepted: a changed call needs a new confirmation"
    part = answer.get("txguard")
    confirmed = part.get("confirmed") if isinstance(part, Mapping) else None
    if not isinstance(confirmed, list) or not confirmed or not all(isinstance(c, Mapping) for c in confirmed):
        return [], "the approval does not name the confirmation the user saw (use txguard.integrations.langgraph.approve)"
    return list(confirmed), None


def _defaults(tool: BaseTool | None) -> dict[str, Any] | None:
    """The defaults of the tool's model-facing arguments (its injected arguments are not the model's);
    None when they cannot be known (the call is then refused, not run with unknown values)."""
    if tool is None:
        return {}
    try:
        return model_defaults(tool.tool_call_schema)
    except Exception:  # noqa: BLE001 - a schema that cannot be read: fail closed
        return None


def _as_validated(tool: BaseTool | None, arguments: Any) -> Any:
    """The arguments as the tool's argument schema turns them into its values (typed models with
    their own defaults, coerced values), as JSON: what the tool receives is then what was decided.
    Arguments the schema refuses are left as they are (the tool refuses them too, and runs nothing)."""
    schema = None if tool is None else tool.tool_call_schema
    if not (isinstance(schema, type) and issubclass(schema, BaseModel)) or not isinstance(arguments, Mapping):
        return arguments
    try:
        validated = schema.model_validate(dict(arguments))
    except ValidationError:
        return arguments
    fields = type(validated).model_fields
    return {k: (to_jsonable_python(getattr(validated, k)) if k in fields else v) for k, v in arguments.items()}


def _blocked(request: ToolCallRequest, verdict: Verdict, why: str | None = None) -> ToolMessage:
    call = request.tool_call
    content = verdict.message if why is None else f"Not run: {why}."
    return ToolMessage(content=content, name=call.get("name"), tool_call_id=call.get("id") or "", status="error",
                       artifact={"txguard": verdict.to_dict()})


class TxguardToolWrapper:
    """``wrap_tool_call`` for ``ToolNode`` (and the engine of :class:`TxguardMiddleware`).

    Args:
        guard: the guard that decides.
        context: what the decision reads besides the call (see :data:`LangGraphContext`).

    Example:
        >>> wrapper = TxguardToolWrapper(guard, context=lambda req: ctx_for(req.state))  # doctest: +SKIP
        >>> node = ToolNode([checkout], wrap_tool_call=wrapper, awrap_tool_call=wrapper.awrap)  # doctest: +SKIP
    """

    __slots__ = ("guard", "context")

    def __init__(self, guard: Guard, context: LangGraphContext = None) -> None:
        self.guard = guard
        self.context = context

    def decide(self, request: ToolCallRequest) -> ToolCallRequest | ToolMessage:
        """The request to execute (exactly the decided call), or the message that replaces the tool's result.

        May pause the graph (``interrupt``) to ask for the user's approval.
        """
        context = self.context
        hook = ToolCallHook(self.guard, (lambda: context(request)) if callable(context) else context, framework=FRAMEWORK)
        call = request.tool_call
        name, call_id = call.get("name"), call.get("id")
        # The tool fills what the call omits from its argument schema's defaults: decide those
        # values too, and hand the tool exactly the decided arguments.
        defaults = _defaults(request.tool)
        arguments = (_as_validated(request.tool, with_defaults(call.get("args"), defaults)) if defaults is not None
                     else unusable(f"the argument schema of tool `{name}` cannot be read"))
        verdict = hook.check(str(name), arguments, call_id=call_id)
        if verdict.needs_approval:
            approvals, refused = _read_answer(interrupt(_approval_request(verdict)))
            if refused is not None:
                return _blocked(request, verdict, refused)
            verdict = hook.check(str(name), arguments, call_id=call_id, approvals=approvals)
        if not verdict.run or not isinstance(arguments, Mapping):  # an allow always has an object
            return _blocked(request, verdict)
        return request.override(tool_call={**call, "args": dict(arguments)})

    def __call__(self, request: ToolCallRequest, execute: Callable[[ToolCallRequest], Result]) -> Result:
        decided = self.decide(request)
        return decided if isinstance(decided, ToolMessage) else execute(decided)

    async def awrap(self, request: ToolCallRequest, execute: Callable[[ToolCallRequest], Awaitable[Result]]) -> Result:
        """The async form, for ``ToolNode(awrap_tool_call=...)``."""
        decided = self.decide(request)
        return decided if isinstance(decided, ToolMessage) else await execute(decided)


class TxguardMiddleware(AgentMiddleware):
    """txguard as a LangChain v1 agent middleware: ``create_agent(..., middleware=[TxguardMiddleware(guard, ctx)])``.

    Clarify pauses through ``interrupt``, so the agent needs a checkpointer.
    """

    def __init__(self, guard: Guard, context: LangGraphContext = None) -> None:
        super().__init__()
        self.wrapper = TxguardToolWrapper(guard, context)

    def wrap_tool_call(self, request: ToolCallRequest, handler: Callable[[ToolCallRequest], Result]) -> Result:
        return self.wrapper(request, handler)

    async def awrap_tool_call(self, request: ToolCallRequest,
                              handler: Callable[[ToolCallRequest], Awaitable[Result]]) -> Result:
        return await self.wrapper.awrap(request, handler)


def guarded_tool_node(tools: Sequence[BaseTool | Callable[..., Any]], guard: Guard, context: LangGraphContext = None,
                      **kwargs: Any) -> ToolNode:
    """A ``ToolNode`` whose every call, sync or async, is decided by ``guard`` first."""
    wrapper = TxguardToolWrapper(guard, context)
    return ToolNode(tools, wrap_tool_call=wrapper, awrap_tool_call=wrapper.awrap, **kwargs)
