"""OTelObserver: a span per decision (GenAI execute_tool conventions), or an event on the caller's span."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from txguard import Guard
from txguard.integrations import ToolCallHook
from txguard.otel import ATTRIBUTES, EVENT_NAME, OTelObserver

from .conftest import POLICIES, ROOT
from .helpers import checkout_args, envelope


def provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    return tp, exporter


def test_a_span_per_decision_with_the_documented_attributes() -> None:
    tp, exporter = provider()
    guard = Guard.from_file(POLICIES / "retail.yaml", observers=[OTelObserver(tp)])
    d1 = guard.check_envelope(envelope(checkout_args()), lineage={"tool_call_id": "call_7", "tool_name": "buy_now"})
    d2 = guard.check({"name": "no_such_tool", "arguments": {}})
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["execute_tool buy_now", "execute_tool unknown"]
    a1, a2 = (dict(s.attributes or {}) for s in spans)
    assert a1["gen_ai.operation.name"] == "execute_tool" and a1["gen_ai.tool.call.id"] == "call_7"
    assert a1["txguard.outcome"] == d1.outcome.value and tuple(a1["txguard.reason_codes"]) == d1.codes
    assert a1["txguard.policy.digest"] == guard.policy.digest and a1["txguard.intent.kind"] == "checkout"
    assert a2["txguard.outcome"] == "escalate" and a2["txguard.route"] == d2.route and "txguard.intent.kind" not in a2
    assert "gen_ai.tool.call.id" not in a2
    assert set(a1) | set(a2) <= set(ATTRIBUTES)
    assert all(s.end_time is not None and s.start_time is not None and s.start_time <= s.end_time for s in spans)


def test_a_framework_integrations_call_id_names_the_tool_call() -> None:
    tp, exporter = provider()
    guard = Guard.from_file(POLICIES / "retail.yaml", observers=[OTelObserver(tp)])
    verdict = ToolCallHook(guard, framework="langgraph").check("checkout", checkout_args(), call_id="call_42")
    (span,) = exporter.get_finished_spans()
    assert dict(span.attributes or {})["gen_ai.tool.call.id"] == "call_42"
    assert dict(span.attributes or {})["txguard.outcome"] == verdict.outcome.value


def test_an_event_on_the_callers_recording_span() -> None:
    tp, exporter = provider()
    guard = Guard.from_file(POLICIES / "retail.yaml", observers=[OTelObserver(tp)])
    with tp.get_tracer("host").start_as_current_span("execute_tool checkout"):
        d = guard.check({"name": "checkout", "arguments": "{not json"})
    (span,) = exporter.get_finished_spans()
    assert span.name == "execute_tool checkout"
    (event,) = span.events
    assert event.name == EVENT_NAME and dict(event.attributes or {})["txguard.outcome"] == d.outcome.value


def test_span_mode_makes_a_child_of_the_callers_span() -> None:
    tp, exporter = provider()
    guard = Guard.from_file(POLICIES / "retail.yaml", observers=[OTelObserver(tp, mode="span")])
    with tp.get_tracer("host").start_as_current_span("agent turn") as parent:
        guard.check({"name": "checkout", "arguments": "{not json"})
    child, outer = exporter.get_finished_spans()
    assert child.parent is not None and child.parent.span_id == parent.get_span_context().span_id
    assert child.context.trace_id == outer.context.trace_id and not outer.events


def test_every_attribute_is_documented() -> None:
    doc = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    assert [a for a in ATTRIBUTES if f"`{a}`" not in doc] == []
