"""The agent developer's entry point: ``Guard.from_file(...).check(proposal, ...)``."""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NoReturn, ParamSpec, TypeVar, overload

from ._compile import CompiledPolicy, compile_file, compile_policy
from ._decision import Decision
from ._evaluate import Clock, evaluate, internal_error
from ._guarded import AsyncGuardedTool, Blocked, ContextSource, GuardedTool, ToolDecorator, wrap
from ._tokens import ConsentKeys, keyring

P = ParamSpec("P")
R = TypeVar("R")

if TYPE_CHECKING:
    from .audit import AuditSink
    from .audit._build import Recorder
    from .sessions import SessionEvaluator, SessionRunner, SessionStore


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

    __slots__ = ("_policy", "_clock", "_sessions", "_audit", "_keys")

    def __init__(self, policy: CompiledPolicy, *, clock: Clock = utc_now, audit: AuditSink | None = None,
                 sessions: SessionStore | None = None, session_evaluator: str | SessionEvaluator = "txguard",
                 consent_keys: ConsentKeys | None = None) -> None:
        """Args:
            policy: the compiled policy.
            clock: the injected clock (timezone-aware); read once per decision.
            audit: a sink (:func:`txguard.audit.open_sink`) that receives one record per decision,
                written before ``check`` returns it.
            sessions: a conversation store (:func:`txguard.sessions.open_store`) for the policy's
                ``session`` section, budgets and single-use confirmations.
            session_evaluator: ``"txguard"`` (the default) or ``"durable_rules"``.
            consent_keys: the keys signed consent tokens (session entries ``{"token": ...}``) are
                verified with: a :class:`~txguard.ConsentSigner`, several, or ``{key id: key}``.
                A token whose key the guard does not hold, or whose MAC fails, confirms nothing.

        Raises:
            UsageError: a consent key shorter than 32 bytes or a malformed key id.
        """
        self._keys = keyring(consent_keys) or None
        self._policy = policy
        self._clock = clock
        self._sessions: SessionRunner | None = None
        self._audit: Recorder | None = None
        if sessions is not None:
            from .sessions import SessionRunner, evaluator

            ev = evaluator(session_evaluator) if isinstance(session_evaluator, str) else session_evaluator
            self._sessions = SessionRunner(policy, sessions, ev, self._keys)
        if audit is not None:
            from .audit._build import Recorder

            self._audit = Recorder(audit)

    @classmethod
    def from_file(cls, path: str | Path, *, clock: Clock = utc_now, audit: AuditSink | None = None,
                  sessions: SessionStore | None = None,
                  session_evaluator: str | SessionEvaluator = "txguard",
                  consent_keys: ConsentKeys | None = None, extends_root: str | Path | None = None) -> Guard:
        """Compile the policy at ``path``; raises :class:`~txguard.PolicyError` if it is invalid.

        A base policy it ``extends`` must be under ``extends_root`` (default: the policy's folder).
        """
        return cls(compile_file(path, extends_root=extends_root), clock=clock, audit=audit, sessions=sessions,
                   session_evaluator=session_evaluator, consent_keys=consent_keys)

    @classmethod
    def from_text(cls, text: str, *, file: str = "<policy>", base_dir: str | Path | None = None,
                  clock: Clock = utc_now, audit: AuditSink | None = None, sessions: SessionStore | None = None,
                  session_evaluator: str | SessionEvaluator = "txguard",
                  consent_keys: ConsentKeys | None = None, extends_root: str | Path | None = None) -> Guard:
        """Compile policy YAML given as text (a base it ``extends`` must be under ``extends_root``,
        default ``base_dir``)."""
        return cls(compile_policy(text, file, Path(base_dir) if base_dir is not None else None,
                                  extends_root=extends_root), clock=clock,
                   audit=audit, sessions=sessions, session_evaluator=session_evaluator, consent_keys=consent_keys)

    @property
    def policy(self) -> CompiledPolicy:
        """The compiled policy this guard decides with."""
        return self._policy

    # -- guarded tools (implementation in _guarded.py) -------------------------------------------
    # An async function also matches ``Callable[P, R]``; the async overloads come first on purpose.
    @overload
    def wrap(self, fn: Callable[P, Coroutine[Any, Any, R]], *, tool: str | None = None,  # type: ignore[overload-overlap]
             context: ContextSource = None, on_block: Literal["return"] = "return") -> AsyncGuardedTool[P, R, Blocked]: ...
    @overload
    def wrap(self, fn: Callable[P, Coroutine[Any, Any, R]], *, tool: str | None = None,  # type: ignore[overload-overlap]
             context: ContextSource = None, on_block: Literal["raise"]) -> AsyncGuardedTool[P, R, NoReturn]: ...
    @overload
    def wrap(self, fn: Callable[P, R], *, tool: str | None = None,
             context: ContextSource = None, on_block: Literal["return"] = "return") -> GuardedTool[P, R, Blocked]: ...
    @overload
    def wrap(self, fn: Callable[P, R], *, tool: str | None = None,
             context: ContextSource = None, on_block: Literal["raise"]) -> GuardedTool[P, R, NoReturn]: ...
    def wrap(self, fn: Callable[..., Any], *, tool: str | None = None, context: ContextSource = None,
             on_block: Literal["return", "raise"] = "return") -> Any:
        """Guard one of your tool functions: it runs only when this guard allows the call.

        Args:
            fn: the tool function (sync or async).
            tool: the tool name calls are checked as (default: ``fn.__name__``).
            context: ``{"request", "session", "facts"}`` for the decision, read at every call: a
                mapping (the host may mutate it) or a function returning one.
            on_block: on ``clarify``/``escalate``, ``"return"`` a :class:`Blocked` or ``"raise"``
                :class:`ToolBlocked`.

        Example:
            >>> checkout = guard.wrap(place_order, tool="checkout", context=ctx)   # doctest: +SKIP
            >>> result = checkout(**arguments)     # place_order's result, or a Blocked
        """
        return wrap(self, fn, tool, context, on_block)

    @overload
    def tool(self, name: str | None = None, *, context: ContextSource = None,
             on_block: Literal["return"] = "return") -> ToolDecorator[Blocked]: ...
    @overload
    def tool(self, name: str | None = None, *, context: ContextSource = None,
             on_block: Literal["raise"]) -> ToolDecorator[NoReturn]: ...
    def tool(self, name: str | None = None, *, context: ContextSource = None,
             on_block: Literal["return", "raise"] = "return") -> ToolDecorator[Any]:
        """Decorator form of :meth:`wrap`: ``@guard.tool("checkout", context=ctx)``."""
        return ToolDecorator(self, name, context, on_block)

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
            # The record is written from the final decision, session reasons included.
            return self._audit.check(self._policy, self._clock, proposal, request, session, facts, lineage,
                                     decide=self._decide)
        return self._decide(self._policy, proposal, request, session, facts, self._clock)

    def _decide(self, policy: CompiledPolicy, proposal: Any, request: Any, session: Any, facts: Any,
                clock: Clock) -> Decision:
        if self._sessions is None:
            return evaluate(policy, proposal, request, session, facts, clock, self._keys)  # total by itself
        try:
            return self._sessions.check(evaluate, proposal, request, session, facts, clock)
        except Exception as exc:  # noqa: BLE001 - the session layer fails closed like the rest
            return internal_error(policy, exc)

    def check_envelope(self, envelope: Any, *, lineage: Mapping[str, str] | None = None) -> Decision:
        """Decide one wire-format v1 envelope (``proposal``, ``request``, ``session``, ``facts``).

        Keys other than those four are ignored and never read.
        """
        if not isinstance(envelope, Mapping):
            envelope = {"proposal": envelope}
        return self.check(envelope.get("proposal"), envelope.get("request"), envelope.get("session"),
                          envelope.get("facts"), lineage=lineage)
