"""txguard in the OpenAI Agents SDK (``pip install 'txguard[openai-agents]'``).

Two SDK objects carry the guard, built on :class:`~txguard.integrations.ToolCallHook`:

- a tool input guardrail (:attr:`OpenAIAgentsGuard.input_guardrail`), which runs before every
  invocation of the tool it is attached to: ``allow`` lets the tool run with exactly the arguments
  that were decided; anything else returns ``reject_content`` with the decision's message, so the
  tool never runs and the model is told why (the full verdict is the guardrail result's
  ``output_info``, where the host reads the route);
- a ``needs_approval`` callback (:meth:`OpenAIAgentsGuard.needs_approval`), which pauses the run
  through the SDK's own approval interruption when the decision is a ``clarify`` that the user's
  approval of the confirmation could settle.

The host shows :meth:`OpenAIAgentsGuard.pending` of each interruption on its trusted screen, then
calls :meth:`OpenAIAgentsGuard.approve` (which records the user's approval of exactly that
confirmation and approves the call in the run state) or :meth:`OpenAIAgentsGuard.reject`, and
resumes the run with the state. The guardrail checks the call again with the recorded approval, so
only the confirmed call runs.

Example:
    >>> g = OpenAIAgentsGuard(guard, context=ctx)                      # doctest: +SKIP
    >>> agent = Agent(name="shop", tools=[g.protect(checkout)])          # doctest: +SKIP
    >>> result = await Runner.run(agent, "buy it")                       # doctest: +SKIP
    >>> for item in result.interruptions:                                # doctest: +SKIP
    ...     state = result.to_state()
    ...     if user_confirms(g.pending(item).confirmation):
    ...         g.approve(state, item)
    ...     else:
    ...         g.reject(state, item)
    >>> result = await Runner.run(agent, state)                          # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from agents import (FunctionTool, RunContextWrapper, RunState, ToolApprovalItem, ToolGuardrailFunctionOutput, ToolInputGuardrail,
                    ToolInputGuardrailData)

from ..core.errors import UsageError
from ..core.jsonio import read_json, unusable
from ._hook import Approval, ToolCallHook, Verdict

if TYPE_CHECKING:
    from .._guard import Guard
    from .guarded import ContextSource

FRAMEWORK = "openai-agents"

NeedsApproval = Callable[[RunContextWrapper[Any], dict[str, Any], str], Awaitable[bool]]
"""The SDK's ``needs_approval`` callback: ``(run_context, parsed_arguments, call_id) -> bool``."""


class OpenAIAgentsGuard:
    """The guard for an OpenAI Agents SDK agent's tools.

    Args:
        guard: the guard that decides.
        context: ``{"request", "session", "facts"}`` for every decision (a mapping, or a function
            returning one), as for :class:`~txguard.integrations.ToolCallHook`.
        approvals: where the user's recorded approvals wait, keyed by the SDK's call id, until the
            resumed call is checked; an in-process dict by default. Pass a shared mapping when a run
            is resumed in another process: without the approval there, the call is not allowed.
    """

    def __init__(self, guard: Guard, context: ContextSource = None, *,
                 approvals: MutableMapping[str, list[Approval]] | None = None) -> None:
        self.hook = ToolCallHook(guard, context, framework=FRAMEWORK)
        self.approvals: MutableMapping[str, list[Approval]] = {} if approvals is None else approvals
        self._decided: dict[str, Verdict] = {}
        self._declared: dict[str, Mapping[str, Any]] = {}  # tool name -> its parameters' JSON schema
        self.input_guardrail: ToolInputGuardrail[Any] = ToolInputGuardrail(guardrail_function=self._guardrail, name="txguard")
        """The tool input guardrail: put it in a tool's (or a local MCP server's) ``tool_input_guardrails``."""

    def protect(self, tool: FunctionTool) -> FunctionTool:
        """``tool`` with the guard's input guardrail and approval callback added.

        The tool's own guardrails run after txguard's; its own ``needs_approval`` still asks for
        approval when it says so.
        """
        if not isinstance(tool, FunctionTool):
            raise UsageError(f"protect() takes a FunctionTool (e.g. from @function_tool), got `{type(tool).__name__}`")
        self._declared[tool.name] = tool.params_json_schema
        own = tool.needs_approval
        guarded = self.needs_approval(tool.name)

        async def needs_approval(ctx: RunContextWrapper[Any], params: dict[str, Any], call_id: str) -> bool:
            ours = await guarded(ctx, params, call_id)
            if isinstance(own, bool):
                return ours or own
            theirs = own(ctx, params, call_id)
            return ours or bool(await theirs if inspect.isawaitable(theirs) else theirs)

        return dataclasses.replace(tool, tool_input_guardrails=[self.input_guardrail, *(tool.tool_input_guardrails or [])],
                                   needs_approval=needs_approval)

    def needs_approval(self, tool: str) -> NeedsApproval:
        """The ``needs_approval`` callback for the tool named ``tool``.

        It decides the call and asks the SDK to pause only for a ``clarify`` that the user's approval
        of its confirmation could settle. The verdict is kept for the call's guardrail, so an allowed
        call is decided once.
        """

        async def needs_approval(ctx: RunContextWrapper[Any], params: dict[str, Any], call_id: str) -> bool:
            verdict = self.hook.check(tool, self._complete(tool, params), call_id=call_id)
            self._decided[call_id] = verdict
            return verdict.needs_approval

        return needs_approval

    def pending(self, interruption: ToolApprovalItem) -> Verdict:
        """The verdict on an interrupted call: what the host's trusted screen shows (``confirmation``)."""
        call_id, tool, arguments = interruption.call_id, interruption.tool_name or "", interruption.arguments
        known = self._decided.get(call_id) if call_id is not None else None
        if known is not None and known.call.tool == tool and isinstance(arguments, str) and _same(known.call.arguments, arguments):
            return known
        verdict = self.hook.check(tool, self._complete(tool, arguments), call_id=call_id)
        if call_id is not None:
            self._decided[call_id] = verdict
        return verdict

    def approve(self, state: RunState[Any], interruption: ToolApprovalItem) -> None:
        """Record the user's approval of the interrupted call's confirmation and approve it in ``state``.

        Call it only from the host's own trusted screen, never on the model's words. The resumed call
        is checked again with this approval: only the call that was shown runs.
        """
        verdict = self.pending(interruption)
        call_id = interruption.call_id
        if verdict.needs_approval and call_id is not None:
            self.approvals[call_id] = [*self.approvals.get(call_id, []), verdict.approval()]
        state.approve(interruption)

    def reject(self, state: RunState[Any], interruption: ToolApprovalItem, message: str | None = None) -> None:
        """Reject the interrupted call in ``state``; the model gets ``message`` (or the SDK's default)."""
        call_id = interruption.call_id
        if call_id is not None:
            self._decided.pop(call_id, None)
            self.approvals.pop(call_id, None)
        state.reject(interruption, rejection_message=message)

    def _complete(self, tool: str, arguments: Any, declared: Mapping[str, Any] | None = None) -> Any:
        """The arguments to decide: as given when they name every parameter the tool declares.

        The SDK runs a function tool with the function's own default for each parameter the call
        omits, a value never decided; a guardrail cannot add it to the call, so such a call is
        refused as malformed (a strict schema asks the model for every parameter anyway).
        """
        declared = self._declared.get(tool) if declared is None else declared
        if not declared:
            return arguments
        parsed = arguments
        if isinstance(arguments, (str, bytes, bytearray)):
            try:
                parsed = read_json(arguments)
            except (ValueError, RecursionError):
                return arguments  # the guard reads it again and says why it is malformed
        if not isinstance(parsed, Mapping):
            return arguments
        missing = _omitted(declared, parsed, declared.get("$defs") or {}, "")
        if missing is not None:
            return unusable(f"the call omits `{missing[:80]}`, which tool `{tool}` would fill from its own default,"
                            " never decided: give every parameter")
        return arguments

    async def _guardrail(self, data: ToolInputGuardrailData) -> ToolGuardrailFunctionOutput:
        ctx = data.context
        call_id, tool = ctx.tool_call_id, ctx.tool_name
        # The agent's own tool of that name says what it declares (also when the guardrail was
        # attached by hand, without protect()).
        own = next((t for t in getattr(data.agent, "tools", None) or () if isinstance(t, FunctionTool) and t.name == tool), None)
        arguments = self._complete(tool, ctx.tool_arguments, None if own is None else own.params_json_schema)
        approvals = self.approvals.pop(call_id, [])
        prior = self._decided.pop(call_id, None)
        if prior is not None and not approvals and prior.call.tool == tool and _same(prior.call.arguments, arguments):
            verdict = prior  # decided moments ago (needs_approval): a call is decided, and its spend reserved, once
        else:
            verdict = self.hook.check(tool, arguments, call_id=call_id, approvals=approvals)
        if verdict.run:
            return ToolGuardrailFunctionOutput.allow(output_info=verdict.to_dict())
        return ToolGuardrailFunctionOutput.reject_content(verdict.message, output_info=verdict.to_dict())


def _omitted(schema: Any, value: Any, defs: Any, path: str, depth: int = 0) -> str | None:
    """The first property ``schema`` declares that ``value`` omits, at any depth (objects, list
    items, ``$ref`` into ``$defs``, ``anyOf``/``oneOf`` of objects); None when none is omitted.

    The SDK builds the tool's pydantic arguments from the call, filling any omitted field (of the
    parameters or of a nested model) from its default, a value never decided."""
    if depth > 64 or not isinstance(schema, Mapping):
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str) and isinstance(defs, Mapping):
        return _omitted(defs.get(ref.rsplit("/", 1)[-1]), value, defs, path, depth + 1)
    options = [o for o in (*(schema.get("anyOf") or ()), *(schema.get("oneOf") or ())) if isinstance(o, Mapping)]
    if options and isinstance(value, (Mapping, list)):
        relevant = [o for o in options if (isinstance(value, Mapping) and ("properties" in o or "$ref" in o))
                    or (isinstance(value, list) and "items" in o)]
        found = [_omitted(o, value, defs, path, depth + 1) for o in relevant]
        return found[0] if found and all(f is not None for f in found) else None
    properties = schema.get("properties")
    if isinstance(value, Mapping) and isinstance(properties, Mapping):
        for key, sub in properties.items():
            if key not in value:
                return f"{path}{key}"
            deeper = _omitted(sub, value[key], defs, f"{path}{key}.", depth + 1)
            if deeper is not None:
                return deeper
    items = schema.get("items")
    if isinstance(value, list) and isinstance(items, Mapping):
        for i, element in enumerate(value):
            deeper = _omitted(items, element, defs, f"{path[:-1] if path.endswith('.') else path}[{i}].", depth + 1)
            if deeper is not None:
                return deeper
    return None


def _same(decided: Any, raw: str) -> bool:
    """True when the SDK's raw argument text is the very call that was decided (as parsed arguments or as text).

    The raw text is read strictly first: a key repeated in it is a call the SDK's own reader saw
    with one value and a tool reading the text itself may see with another, so it is never the
    call that was decided (the guard then decides the text, and refuses it as malformed).
    """
    try:
        read_json(raw)
        if isinstance(decided, str):
            decided = json.loads(decided, parse_constant=_no_constant)
        parsed = json.loads(raw, parse_constant=_no_constant)
        return json.dumps(parsed, sort_keys=True) == json.dumps(decided, sort_keys=True)
    except (TypeError, ValueError):
        return False


def _no_constant(text: str) -> Any:
    raise ValueError(f"not JSON: {text}")
