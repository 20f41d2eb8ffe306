"""txguard in Pydantic AI (``pip install 'txguard[pydantic-ai]'``).

:class:`TxguardCapability` is an agent capability whose ``before_tool_execute`` hook runs
:class:`~txguard.integrations.ToolCallHook` on every guarded call, with the arguments the tool is
about to receive (validated):

- ``allow``: the tool runs with exactly those arguments;
- ``clarify`` that the user's approval can settle: the call is deferred with ``ApprovalRequired``;
  the run ends with a ``DeferredToolRequests`` whose ``metadata[call_id]["txguard"]`` is the verdict
  (the confirmation to show). The host resumes with :meth:`TxguardCapability.approve` (or
  :meth:`TxguardCapability.deny`) in ``deferred_tool_results``; the call is checked again with the
  approval, so only the confirmed call runs and a changed one (``ToolApproved(override_args=...)``,
  an edited history) is not allowed;
- anything else (``escalate``, a ``clarify`` with questions): the tool is skipped
  (``SkipToolExecution``); the model gets the decision's message, the host reads the verdict (route,
  reasons) in the tool return's ``metadata["txguard"]``, which is not sent to the model.

Example:
    >>> cap = TxguardCapability(guard, context=ctx, tools=["checkout"])               # doctest: +SKIP
    >>> agent = Agent(model, tools=[checkout], capabilities=[cap],
    ...               output_type=[str, DeferredToolRequests])                         # doctest: +SKIP
    >>> result = agent.run_sync("buy it")                                              # doctest: +SKIP
    >>> if isinstance(result.output, DeferredToolRequests):                            # doctest: +SKIP
    ...     results = DeferredToolResults()
    ...     for call_id, verdict in cap.pending(result.output).items():
    ...         if user_confirms(verdict["confirmation"]):
    ...             cap.approve(result.output, call_id, results)
    ...         else:
    ...             cap.deny(result.output, call_id, results)
    ...     result = agent.run_sync(message_history=result.all_messages(), deferred_tool_results=results)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic_ai import ApprovalRequired, DeferredToolRequests, DeferredToolResults, RunContext, SkipToolExecution, ToolDenied
from pydantic_ai.capabilities import AbstractCapability
from pydantic_ai.messages import ToolCallPart, ToolReturn
from pydantic_ai.tools import ToolDefinition
from pydantic_core import to_jsonable_python

from ..core.errors import UsageError
from ._hook import Approval, ToolCallHook, Verdict

if TYPE_CHECKING:
    from .._guard import Guard
    from .guarded import ContextSource

FRAMEWORK = "pydantic-ai"
KEY = "txguard"
"""The key of txguard's entry in deferred-call metadata and in a skipped call's tool return metadata."""


class TxguardCapability(AbstractCapability[Any]):
    """A Pydantic AI capability that guards tool calls before they execute.

    Args:
        guard: the guard that decides.
        context: ``{"request", "session", "facts"}`` for every decision (a mapping, or a function
            returning one), as for :class:`~txguard.integrations.ToolCallHook`.
        tools: the names of the tools to guard; every tool when None (a tool the policy does not
            map then escalates).
    """

    def __init__(self, guard: Guard, context: ContextSource = None, *, tools: Iterable[str] | None = None) -> None:
        self.hook = ToolCallHook(guard, context, framework=FRAMEWORK)
        self.tools = None if tools is None else frozenset(tools)

    async def before_tool_execute(self, ctx: RunContext[Any], *, call: ToolCallPart, tool_def: ToolDefinition,
                                  args: dict[str, Any]) -> dict[str, Any]:
        """Decide the call with the arguments the tool would receive; return them unchanged on ``allow``."""
        if self.tools is not None and call.tool_name not in self.tools:
            return args
        approvals = _approvals(ctx.tool_call_metadata) if ctx.tool_call_approved else []
        verdict = self.hook.check(call.tool_name, to_jsonable_python(args), call_id=call.tool_call_id, approvals=approvals)
        if verdict.run:
            return args
        if verdict.needs_approval and not ctx.tool_call_approved:
            raise ApprovalRequired(metadata={KEY: verdict.to_dict()})
        raise SkipToolExecution(ToolReturn(verdict.message, metadata={KEY: verdict.to_dict()}))

    @staticmethod
    def pending(requests: DeferredToolRequests) -> dict[str, dict[str, Any]]:
        """txguard's verdict (:meth:`Verdict.to_dict`) on each call waiting for the user's approval, by call id."""
        out: dict[str, dict[str, Any]] = {}
        for call in requests.approvals:
            payload = requests.metadata.get(call.tool_call_id, {}).get(KEY)
            if isinstance(payload, Mapping):
                out[call.tool_call_id] = dict(payload)
        return out

    @staticmethod
    def approve(requests: DeferredToolRequests, call_id: str, results: DeferredToolResults | None = None) -> DeferredToolResults:
        """Record the user's approval of the confirmation shown for ``call_id`` in ``results``.

        Call it only from the host's own trusted screen, never on the model's words. The resumed call
        is checked again with this approval: only the call that was shown runs.

        Raises:
            UsageError: ``call_id`` is not a call txguard deferred for approval.
        """
        payload = TxguardCapability.pending(requests).get(call_id)
        if payload is None:
            raise UsageError(f"`{call_id}` is not a call txguard asked the user to approve")
        out = DeferredToolResults() if results is None else results
        out.approvals[call_id] = True
        out.metadata[call_id] = {**out.metadata.get(call_id, {}), KEY: {"approvals": [Verdict.approval_from(payload)]}}
        return out

    @staticmethod
    def deny(requests: DeferredToolRequests, call_id: str, results: DeferredToolResults | None = None,
             message: str = "The user did not confirm this.") -> DeferredToolResults:
        """Record that the user declined ``call_id``: the tool does not run and the model gets ``message``."""
        if call_id not in {c.tool_call_id for c in requests.approvals}:
            raise UsageError(f"`{call_id}` is not a call waiting for approval")
        out = DeferredToolResults() if results is None else results
        out.approvals[call_id] = ToolDenied(message)
        return out


def _approvals(metadata: Any) -> list[Approval]:
    """The approvals the host recorded with :meth:`TxguardCapability.approve`; none when absent or ill-formed."""
    entry = metadata.get(KEY) if isinstance(metadata, Mapping) else None
    approvals = entry.get("approvals") if isinstance(entry, Mapping) else None
    if not isinstance(approvals, list):
        return []
    return [a for a in approvals if isinstance(a, Mapping)]
