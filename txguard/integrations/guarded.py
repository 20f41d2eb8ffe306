"""Guarded tools: the developer's own tool functions, run only when the guard allows.

``guard.wrap(fn, tool="checkout")`` (or ``@guard.tool("checkout")``) returns a callable with the
same parameters as ``fn``. Each call becomes the proposal ``{"name": tool, "arguments": <the
call's arguments by parameter name>}``, is decided by the guard with the current context, and
``fn`` runs only on ``allow``. On ``clarify`` or ``escalate`` the call returns a :class:`Blocked`
(``on_block="return"``, the default) or raises :class:`ToolBlocked` (``on_block="raise"``); either
carries the decision, the questions, the confirmation to show, the route, and a message ready for
the user. Async functions give async callables.

``dispatch(proposal)`` decides a raw proposal, as an adapter produced it (arguments may be a
corrupted JSON string), and calls ``fn(**arguments)`` only on ``allow``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, ParamSpec, TypeVar, Union, cast, overload

from ..core.context import Proposal
from ..core.decision import ConfirmationRequest, Decision, Outcome, Question, Reason, Route
from ..core.errors import TxguardError, UsageError
from ..core.jsonio import read_json, unusable
from ..adapters import ToolCall

if TYPE_CHECKING:
    from .._guard import Guard

P = ParamSpec("P")
R = TypeVar("R")
B = TypeVar("B")  # what a blocked call gives back: Blocked (on_block="return") or Never ("raise")

OnBlock = Literal["return", "raise"]

ContextSource = Union[Mapping[str, Any], Callable[[], Mapping[str, Any]], None]
"""``{"request", "session", "facts"}`` (read at every call, so a dict the host mutates works), or
a function returning it."""


def render_confirmation(confirmation: ConfirmationRequest) -> str:
    """A plain-text rendering of a confirmation request, for a trusted confirmation screen: every
    field the confirmation binds is shown (what the user sees is what runs).

    Example:
        >>> print(render_confirmation(decision.confirmation))          # doctest: +SKIP
        Please confirm this checkout:
          1 x Coffee Maker (sku 3020722515, product 1725458006) at 238.64 USD
          Total: 238.64 USD, paid with credit_card_4421486
    """
    out = [f"Please confirm this {confirmation.kind.replace('_', ' ')}:"]
    summary = dict(confirmation.summary)
    currency = confirmation.currency or ""
    items = summary.get("items") if confirmation.lines else None
    shown = {"kind"}
    if isinstance(items, list):
        shown.add("items")
        for line in items:
            if not isinstance(line, Mapping):
                continue
            extra = "".join(f", {k.replace('_', ' ')} {v}" for k, v in line.items()
                            if k not in ("sku", "title", "quantity", "unit_price") and v is not None)
            extra = extra.replace(", product id ", ", product ")
            price = str(line.get("unit_price"))  # bound with its code: `270.91 USD`
            price = price if price.endswith(f" {currency}") or not currency else f"{price} {currency}"
            out.append(f"  {line.get('quantity')} x {line.get('title') or 'item'} (sku {line.get('sku')}{extra}) at {price}")
    if confirmation.total is not None:
        paid = f", paid with {confirmation.payment_method_id}" if confirmation.payment_method_id else ""
        out.append(f"  Total: {confirmation.total} {currency}{paid}")
        shown |= {"total", "currency", "payment_method_id"}
    if confirmation.merchant:
        out.append(f"  Merchant: {confirmation.merchant}")
    shown.add("merchant")
    address = summary.get("shipping_address")
    if isinstance(address, Mapping):
        parts = [str(address.get(k)) for k in ("address1", "address2", "city", "state", "zip", "country") if address.get(k)]
        out.append(f"  Ship to: {', '.join(parts)}")
    shown.add("shipping_address")
    for key, value in summary.items():
        if key not in shown:
            out.append(f"  {key}: {_plain(value)}")
    return "\n".join(out)


def _plain(value: Any) -> str:
    """A bound value as a person reads it: records as `key value` pairs, lists comma-separated."""
    if isinstance(value, Mapping):
        return "(" + ", ".join(f"{k} {_plain(v)}" for k, v in value.items() if v is not None) + ")"
    if isinstance(value, list):
        return "[" + ", ".join(_plain(v) for v in value) + "]" if value else "none"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


class _DecisionView:
    """What a held decision tells its caller: the properties :class:`Blocked` and the integrations'
    ``Verdict`` share, forwarded from their ``decision``, and the message for the user.

    A mixin without state (``__slots__ = ()``): the frozen dataclasses built on it hold ``decision``.
    """

    __slots__ = ()

    decision: Decision

    @property
    def outcome(self) -> Outcome:
        """``allow``, ``clarify`` or ``escalate`` (a :class:`Blocked` is never ``allow``)."""
        return self.decision.outcome

    @property
    def reasons(self) -> tuple[Reason, ...]:
        """Every fired rule."""
        return self.decision.reasons

    @property
    def questions(self) -> tuple[Question, ...]:
        """What to ask the user (``clarify`` only)."""
        return self.decision.questions

    @property
    def confirmation(self) -> ConfirmationRequest | None:
        """Exactly what would run, for a trusted confirmation screen (missing or changed consent)."""
        return self.decision.confirmation

    @property
    def route(self) -> Route | None:
        """``human`` or ``refuse`` (``escalate`` only)."""
        return self.decision.route

    @property
    def message(self) -> str:
        """A message the agent loop can show the user as is; empty on ``allow``."""
        if self.outcome is Outcome.ALLOW:
            return ""
        if self.outcome is Outcome.CLARIFY:
            lines = ["Before I go ahead, I need to check with you:"]
            lines += [f"- {q.text}" + (f" ({' / '.join(q.options)})" if q.options else "") for q in self.questions]
            if self.confirmation is not None:
                lines.append(render_confirmation(self.confirmation))
            return "\n".join(lines)
        why = self.reasons[0].message if self.reasons else "the request could not be checked"
        if self.route == "refuse":
            return f"I can't do that: {why}."
        return f"I can't complete this on my own ({why}). I've passed it to a member of our team."


@dataclass(frozen=True, slots=True)
class Blocked(_DecisionView):
    """A guarded tool call that did not run: the guard said ``clarify`` or ``escalate``.

    ``outcome``, ``reasons``, ``questions``, ``confirmation``, ``route`` and ``message`` read
    ``decision`` (the integrations' ``Verdict`` shares them).

    Attributes:
        tool: the tool name the call was checked as.
        proposal: the proposal that was decided.
        decision: the full decision.
    """

    tool: str
    proposal: Mapping[str, Any]
    decision: Decision


class ToolBlocked(TxguardError):
    """Raised by a guarded tool made with ``on_block="raise"`` when the guard did not allow the call."""

    def __init__(self, blocked: Blocked) -> None:
        self.blocked = blocked
        super().__init__(f"`{blocked.tool}` not run: {blocked.outcome.value} ({', '.join(blocked.decision.codes)})")


def _read_context(context: ContextSource) -> Mapping[str, Any]:
    value = context() if callable(context) else context
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise UsageError(f"the guarded tool's context must be a mapping, got {type(value).__name__}")
    return value


class _Core:
    """What the sync and async guarded tools share: building the proposal and deciding it."""

    __slots__ = ("guard", "fn", "tool", "context", "on_block", "signature")

    def __init__(self, guard: Guard, fn: Callable[..., Any], tool: str, context: ContextSource, on_block: OnBlock) -> None:
        if on_block not in ("return", "raise"):
            raise UsageError(f"on_block must be `return` or `raise`, got `{on_block}`")
        self.guard = guard
        self.fn = fn
        self.tool = tool
        self.context = context
        self.on_block = on_block
        self.signature = inspect.signature(fn)

    def proposal_of_call(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            # The call does not fit the function: decided (and refused) rather than run.
            return {"name": self.tool, "arguments": unusable(f"the call does not match `{self.tool}`: {exc}")}
        return {"name": self.tool, "arguments": self._decided_arguments(bound)}

    def proposal_of_dispatch(self, proposal: Any) -> dict[str, Any]:
        """The raw proposal with its arguments bound to ``fn``'s parameters, defaults included."""
        prop = _as_proposal(proposal, self.tool)
        arguments = prop["arguments"]
        if isinstance(arguments, (str, bytes, bytearray)):
            try:
                arguments = read_json(arguments)
            except (ValueError, RecursionError):
                return prop  # the guard reads the text again and says why it is malformed
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, Mapping) or not all(isinstance(k, str) for k in arguments):
            return prop  # not an object: the guard decides it malformed
        try:
            bound = self.signature.bind(**arguments)
        except TypeError as exc:
            return {"name": self.tool, "arguments": unusable(f"the arguments do not match `{self.tool}`: {exc}")}
        return {"name": self.tool, "arguments": self._decided_arguments(bound)}

    def _decided_arguments(self, bound: inspect.BoundArguments) -> Any:
        """Every value ``fn`` will run with, by parameter name, defaults filled in: the decision (and
        the consent binding) sees exactly those values, and ``fn`` later receives exactly these."""
        bound.apply_defaults()
        arguments: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for name, value in bound.arguments.items():
            kind = self.signature.parameters[name].kind
            if kind is inspect.Parameter.VAR_KEYWORD:
                extra = dict(value)
            else:
                arguments[name] = list(value) if kind is inspect.Parameter.VAR_POSITIONAL else value
        clash = sorted(set(extra) & set(arguments))
        if clash:
            return unusable(f"keyword argument `{clash[0]}` of `{self.tool}` has the name of a parameter")
        arguments.update(extra)
        return arguments

    def invocation(self, proposal: Mapping[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """The positional and keyword arguments that give ``fn`` exactly the decided arguments."""
        arguments = proposal["arguments"]
        if not isinstance(arguments, dict):
            raise UsageError(f"`{self.tool}` was allowed with arguments it cannot run with")  # not reachable: allow needs an object
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        named: set[str] = set()
        for name, param in self.signature.parameters.items():
            if param.kind is not inspect.Parameter.VAR_KEYWORD:
                named.add(name)  # the **kwargs parameter's own name may be one of its keys
            if param.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
                args.append(arguments[name])
            elif param.kind is inspect.Parameter.VAR_POSITIONAL:
                args.extend(arguments[name])
            elif param.kind is inspect.Parameter.KEYWORD_ONLY:
                kwargs[name] = arguments[name]
        kwargs.update((k, v) for k, v in arguments.items() if k not in named)
        return args, kwargs

    def decide(self, proposal: Mapping[str, Any]) -> Decision:
        ctx = _read_context(self.context)
        return self.guard.check(proposal, request=ctx.get("request"), session=ctx.get("session"), facts=ctx.get("facts"))

    def blocked(self, proposal: Mapping[str, Any], decision: Decision) -> Blocked:
        result = Blocked(self.tool, proposal, decision)
        if self.on_block == "raise":
            raise ToolBlocked(result)
        return result


def _as_proposal(proposal: Any, tool: str) -> dict[str, Any]:
    if isinstance(proposal, ToolCall):
        proposal = proposal.proposal
    elif isinstance(proposal, Proposal):
        proposal = {"name": proposal.name, "arguments": proposal.arguments}
    if not isinstance(proposal, Mapping):
        return {"name": tool, "arguments": unusable(f"a proposal must be an object, got {type(proposal).__name__}")}
    name = proposal.get("name")
    if name != tool:
        # A call for another tool is never run by this one.
        if name is None or name == "":
            problem = f"the proposal names no tool (dispatched to `{tool}`)"
        elif not isinstance(name, str):
            problem = f"the proposal's tool name is a {type(name).__name__}, not a string (dispatched to `{tool}`)"
        else:
            problem = f"a call of tool `{name[:80]}` was dispatched to `{tool}`"
        return {"name": tool, "arguments": unusable(problem)}
    return {"name": tool, "arguments": proposal.get("arguments")}


class _Guarded:
    """What the sync and async guarded tools share: the core, the tool name, the last decision."""

    def __init__(self, core: _Core) -> None:
        self._core = core
        self.last_decision: Decision | None = None
        functools.update_wrapper(cast(Any, self), core.fn)  # the subclasses are the callables

    @property
    def tool(self) -> str:
        """The tool name calls are checked as."""
        return self._core.tool

    def _judge(self, proposal: Mapping[str, Any]) -> Blocked | None:
        """Decide ``proposal``; None when it is allowed, else what to return (or raise) instead."""
        decision = self.last_decision = self._core.decide(proposal)
        if decision.outcome is Outcome.ALLOW:
            return None
        return self._core.blocked(proposal, decision)


class GuardedTool(_Guarded, Generic[P, R, B]):
    """A sync tool function that runs only when the guard allows the call.

    Calling it decides the call's arguments and returns ``fn``'s result on ``allow``; otherwise a
    :class:`Blocked` (or raises :class:`ToolBlocked`). The last decision is kept in
    ``last_decision`` for logging.
    """

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R | B:
        proposal = self._core.proposal_of_call(args, kwargs)
        blocked = self._judge(proposal)
        if blocked is not None:
            return blocked  # type: ignore[return-value]
        call_args, call_kwargs = self._core.invocation(proposal)
        result: R = self._core.fn(*call_args, **call_kwargs)
        return result

    def dispatch(self, proposal: Proposal | ToolCall | Mapping[str, object]) -> R | B:
        """Decide a raw proposal (or an adapter's ``ToolCall``); on ``allow`` run ``fn(**arguments)``."""
        prop = self._core.proposal_of_dispatch(proposal)
        blocked = self._judge(prop)
        if blocked is not None:
            return blocked  # type: ignore[return-value]
        call_args, call_kwargs = self._core.invocation(prop)
        result: R = self._core.fn(*call_args, **call_kwargs)
        return result


class AsyncGuardedTool(_Guarded, Generic[P, R, B]):
    """An async tool function that runs only when the guard allows the call (see :class:`GuardedTool`)."""

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R | B:
        proposal = self._core.proposal_of_call(args, kwargs)
        blocked = self._judge(proposal)
        if blocked is not None:
            return blocked  # type: ignore[return-value]
        call_args, call_kwargs = self._core.invocation(proposal)
        result: R = await self._core.fn(*call_args, **call_kwargs)
        return result

    async def dispatch(self, proposal: Proposal | ToolCall | Mapping[str, object]) -> R | B:
        """Decide a raw proposal (or an adapter's ``ToolCall``); on ``allow`` await ``fn(**arguments)``."""
        prop = self._core.proposal_of_dispatch(proposal)
        blocked = self._judge(prop)
        if blocked is not None:
            return blocked  # type: ignore[return-value]
        call_args, call_kwargs = self._core.invocation(prop)
        result: R = await self._core.fn(*call_args, **call_kwargs)
        return result


def wrap(guard: Guard, fn: Callable[..., Any], tool: str | None, context: ContextSource,
         on_block: OnBlock) -> GuardedTool[Any, Any, Any] | AsyncGuardedTool[Any, Any, Any]:
    """Build the guarded tool for ``fn`` (the implementation behind ``Guard.wrap``)."""
    if not callable(fn):
        raise UsageError(f"guard.wrap needs a function, got {type(fn).__name__}")
    core = _Core(guard, fn, tool if tool is not None else fn.__name__, context, on_block)
    if inspect.iscoroutinefunction(fn):
        return AsyncGuardedTool(core)
    return GuardedTool(core)


class ToolDecorator(Generic[B]):
    """What ``guard.tool(name)`` returns: apply it to a sync or an async function."""

    __slots__ = ("_guard", "_tool", "_context", "_on_block")

    def __init__(self, guard: Guard, tool: str | None, context: ContextSource, on_block: OnBlock) -> None:
        self._guard = guard
        self._tool = tool
        self._context = context
        self._on_block = on_block

    # An async function also matches ``Callable[P, R]``; the async overload comes first on purpose.
    @overload
    def __call__(self, fn: Callable[P, Coroutine[Any, Any, R]]) -> AsyncGuardedTool[P, R, B]: ...  # type: ignore[overload-overlap]
    @overload
    def __call__(self, fn: Callable[P, R]) -> GuardedTool[P, R, B]: ...
    def __call__(self, fn: Callable[..., Any]) -> Any:
        return wrap(self._guard, fn, self._tool, self._context, self._on_block)
