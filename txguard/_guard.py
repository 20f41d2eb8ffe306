"""The agent developer's entry point: ``Guard.from_file(...).check(proposal, ...)``."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, NoReturn, ParamSpec, TypeVar, overload

from ._shadow import Shadow, ShadowStats
from .audit import AuditSink
from .audit._build import Recorder
from .consent.tokens import ConsentKeys, keyring
from .core.decision import Decision
from .core.errors import UsageError
from .core.observe import Observer, notify_decision, notify_reload, notify_shadow
from .engine.case import Case, Clock
from .engine.combine import Combine
from .engine.evaluate import Rules
from .engine.pipeline import Step, run
from .engine.state import internal_error
from .engine.trace import Trace
from .integrations.guarded import AsyncGuardedTool, Blocked, ContextSource, GuardedTool, ToolDecorator, wrap
from .policy.compile import CompiledPolicy, compile_file, compile_policy
from .core.inputs import EnvelopeInput, FactsInput, ProposalInput, RequestInput, SessionInput
from .sessions import MemoryStore, SessionEvaluator, SessionStore, evaluator
from .sessions._apply import SessionRunner

P = ParamSpec("P")
R = TypeVar("R")


def utc_now() -> datetime:
    """The default clock: the current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


class _Bound:
    """What a decision runs on: the compiled policy and the pipeline's steps bound to it.

    One immutable object, swapped whole by :meth:`Guard.reload`, so that a decision never sees the
    new policy with the old session rules (or the reverse).
    """

    __slots__ = ("policy", "steps")

    def __init__(self, policy: CompiledPolicy, steps: tuple[Step, ...]) -> None:
        self.policy = policy
        self.steps = steps


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

    __slots__ = ("_state", "_clock", "_store", "_ledger", "_evaluator", "_audit", "_keys", "_observers", "_shadow",
                 "_reload_lock", "_extends_root")

    def __init__(self, policy: CompiledPolicy, *, clock: Clock = utc_now, audit: AuditSink | None = None,
                 sessions: SessionStore | None = None, session_evaluator: str | SessionEvaluator = "txguard",
                 consent_keys: ConsentKeys | None = None, observers: Sequence[Observer] = (),
                 shadow: CompiledPolicy | str | Path | None = None, shadow_sample: float = 1.0,
                 extends_root: str | Path | None = None) -> None:
        """Args:
            policy: the compiled policy.
            clock: the injected clock (timezone-aware); read once per decision.
            audit: a sink (:func:`txguard.audit.open_sink`) that receives one record per decision,
                written before ``check`` returns it.
            sessions: a conversation store (:func:`txguard.sessions.open_store`) for the policy's
                ``session`` section, budgets and single-use confirmations. Without one, the guard
                keeps its own in-memory single-use ledger of confirmations (one process only: hosts
                running several processes give them one SQLite or PostgreSQL store).
            session_evaluator: ``"txguard"`` (the default) or ``"durable_rules"``.
            consent_keys: the keys signed consent tokens (session entries ``{"token": ...}``) are
                verified with: a :class:`~txguard.ConsentSigner`, several, or ``{key id: key}``.
                A token whose key the guard does not hold, or whose MAC fails, confirms nothing.
            observers: told of every decision (:class:`~txguard.Observer`: metrics, traces); they
                cannot change a decision, and one that raises is ignored.
            shadow: a candidate policy (compiled, or a path to compile) that decides sampled cases
                alongside, observationally: it never changes the decision returned, writes no
                session state, and its decision joins the same audit record (``shadow``), is told
                to observers (``on_shadow``) and counted in :attr:`shadow_stats`. See
                ``docs/operations.md``.
            shadow_sample: the fraction of cases the candidate decides, from 0 to 1 (deterministic:
                by a hash of the proposal digest and the session id).
            extends_root: where a policy this guard compiles from a path (``shadow``, a later
                :meth:`reload`) may find the base it ``extends`` (default: that policy's folder).

        Raises:
            UsageError: a consent key shorter than 32 bytes or a malformed key id, or a
                ``shadow_sample`` outside 0..1.
            PolicyError: ``shadow`` is a path to an invalid policy.
        """
        self._keys = keyring(consent_keys) or None
        self._observers = tuple(observers)
        self._clock = clock
        self._store = sessions
        self._evaluator: SessionEvaluator | None = None
        self._audit: Recorder | None = None
        self._reload_lock = threading.Lock()
        self._extends_root = extends_root
        if sessions is not None:
            self._evaluator = evaluator(session_evaluator) if isinstance(session_evaluator, str) else session_evaluator
            self._ledger: SessionStore | None = None
        else:
            self._ledger = MemoryStore()  # the guard's own single-use ledger: kept across reloads
        self._shadow: Shadow | None = None
        if shadow is not None:
            candidate = shadow if isinstance(shadow, CompiledPolicy) else compile_file(shadow, extends_root=extends_root)
            self._shadow = Shadow(candidate, shadow_sample, self._keys, sessions, self._evaluator)
        if audit is not None:
            self._audit = Recorder(audit, self._observers)
        self._state = self._bind(policy)

    def _bind(self, policy: CompiledPolicy) -> _Bound:
        """The pipeline of a decision on ``policy``: shadow, rules, sessions, combine, audit."""
        steps: list[Step] = []
        if self._shadow is not None:  # first: the candidate sees the conversation store as the primary does
            steps.append(self._shadow)
        steps.append(Rules())
        if self._store is not None:
            steps.append(SessionRunner(policy, self._store, self._evaluator, self._keys))
        elif self._ledger is not None and policy.session.single_use:  # else `single_use_confirmations: false`
            steps.append(SessionRunner(policy, self._ledger, None, self._keys, ledger_only=True))
        steps.append(Combine())
        if self._audit is not None:  # the record is written from the final decision, session reasons included
            steps.append(self._audit)
        return _Bound(policy, tuple(steps))

    @classmethod
    def from_file(cls, path: str | Path, *, clock: Clock = utc_now, audit: AuditSink | None = None,
                  sessions: SessionStore | None = None,
                  session_evaluator: str | SessionEvaluator = "txguard",
                  consent_keys: ConsentKeys | None = None, observers: Sequence[Observer] = (),
                  shadow: CompiledPolicy | str | Path | None = None, shadow_sample: float = 1.0,
                  extends_root: str | Path | None = None) -> Guard:
        """Compile the policy at ``path``; raises :class:`~txguard.PolicyError` if it is invalid.

        A base policy it ``extends`` must be under ``extends_root`` (default: the policy's folder).
        """
        return cls(compile_file(path, extends_root=extends_root), clock=clock, audit=audit, sessions=sessions,
                   session_evaluator=session_evaluator, consent_keys=consent_keys, observers=observers,
                   shadow=shadow, shadow_sample=shadow_sample, extends_root=extends_root)

    @classmethod
    def from_text(cls, text: str, *, file: str = "<policy>", base_dir: str | Path | None = None,
                  clock: Clock = utc_now, audit: AuditSink | None = None, sessions: SessionStore | None = None,
                  session_evaluator: str | SessionEvaluator = "txguard",
                  consent_keys: ConsentKeys | None = None, observers: Sequence[Observer] = (),
                  shadow: CompiledPolicy | str | Path | None = None, shadow_sample: float = 1.0,
                  extends_root: str | Path | None = None) -> Guard:
        """Compile policy YAML given as text (a base it ``extends`` must be under ``extends_root``,
        default ``base_dir``)."""
        return cls(compile_policy(text, file, Path(base_dir) if base_dir is not None else None,
                                  extends_root=extends_root), clock=clock,
                   audit=audit, sessions=sessions, session_evaluator=session_evaluator, consent_keys=consent_keys,
                   observers=observers, shadow=shadow, shadow_sample=shadow_sample, extends_root=extends_root)

    def independent(self, *, at: datetime | None = None) -> Guard:
        """This guard (same policy, clock, keys and audit sink) with a fresh single-use ledger;
        ``at`` (timezone-aware): decide at that fixed instant instead of reading the clock.

        A guard given no conversation store keeps its own in-memory ledger of used confirmations,
        so a confirmation authorises one allow. Scorers and test runners that decide each case as
        an independent world (nothing used yet) decide it on ``guard.independent()``.

        Raises:
            UsageError: the guard has a conversation store (its state is the host's, not the guard's).
        """
        if self._store is not None:
            raise UsageError("a guard with a conversation store cannot be made independent of it")
        other = Guard.__new__(Guard)
        for name in Guard.__slots__:
            setattr(other, name, getattr(self, name))
        other._ledger = MemoryStore()
        if at is not None:
            if at.utcoffset() is None:
                raise UsageError("`at` must be a timezone-aware datetime")
            other._clock = lambda: at
        other._reload_lock = threading.Lock()
        other._state = other._bind(self._state.policy)
        return other

    @property
    def clock(self) -> Clock:
        """The clock decisions read ``now`` from (suites and explain decide at the guard's instant)."""
        return self._clock

    @property
    def policy(self) -> CompiledPolicy:
        """The compiled policy this guard decides with (the latest one :meth:`reload` swapped in)."""
        return self._state.policy

    def reload(self, policy: CompiledPolicy | str | Path) -> CompiledPolicy:
        """Swap in a new policy: a compiled one, or the path of a YAML file to compile.

        The swap is atomic: a decision already running finishes on the policy it started with, and
        every later one uses the new policy (its audit record names the new digest). A policy that
        does not compile is refused and the old one stays in force. Observers are told either way
        (:meth:`Observer.on_reload`). A shadow policy, if any, is not changed. A path is compiled
        with the guard's ``extends_root``.

        Returns:
            the policy now in force.

        Raises:
            PolicyError: the new policy is invalid (its located diagnostics); nothing changed.
            UsageError: ``policy`` is neither a compiled policy nor a path.

        Example:
            >>> guard.reload("policies/retail.yaml").digest          # doctest: +SKIP
            'sha256:...'
        """
        with self._reload_lock:  # one reload at a time, so observers see each old -> new once
            old = self._state.policy
            try:
                if isinstance(policy, CompiledPolicy):
                    new = policy
                elif isinstance(policy, (str, Path)):
                    new = compile_file(policy, extends_root=self._extends_root)
                else:
                    raise UsageError(f"reload takes a CompiledPolicy or a path, got `{type(policy).__name__}`")
            except Exception as exc:
                notify_reload(self._observers, ok=False, old=old, new=None, error=str(exc))
                raise
            self._state = self._bind(new)  # one attribute store: atomic for concurrent readers
        notify_reload(self._observers, ok=True, old=old, new=new, error=None)
        return new

    @property
    def shadow(self) -> CompiledPolicy | None:
        """The candidate policy deciding alongside (shadow mode), or None."""
        return self._shadow.candidate if self._shadow is not None else None

    @property
    def shadow_stats(self) -> ShadowStats:
        """How the shadow policy compared so far (all zeros without one)."""
        return self._shadow.stats if self._shadow is not None else ShadowStats()

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

    def check(self, proposal: ProposalInput, request: RequestInput = None, session: SessionInput = None,
              facts: FactsInput = None, *, lineage: Mapping[str, str] | None = None) -> Decision:
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
        return self._check(proposal, request, session, facts, lineage, None)

    def _check(self, proposal: Any, request: Any, session: Any, facts: Any, lineage: Mapping[str, str] | None,
               record_id: str | None) -> Decision:
        """``check`` on the policy in force when it starts (a later :meth:`reload` does not change it)."""
        t0 = time.perf_counter()
        bound = self._state  # read once: the whole decision runs on the policy it started with
        case = Case.read(bound.policy, proposal, request, session, facts, self._clock, self._keys,
                         lineage=lineage, record_id=record_id)
        return self._decide(bound, case, t0)

    def case(self, proposal: ProposalInput | None, request: RequestInput = None, session: SessionInput = None,
             facts: FactsInput = None, *,
             lineage: Mapping[str, str] | None = None, record_id: str | None = None,
             trace: Trace | None = None) -> Case:
        """Read one decision's inputs into a :class:`~txguard.engine.case.Case` (``now`` from
        :attr:`clock`, once), for :meth:`decide`.

        Args:
            record_id: the audit record's id (a UUIDv7), when the caller chose it (the decision
                service's ``decision_id``).
            trace: a :class:`~txguard.engine.trace.Trace` the steps fill (``txguard explain``).
        """
        return Case.read(self._state.policy, proposal, request, session, facts, self._clock, self._keys,
                         lineage=lineage, record_id=record_id, trace=trace)

    def decide(self, case: Case) -> Decision:
        """Run this guard's pipeline on ``case`` (see :mod:`txguard.engine.pipeline`). Never raises.

        A case read before a :meth:`reload` is decided on the policy now in force, and a case
        read by another guard with this guard's consent keys (never the other guard's).
        """
        bound = self._state
        if not isinstance(case, Case):  # a misuse still gets a fail-closed decision, not an exception
            return internal_error(bound.policy, TypeError(f"decide takes a Case, got `{type(case).__name__}`"))
        if case.keys is not self._keys:  # tokens are verified with the keys of the guard that decides
            case = replace(case, keys=self._keys)
        return self._decide(bound, case, time.perf_counter())

    def _decide(self, bound: _Bound, case: Case, t0: float) -> Decision:
        policy = bound.policy
        if case.policy is not policy:
            case = case.rebind(policy, keep_trace=True)  # read before a reload: traced all the same
        try:
            state = run(bound.steps, case)
            decision = state.decision
            if decision is None:
                raise RuntimeError("the pipeline made no decision")
        except Exception as exc:  # noqa: BLE001 - the steps fail closed; this is the last resort
            return internal_error(policy, exc)
        seen = state.shadow
        shadow = self._shadow
        if seen is not None and shadow is not None:
            shadow.count(decision, seen)
        if self._observers:
            notify_decision(self._observers, decision, policy, time.perf_counter() - t0, case.lineage)
            if seen is not None and shadow is not None:
                notify_shadow(self._observers, decision, seen.decision, policy, seen.candidate)
        return decision

    def check_envelope(self, envelope: EnvelopeInput | None, *, lineage: Mapping[str, str] | None = None) -> Decision:
        """Decide one wire-format v1 envelope (``proposal``, ``request``, ``session``, ``facts``).

        Keys other than those four are ignored and never read. A missing proposal, or ``None`` for a
        case that could not be read at all, is decided like any malformed input: ``escalate``.
        """
        if not isinstance(envelope, Mapping):
            envelope = {"proposal": envelope}
        # `_check`, not `check`: the values are whatever the envelope holds, validated by the guard.
        return self._check(envelope.get("proposal"), envelope.get("request"), envelope.get("session"),
                           envelope.get("facts"), lineage, None)
