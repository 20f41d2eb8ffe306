"""Google ADK: txguard as a plugin that decides every tool call before it runs.

Install with ``pip install 'txguard[adk]'`` and add the plugin to the runner::

    runner = InMemoryRunner(agent=agent, plugins=[TxguardPlugin(guard, context=ctx)])

``allow`` lets the tool run with the arguments that were decided. ``clarify`` with a confirmation
uses ADK's tool confirmation: the plugin asks for it (``tool_context.request_confirmation``) with the
confirmation as payload, so the client receives an ``adk_request_confirmation`` call; the host shows
the confirmation on its own screen and answers with the function response
:func:`approval_response` builds (or ``{"confirmed": false}``). ADK then runs the original call again,
and the plugin re-checks it with that approval, which binds the exact arguments the user saw.
``escalate`` (and a clarify that needs an answer rather than an approval) answers the call with an
``{"error": message, "txguard": verdict}`` response instead of running the tool.

ADK runs plugins before the agent's own ``before_tool_callback`` s, on the same arguments: register
the plugin last among the plugins, and do not change a call's arguments in an agent-level callback
(see ``docs/integrations.md``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Union

from google.adk.plugins.base_plugin import BasePlugin
from google.adk.tools.base_tool import BaseTool
from google.adk.tools.function_tool import FunctionTool
from google.adk.tools.tool_context import ToolContext
from pydantic_core import to_jsonable_python

from .._guard import Guard
from ._hook import ToolCallHook, Verdict, signature_defaults

FRAMEWORK = "adk"

AdkContext = Union[Mapping[str, Any], Callable[[ToolContext], Mapping[str, Any]], None]
"""``{"request", "session", "facts"}``: a mapping, or a function of the call's ``ToolContext``
(its ``state`` and ``session`` are there), called for every call."""


def approval_response(confirmation_call_args: Mapping[str, Any]) -> dict[str, Any]:
    """The function response that approves the confirmation shown from an ``adk_request_confirmation`` call.

    Args:
        confirmation_call_args: the ``args`` of the ``adk_request_confirmation`` function call the
            client received (``originalFunctionCall`` and ``toolConfirmation``).

    Call it only when the user approved on the host's own screen, never on the model's words.

    Raises:
        ValueError: the call is not a txguard confirmation request.
    """
    conf = confirmation_call_args.get("toolConfirmation") if isinstance(confirmation_call_args, Mapping) else None
    payload = conf.get("payload") if isinstance(conf, Mapping) else None
    shown = payload.get("txguard") if isinstance(payload, Mapping) else None
    confirmation = shown.get("confirmation") if isinstance(shown, Mapping) else None
    digest = confirmation.get("digest") if isinstance(confirmation, Mapping) else None
    if not isinstance(digest, str):
        raise ValueError("not a txguard confirmation request: no `toolConfirmation.payload.txguard.confirmation.digest`")
    return {"confirmed": True, "payload": {"txguard": {"confirmed": [{"digest": digest}]}}}


def _approvals(payload: Any) -> list[Mapping[str, Any]] | None:
    part = payload.get("txguard") if isinstance(payload, Mapping) else None
    confirmed = part.get("confirmed") if isinstance(part, Mapping) else None
    if isinstance(confirmed, list) and confirmed and all(isinstance(c, Mapping) for c in confirmed):
        return list(confirmed)
    return None


def _fill_defaults(tool: BaseTool, tool_args: dict[str, Any]) -> None:
    """Give ``tool_args`` (in place: ADK runs the tool with this very dict) every parameter of a
    function tool that the call omits, with the function's default: the tool then runs with no
    value the decision did not see."""
    if not isinstance(tool, FunctionTool) or not isinstance(tool_args, dict):
        return
    skip = {*getattr(tool, "_ignore_params", ()), "tool_context", "input_stream"}
    for name, default in signature_defaults(tool.func, skip).items():
        tool_args.setdefault(name, default)
    # ADK then converts and coerces each value to the parameter's type (a dict to a pydantic model,
    # with the model's own defaults filled in): decide those values, as JSON, and hand them over in
    # their place (ADK's conversion of its own output gives the same values back).
    prepare = getattr(tool, "_preprocess_args_with_validation", None)
    if not callable(prepare):
        return
    converted, errors = prepare(dict(tool_args))
    if errors:
        return  # ADK answers the model with the errors and does not run the tool
    for name, value in converted.items():
        if name in tool_args and value is not tool_args[name]:
            tool_args[name] = to_jsonable_python(value)


def _answer(verdict: Verdict, why: str | None = None) -> dict[str, Any]:
    return {"error": verdict.message if why is None else f"Not run: {why}.", "txguard": verdict.to_dict()}


class TxguardPlugin(BasePlugin):
    """Decides every tool call of every agent the runner runs.

    Args:
        guard: the guard that decides.
        context: what the decision reads besides the call (see :data:`AdkContext`).
        name: the plugin's name in the runner.
    """

    def __init__(self, guard: Guard, context: AdkContext = None, *, name: str = "txguard") -> None:
        super().__init__(name=name)
        self.guard = guard
        self.context = context

    async def before_tool_callback(self, *, tool: BaseTool, tool_args: dict[str, Any],
                                   tool_context: ToolContext) -> dict[str, Any] | None:
        context = self.context
        hook = ToolCallHook(self.guard, (lambda: context(tool_context)) if callable(context) else context,
                            framework=FRAMEWORK)
        call_id = tool_context.function_call_id
        _fill_defaults(tool, tool_args)
        verdict = hook.check(tool.name, tool_args, call_id=call_id)
        answered = tool_context.tool_confirmation
        if verdict.needs_approval and answered is not None:
            if not answered.confirmed:
                return _answer(verdict, "the user declined the confirmation")
            approvals = _approvals(answered.payload)
            if approvals is None:
                return _answer(verdict, "the approval does not name the confirmation the user saw "
                                        "(answer with txguard.integrations.adk.approval_response)")
            verdict = hook.check(tool.name, tool_args, call_id=call_id, approvals=approvals)
        elif verdict.needs_approval:
            tool_context.request_confirmation(hint=verdict.message, payload={"txguard": verdict.to_dict()})
            tool_context.actions.skip_summarization = True  # a pause, not a result for the model to answer
            return _answer(verdict)
        if verdict.run:
            return None  # ADK runs the tool with ``tool_args``, exactly what was decided
        return _answer(verdict)
