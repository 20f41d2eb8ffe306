"""The agent developer's entry point: ``Guard.from_file(...).check(proposal, ...)``."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._compile import CompiledPolicy, compile_file, compile_policy
from ._decision import Decision
from ._evaluate import Clock, evaluate

if TYPE_CHECKING:
    from .audit import AuditSink


def utc_now() -> datetime:
    """The default clock: the current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


class Guard:
    """Checks every proposed agent action against one compiled policy.

    Example:
        >>> guard = Guard.from_file("policies/retail.yaml")          # doctest: +SKIP
        >>> decision = guard.check({"name": "checkout", "arguments": "{...}"},
        ...                        request={"product_type": "Coffee Maker", "budget": "300"},
        ...                        session={"authenticated_user_id": "u1", "confirmed": []},
        ...                        facts={"users": {...}, "products": {...}})
        >>> decision.outcome                                           # doctest: +SKIP
        <Outcome.CLARIFY: 'clarify'>

    ``check`` never raises: malformed input, an unknown tool, a missing fact or a failing check
    all yield ``escalate``. With an ``audit`` sink (see :mod:`txguard.audit`), every decision's
    record is appended before ``check`` returns it; a decision whose record cannot be written is
    returned as ``escalate`` (``audit_unavailable``).
    """

    __slots__ = ("_policy", "_clock", "_audit")

    def __init__(self, policy: CompiledPolicy, *, clock: Clock = utc_now, audit: AuditSink | None = None) -> None:
        self._policy = policy
        self._clock = clock
        self._audit = None
        if audit is not None:
            from .audit._build import Recorder

            self._audit = Recorder(audit)

    @classmethod
    def from_file(cls, path: str | Path, *, clock: Clock = utc_now, audit: AuditSink | None = None) -> Guard:
        """Compile the policy at ``path``; raises :class:`~txguard.PolicyError` if it is invalid."""
        return cls(compile_file(path), clock=clock, audit=audit)

    @classmethod
    def from_text(cls, text: str, *, file: str = "<policy>", base_dir: str | Path | None = None,
                  clock: Clock = utc_now) -> Guard:
        """Compile policy YAML given as text."""
        return cls(compile_policy(text, file, Path(base_dir) if base_dir is not None else None), clock=clock)

    @property
    def policy(self) -> CompiledPolicy:
        """The compiled policy this guard decides with."""
        return self._policy

    def check(self, proposal: Any, request: Any = None, session: Any = None, facts: Any = None, *,
              lineage: Mapping[str, str] | None = None) -> Decision:
        """Decide one proposal.

        Args:
            proposal: ``{"name": tool, "arguments": dict | JSON string}``, a :class:`Proposal`, or an
                already validated intent (e.g. :class:`Checkout`).
            request: what the user asked for (:class:`Request` or a dict), optional.
            session: :class:`Session` or a dict (``authenticated_user_id``, ``confirmed``), optional.
            facts: the retailer's records (``users``, ``orders``, ``products``), optional.
            lineage: where the recommendation came from (host-supplied, e.g. ``{"source": "search:q42"}``);
                recorded in the audit record with the session's ``id`` and ``turn``.
        """
        if self._audit is not None:
            return self._audit.check(self._policy, self._clock, proposal, request, session, facts, lineage)
        return evaluate(self._policy, proposal, request, session, facts, self._clock)

    def check_envelope(self, envelope: Any, *, lineage: Mapping[str, str] | None = None) -> Decision:
        """Decide one wire-format v1 envelope (``proposal``, ``request``, ``session``, ``facts``).

        Keys other than those four are ignored and never read.
        """
        if not isinstance(envelope, Mapping):
            envelope = {"proposal": envelope}
        return self.check(envelope.get("proposal"), envelope.get("request"), envelope.get("session"),
                          envelope.get("facts"), lineage=lineage)
