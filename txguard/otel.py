"""OpenTelemetry traces of a guard's decisions, as an :class:`~txguard.Observer` (extra ``txguard[otel]``).

>>> from txguard import Guard
>>> from txguard.otel import OTelObserver
>>> guard = Guard.from_file("policies/retail.yaml", observers=[OTelObserver()])   # doctest: +SKIP

Each decision becomes a span named ``execute_tool {tool}`` (the GenAI semantic conventions for
tool execution) that starts when ``check`` started and ends when it returned, a child of the
current context (in ``txguard serve``, the W3C ``traceparent`` of the request). When the caller
already has a recording span open (its own ``execute_tool`` span around the tool call), the
decision is added to that span as a ``txguard.decision`` event instead, with the same attributes.

Attributes (:data:`ATTRIBUTES`, documented in ``docs/operations.md``): ``gen_ai.operation.name``
(``execute_tool``), ``gen_ai.tool.name`` (the lineage's ``tool_name``, else the intent kind, else
``unknown``), ``gen_ai.tool.call.id`` (the lineage's ``tool_call_id``, else the ``call_id`` a
framework integration records, when given),
``txguard.outcome``, ``txguard.reason_codes`` (in decision order), ``txguard.policy.id``,
``txguard.policy.version``, ``txguard.policy.digest``, ``txguard.intent.kind`` (when the proposal
became an intent) and ``txguard.route`` (for ``escalate``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

from . import __version__
from .core.observe import Observer

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider
    from opentelemetry.util.types import AttributeValue

    from .policy.compile import CompiledPolicy
    from .core.decision import Decision

__all__ = ["ATTRIBUTES", "EVENT_NAME", "OTelObserver", "decision_attributes", "tool_name"]

ATTRIBUTES = (
    "gen_ai.operation.name",
    "gen_ai.tool.name",
    "gen_ai.tool.call.id",
    "txguard.outcome",
    "txguard.reason_codes",
    "txguard.policy.id",
    "txguard.policy.version",
    "txguard.policy.digest",
    "txguard.intent.kind",
    "txguard.route",
)
"""Every attribute a decision span (or event) can carry."""

EVENT_NAME = "txguard.decision"
"""The name of the event added to the caller's own span (``mode="auto"`` or ``"event"``)."""


def tool_name(decision: Decision, lineage: Mapping[str, str] | None) -> str:
    """The ``gen_ai.tool.name`` of a decision: the lineage's ``tool_name``, else the intent kind."""
    return str((lineage or {}).get("tool_name") or decision.kind or "unknown")


def decision_attributes(decision: Decision, lineage: Mapping[str, str] | None) -> dict[str, AttributeValue]:
    """The span attributes of one decision (see :data:`ATTRIBUTES`)."""
    lineage = lineage or {}
    attrs: dict[str, AttributeValue] = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": tool_name(decision, lineage),
        "txguard.outcome": decision.outcome.value,
        "txguard.reason_codes": list(decision.codes),
        "txguard.policy.id": decision.policy.id,
        "txguard.policy.version": decision.policy.version,
        "txguard.policy.digest": decision.policy.digest,
    }
    call_id = lineage.get("tool_call_id") or lineage.get("call_id")  # ``call_id``: the framework integrations' key
    if call_id:
        attrs["gen_ai.tool.call.id"] = str(call_id)
    if decision.kind:
        attrs["txguard.intent.kind"] = decision.kind
    if decision.route:
        attrs["txguard.route"] = decision.route
    return attrs


class OTelObserver(Observer):
    """Records every decision as a span (or an event on the caller's current span).

    Args:
        tracer_provider: where spans go (default: the global provider that the host, or
            ``opentelemetry-instrument``, configured; without one, nothing is recorded).
        mode: ``"auto"`` (an event on the current span when it is recording, else a new span),
            ``"span"`` (always a new span) or ``"event"`` (only ever an event; nothing without a
            recording span).
    """

    def __init__(self, tracer_provider: TracerProvider | None = None, *,
                 mode: Literal["auto", "span", "event"] = "auto") -> None:
        from opentelemetry import trace

        self._trace = trace
        self.tracer = trace.get_tracer("txguard", __version__, tracer_provider=tracer_provider)
        self.mode = mode

    def on_decision(self, decision: Decision, *, policy: CompiledPolicy, seconds: float,
                    lineage: Mapping[str, str] | None) -> None:
        attrs = decision_attributes(decision, lineage)
        current = self._trace.get_current_span()
        if self.mode != "span" and current.is_recording():
            current.add_event(EVENT_NAME, attributes=attrs)
            return
        if self.mode == "event":
            return
        end = time.time_ns()
        span = self.tracer.start_span(f"execute_tool {tool_name(decision, lineage)}", kind=self._trace.SpanKind.INTERNAL,
                                      attributes=attrs, start_time=end - int(seconds * 1e9))
        span.end(end_time=end)
