"""RFC 9457 problem details: every error the decision service answers, and nothing else."""

from __future__ import annotations

import json
from typing import Any, Literal

ProblemType = Literal[
    "malformed-json",
    "invalid-request",
    "body-too-large",
    "unsupported-media-type",
    "not-found",
    "method-not-allowed",
    "not-ready",
    "policy-invalid",
    "internal-error",
]
"""The ``type`` of every problem the service answers, as ``urn:txguard:problem:{type}``."""

TITLES: dict[ProblemType, tuple[int, str]] = {
    "malformed-json": (400, "The request body is not JSON"),
    "invalid-request": (422, "The request body does not have the expected shape"),
    "body-too-large": (413, "The request body is too large"),
    "unsupported-media-type": (415, "The request body must be application/json"),
    "not-found": (404, "No such resource"),
    "method-not-allowed": (405, "Method not allowed"),
    "not-ready": (503, "No policy is compiled yet"),
    "policy-invalid": (422, "The new policy is invalid; the old one stays in force"),
    "internal-error": (500, "Internal error"),
}

MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    """A request the service answers with problem details (raised inside a handler)."""

    def __init__(self, kind: ProblemType, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.extensions = extensions

    @property
    def status(self) -> int:
        return TITLES[self.kind][0]

    def body(self, instance: str | None = None) -> dict[str, Any]:
        """The problem details object (``type``, ``title``, ``status``, ``detail``, ``instance``, extensions)."""
        status, title = TITLES[self.kind]
        out: dict[str, Any] = {"type": f"urn:txguard:problem:{self.kind}", "title": title, "status": status,
                               "detail": self.detail}
        if instance is not None:
            out["instance"] = instance
        out.update(self.extensions)
        return out

    def encode(self, instance: str | None = None) -> bytes:
        return json.dumps(self.body(instance)).encode("utf-8")
