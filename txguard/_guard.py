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
    from .sessions import SessionEvaluator, SessionStore


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
    all yield ``escalate``.
    """

    __slots__ = ("_policy", "_clock", "_sessions")

    def __init__(self, policy: CompiledPolicy, *, clock: Clock = utc_now, sessions: SessionStore | None = None,
                 session_evaluator: str | SessionEvaluator = "txguard") -> None:
        """``sessions``: a conversation store (:func:`txguard.sessions.open_store`) for the policy's
        ``session`` section; ``session_evaluator``: ``"txguard"`` or ``"durable_rules"``."""
        self._policy = policy
        self._clock = clock
        self._sessions = None
        if sessions is not None:
            from .sessions import SessionRunner, evaluator

            ev = evaluator(session_evaluator) if isinstance(session_evaluator, str) else session_evaluator
            self._sessions = SessionRunner(policy, sessions, ev)

    @classmethod
    def from_file(cls, path: str | Path, *, clock: Clock = utc_now, sessions: SessionStore | None = None,
                  session_evaluator: str | SessionEvaluator = "txguard") -> Guard:
        """Compile the policy at ``path``; raises :class:`~txguard.PolicyError` if it is invalid."""
        return cls(compile_file(path), clock=clock, sessions=sessions, session_evaluator=session_evaluator)

    @classmethod
    def from_text(cls, text: str, *, file: str = "<policy>", base_dir: str | Path | None = None,
                  clock: Clock = utc_now, sessions: SessionStore | None = None,
                  session_evaluator: str | SessionEvaluator = "txguard") -> Guard:
        """Compile policy YAML given as text."""
        return cls(compile_policy(text, file, Path(base_dir) if base_dir is not None else None), clock=clock,
                   sessions=sessions, session_evaluator=session_evaluator)

    @property
    def policy(self) -> CompiledPolicy:
        """The compiled policy this guard decides with."""
        return self._policy

    def check(self, proposal: Any, request: Any = None, session: Any = None, facts: Any = None) -> Decision:
        """Decide one proposal.

        Args:
            proposal: ``{"name": tool, "arguments": dict | JSON string}``, a :class:`Proposal`, or an
                already validated intent (e.g. :class:`Checkout`).
            request: what the user asked for (:class:`Request` or a dict), optional.
            session: :class:`Session` or a dict (``authenticated_user_id``, ``confirmed``), optional.
            facts: the retailer's records (``users``, ``orders``, ``products``), optional.
        """
        if self._sessions is not None:
            return self._sessions.check(evaluate, proposal, request, session, facts, self._clock)
        return evaluate(self._policy, proposal, request, session, facts, self._clock)

    def check_envelope(self, envelope: Any) -> Decision:
        """Decide one wire-format v1 envelope (``proposal``, ``request``, ``session``, ``facts``).

        Keys other than those four are ignored and never read.
        """
        if not isinstance(envelope, Mapping):
            envelope = {"proposal": envelope}
        return self.check(envelope.get("proposal"), envelope.get("request"), envelope.get("session"),
                          envelope.get("facts"))
