"""The service makes the request's W3C trace context current: decision spans join the caller's trace."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from txguard.otel import ATTRIBUTES, OTelObserver
from txguard.serve import ServeConfig, create_app

from ..conftest import POLICIES

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


def test_a_decision_span_is_a_child_of_the_requests_traceparent() -> None:
    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    app = create_app(ServeConfig(policy=str(POLICIES / "retail.yaml")), observers=[OTelObserver(tp)])


    async def drive() -> tuple[Any, Any]:
        async with app.router.lifespan_context(app), \
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://txguard") as client:
            traced = await client.post("/v1/check", json={
                "proposal": {"name": "checkout", "arguments": "{bad"},
                "lineage": {"tool_call_id": "call_42", "tool_name": "checkout"}},
                headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"})
            return traced, await client.post("/v1/check", json={"proposal": {"name": "no_such_tool", "arguments": {}}})

    r, untraced = asyncio.run(drive())
    assert r.status_code == 200 and untraced.status_code == 200
    joined, alone = exporter.get_finished_spans()
    assert joined.name == "execute_tool checkout"
    assert f"{joined.context.trace_id:032x}" == TRACE_ID
    assert joined.parent is not None and f"{joined.parent.span_id:016x}" == PARENT_ID and joined.parent.is_remote
    attrs = dict(joined.attributes or {})
    assert attrs["txguard.outcome"] == r.json()["outcome"] == "escalate"
    assert list(attrs["txguard.reason_codes"]) == [x["code"] for x in r.json()["reasons"]]
    assert attrs["txguard.policy.digest"] == r.json()["policy"]["digest"] and attrs["gen_ai.tool.call.id"] == "call_42"
    assert set(attrs) <= set(ATTRIBUTES)
    assert alone.parent is None and f"{alone.context.trace_id:032x}" != TRACE_ID
