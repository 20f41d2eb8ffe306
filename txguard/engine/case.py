"""The case: one decision's inputs, read and validated once, before any step runs.

:meth:`Case.read` turns the raw inputs into what every step reads: the proposal mapped by the
policy's tools into an intent (or the engine's fail-closed reason: ``malformed``,
``unknown_tool``), the request, session and facts validated (or ``malformed_context``), ``now``
read once from the guard's clock, the consent keys, and an optional :class:`Trace`. Nothing
validates any of them again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ValidationError

from ..core.context import EMPTY_REQUEST, EMPTY_SESSION, Facts, Proposal, Request, Session, read_proposal, validate
from ..core.decision import Reason, Route
from ..core.intents import ReadOnly
from ..domain.facts import read_facts
from ..policy.compile import CompiledPolicy
from ..policy.tools import ProposalError, validation_summary
from .state import State, engine_reason
from .trace import Trace
from ..core.fastinit import fast_init

Clock = Callable[[], datetime]


@lru_cache(maxsize=64)
def intent_proposal(kind: str) -> Proposal:
    """The stand-in proposal of an intent given already validated (proposals are immutable)."""
    return Proposal(name=f"intent:{kind}", arguments=None)


def coerce(model: type[BaseModel], value: Any, empty: BaseModel) -> Any:
    """``value`` as ``model`` (``empty`` for None; a model instance as it is). Raises if invalid."""
    if value is None:
        return empty
    if type(value) is dict:  # the wire format: no model instance (and no pydantic isinstance check)
        return validate(model, value)
    if isinstance(value, model):
        return value
    return validate(model, value)


def _context_problem(part: str, exc: Exception) -> str:
    """Which field of the request, session or facts is wrong, and what was expected there."""
    if isinstance(exc, ValidationError):
        return validation_summary(exc, root=part)[:300]
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return (text if text.startswith(part) else f"{part}: {text}")[:300]


@fast_init
@dataclass(frozen=True, slots=True)
class Mapped:
    """The proposal as the policy's tools map it: the intent, or why it maps to none."""

    prop: Proposal | None
    arguments: Mapping[str, Any] | None
    intent: BaseModel | None
    problem: tuple[Reason, Route] | None
    kind: str | None = None
    """The intent's kind, read once (None when there is no intent)."""


def map_proposal(policy: CompiledPolicy, proposal: Any) -> Mapped:
    """The proposal -> tool mapping -> intent, or the fail-closed ``malformed``/``unknown_tool`` reason."""
    try:
        if type(proposal) is not dict and isinstance(proposal, BaseModel) and hasattr(proposal, "kind") and not isinstance(proposal, Proposal):
            kind = str(getattr(proposal, "kind"))
            model = policy.domain.models.get(kind, ReadOnly if kind == "read" else None)
            if model is None or not isinstance(proposal, model):
                why = (f"the intent's kind `{kind[:80]}` is not a kind of policy `{policy.id}`" if model is None else
                       f"the intent is a `{type(proposal).__name__}`, not the `{kind[:80]}` model of policy `{policy.id}`")
                return Mapped(None, None, None, (engine_reason("malformed", why), "refuse"), kind)
            return Mapped(intent_proposal(kind), None, proposal, None, kind)  # already an intent
    except Exception as exc:  # noqa: BLE001 - a model whose `kind` raises is no intent (check never raises)
        why = f"the proposal's `kind` cannot be read: {type(exc).__name__}: {str(exc)[:160]}"
        return Mapped(None, None, None, (engine_reason("malformed", why), "refuse"))
    try:
        prop = proposal if type(proposal) is not dict and isinstance(proposal, Proposal) else read_proposal(proposal)
    except Exception as exc:  # noqa: BLE001
        why = f"the proposal is not `{{name, arguments}}`: {str(exc).splitlines()[0][:160]}"
        return Mapped(None, None, None, (engine_reason("malformed", why), "refuse"))
    try:
        tool, arguments = policy.tool_arguments(prop)
        intent = tool.build(arguments)
        return Mapped(prop, arguments, intent, None, str(getattr(intent, "kind")))
    except ProposalError as exc:
        return Mapped(prop, None, None, (engine_reason(exc.code, exc.message), "refuse"))
    except Exception as exc:  # noqa: BLE001 - a tool mapping that fails is the guard failing: closed
        return Mapped(prop, None, None, (engine_reason("internal_error", f"{type(exc).__name__}: {str(exc)[:200]}"),
                                         "human"))


@fast_init
@dataclass(frozen=True, slots=True, eq=False)
class Case:
    """One decision's inputs, read once (see the module docstring).

    The raw inputs are kept as given (the audit record holds them); ``req``, ``ses`` and ``fac``
    are the validated ones, each None when it is not valid. ``now`` is None when the clock raised
    (``clock_error``): such a case escalates ``internal_error`` and touches no conversation store.
    ``context`` is the fail-closed ``malformed_context`` reason and route, if any.
    """

    policy: CompiledPolicy
    proposal: Any
    request: Any
    session: Any
    facts: Any
    mapped: Mapped
    req: Any
    """The validated request: a :class:`Request`, or the policy's declared request model."""
    ses: Session | None
    fac: Facts | None
    context: tuple[Reason, Route] | None
    now: datetime | None
    clock_error: Exception | None
    keys: Mapping[str, bytes] | None
    t0: int
    lineage: Mapping[str, str] | None = None
    record_id: str | None = None
    trace: Trace | None = None
    written: list[str] = field(default_factory=list, compare=False, repr=False)
    """The record ids this case's audit records were written under (shared by its rebinds): a
    case read with a ``record_id`` is recorded once; deciding it again must not reuse the id."""

    @classmethod
    def read(cls, policy: CompiledPolicy, proposal: Any, request: Any, session: Any, facts: Any, clock: Clock,
             keys: Mapping[str, bytes] | None = None, *, lineage: Mapping[str, str] | None = None,
             record_id: str | None = None, trace: Trace | None = None) -> Case:
        """Read one decision's inputs. Never raises: what is wrong becomes the case's ``problem``."""
        t0 = time.perf_counter_ns()
        now: datetime | None = None
        clock_error: Exception | None = None
        try:
            now = clock()
            if not isinstance(now, datetime) or now.utcoffset() is None:
                # a naive or non-datetime reading would be compared as if it were UTC (or not at all)
                raise TypeError(f"the clock must return a timezone-aware datetime, got `{now!r}`"[:200])
        except Exception as exc:  # noqa: BLE001 - a broken clock fails closed (internal_error)
            now, clock_error = None, exc
        mapped = map_proposal(policy, proposal)
        req = ses = fac = None
        context: tuple[Reason, Route] | None = None
        try:
            domain = policy.domain
            if domain.request_model is Request:
                req = coerce(Request, request, EMPTY_REQUEST)
            elif domain.empty_request is None:
                if request is None:
                    raise ValueError("the policy's request has required fields: a request must be given")
                req = validate(domain.request_model, request)
            else:
                req = coerce(domain.request_model, request, domain.empty_request)
        except Exception as exc:  # noqa: BLE001
            context = engine_reason("malformed_context", _context_problem("request", exc)), "human"
        try:
            ses = coerce(Session, session, EMPTY_SESSION)
        except Exception as exc:  # noqa: BLE001
            context = context or (engine_reason("malformed_context", _context_problem("session", exc)), "human")
        try:
            if policy.domain.facts is not None and facts is not None:
                # declared collections may be lists of records: index them before `Facts` checks the layout
                raw = facts.raw() if isinstance(facts, Facts) else facts
                if not isinstance(raw, Mapping):
                    raise TypeError(f"facts must be a mapping of collections, got {type(raw).__name__}")
                fac = Facts(read_facts(policy.domain, raw))
            else:
                fac = facts if isinstance(facts, Facts) else Facts(facts)
        except Exception as exc:  # noqa: BLE001
            context = context or (engine_reason("malformed_context", _context_problem("facts", exc)), "human")
        return cls(policy, proposal, request, session, facts, mapped, req, ses, fac, context,
                   now, clock_error, keys, t0, lineage, record_id, trace)

    def rebind(self, policy: CompiledPolicy, *, keep_trace: bool = False) -> Case:
        """The same case (inputs, ``now``) as ``policy`` maps it: what a shadow candidate decides
        (without the trace, which is the primary's), or the policy a reload put in force (with it)."""
        if policy.domain is not self.policy.domain and self.now is not None:
            # Another domain reads the request and facts with other declarations: read them again.
            now = self.now
            return Case.read(policy, self.proposal, self.request, self.session, self.facts, lambda: now, self.keys,
                             lineage=self.lineage, trace=self.trace if keep_trace else None)
        return replace(self, policy=policy, mapped=map_proposal(policy, self.proposal), t0=time.perf_counter_ns(),
                       trace=self.trace if keep_trace else None)

    @property
    def problem(self) -> tuple[Reason, Route] | None:
        """The fail-closed reason and route of a case that reaches no rule (the proposal's first)."""
        return self.mapped.problem or self.context

    @property
    def intent(self) -> BaseModel | None:
        """The intent the proposal maps to (None for a malformed proposal or an unknown tool)."""
        return self.mapped.intent

    @property
    def kind(self) -> str | None:
        """The intent's kind (None when there is no intent)."""
        return self.mapped.kind

    def start(self) -> State:
        """The state before any step: the fail-closed reason of a case that reaches no rule, if any."""
        mapped = self.mapped
        problem = mapped.problem or self.context
        if problem is not None:
            reason, route = problem
            return State(mapped.kind, None, (reason,), (route,))
        return State(mapped.kind, mapped.intent)

