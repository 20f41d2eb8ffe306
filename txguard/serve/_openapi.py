"""The OpenAPI 3.1 document of the decision service (served at ``/openapi.json``, checked in as
``docs/openapi.json``; a test keeps the two equal)."""

from __future__ import annotations

from typing import Any

from .. import __version__
from ._problems import MEDIA_TYPE, TITLES


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _problems(*statuses: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status in statuses:
        kinds = sorted(k for k, (s, _) in TITLES.items() if s == status)
        out[str(status)] = {"description": "; ".join(TITLES[k][1] for k in kinds) + " (" + ", ".join(kinds) + ")",
                            "content": {MEDIA_TYPE: {"schema": _ref("Problem")}}}
    return out


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ENVELOPE = {
    "type": "object",
    "description": "A wire-format v1 envelope (corpus/README.md). Anything else is decided too: it escalates.",
    "properties": {
        "proposal": {"description": "The agent's tool call `{name, arguments}`; `arguments` may be a (corrupted) string"},
        "request": {"type": "object", "description": "What the user asked for"},
        "session": {"type": "object", "description": "`authenticated_user_id`, `confirmed`, and `id`/`turn` for session rules"},
        "facts": {"type": "object", "description": "The business's trusted records"},
        "lineage": {"type": "object", "additionalProperties": {"type": "string"},
                    "description": "Recorded in the audit record; `tool_name` and `tool_call_id` also name the trace span"},
    },
}

_POLICY = {
    "type": "object",
    "required": ["id", "version", "digest"],
    "properties": {"id": {"type": "string"}, "version": {"type": "string"},
                   "digest": {"type": "string", "pattern": "^sha256:[0-9a-f]{64}$"}},
}

_REASON = {
    "type": "object",
    "required": ["rule", "code", "message", "outcome"],
    "properties": {"rule": {"type": "string"}, "code": {"type": "string"}, "message": {"type": "string"},
                   "outcome": _ref("Outcome")},
}

_DECISION = {
    "type": "object",
    "description": "The decision in the `txguard check --format json` shape, with its id.",
    "required": ["decision_id", "outcome", "kind", "reasons", "questions", "confirmation", "route", "policy", "elapsed_us"],
    "properties": {
        "decision_id": {"type": "string", "format": "uuid",
                        "description": "The audit record's id when the service audits; else a fresh UUIDv7"},
        "outcome": _ref("Outcome"),
        "kind": {"type": ["string", "null"], "description": "The intent kind, null when the proposal never became one"},
        "reasons": {"type": "array", "items": _REASON},
        "questions": {"type": "array", "items": {
            "type": "object", "required": ["code", "text", "kind", "options"],
            "properties": {"code": {"type": "string"}, "text": {"type": "string"},
                           "kind": {"enum": ["confirm", "choose", "provide"]},
                           "options": {"type": "array", "items": {"type": "string"}}}}},
        "confirmation": {"type": ["object", "null"],
                         "description": "Exactly what would be executed, for a trusted confirmation screen"},
        "route": {"enum": ["human", "refuse", None]},
        "policy": _ref("Policy"),
        "elapsed_us": {"type": "number"},
    },
}

_PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "enum": sorted(f"urn:txguard:problem:{k}" for k in TITLES)},
        "title": {"type": "string"}, "status": {"type": "integer"}, "detail": {"type": "string"},
        "instance": {"type": "string"},
        "diagnostics": {"type": "array", "items": {"type": "string"},
                        "description": "policy-invalid: every located diagnostic, `file:line:col: code: message`"},
        "policy": _ref("Policy"),
        "limit": {"type": "integer"},
    },
}


def openapi_document() -> dict[str, Any]:
    """The service's OpenAPI document."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "txguard decision service", "version": __version__,
                 "description": "Decides agent tool calls against one policy. See docs/operations.md."},
        "paths": {
            "/v1/check": {"post": {
                "summary": "Decide one envelope", "operationId": "check",
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("Envelope")}}},
                "responses": {"200": _json(_ref("Decision"), "The decision (any outcome; a guard error is an escalate)"),
                              **_problems(400, 413, 415, 422, 503)}}},
            "/v1/check/batch": {"post": {
                "summary": "Decide several envelopes, in order", "operationId": "checkBatch",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["cases"],
                    "properties": {"cases": {"type": "array", "items": _ref("Envelope")}}}}}},
                "responses": {"200": _json({"type": "object", "required": ["decisions"],
                                            "properties": {"decisions": {"type": "array", "items": _ref("Decision")}}},
                                           "One decision per case, in order"),
                              **_problems(400, 413, 415, 422, 503)}}},
            "/healthz": {"get": {"summary": "The process is up", "operationId": "healthz",
                                 "responses": {"200": _json({"type": "object"}, "Alive")}}},
            "/readyz": {"get": {"summary": "A policy is compiled and the sinks are open", "operationId": "readyz",
                                "responses": {"200": _json({"type": "object", "properties": {
                                    "policy": _ref("Policy"),
                                    "worker": {"type": "integer", "description": "The process id of the worker that answered"}}},
                                    "Ready"),
                                              **_problems(503)}}},
            "/v1/policy": {"get": {"summary": "The policy in force", "operationId": "policy",
                                   "responses": {"200": _json(_ref("Policy"), "id, version, digest"), **_problems(503)}}},
            "/v1/policy/reload": {"post": {
                "summary": "Recompile the policy file and swap it in; an invalid one is refused and the old one kept",
                "operationId": "reload",
                "responses": {"200": _json({"type": "object", "required": ["changed", "policy", "previous"],
                                            "properties": {"changed": {"type": "boolean"}, "policy": _ref("Policy"),
                                                           "previous": _ref("Policy")}}, "Swapped"),
                              **_problems(422, 503)}}},
            "/metrics": {"get": {"summary": "Prometheus metrics (text format)", "operationId": "metrics",
                                 "responses": {"200": {"description": "Prometheus text exposition format",
                                                       "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
            "/openapi.json": {"get": {"summary": "This document", "operationId": "openapi",
                                      "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")}}},
        },
        "components": {"schemas": {
            "Envelope": _ENVELOPE, "Decision": _DECISION, "Policy": _POLICY, "Problem": _PROBLEM,
            "Outcome": {"enum": ["allow", "clarify", "escalate"]},
        }},
    }
