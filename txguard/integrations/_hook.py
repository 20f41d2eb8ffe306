"""The one pre-tool-call step every framework integration runs.

A framework hands its hook a tool name, the arguments the model produced and the framework's own
call id. :meth:`ToolCallHook.check` decides that call with the guard and returns a :class:`Verdict`:
whether the tool may run, the exact proposal that was decided, the message for the agent, and the
confirmation to show when the user must approve. After the user approves on the host's trusted
screen, the integration checks the call again with :meth:`Verdict.approval` (or a signed token the
host issued): the confirmation binds the exact arguments, so a call changed after approval is not
allowed.
"""

from __future__ import annotations

import copy

import inspect
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..core.decision import Decision, Outcome
from ..core.errors import UsageError
from .guarded import ContextSource, _DecisionView, _read_context

if TYPE_CHECKING:
    from .._guard import Guard

Approval = Mapping[str, Any]
"""One entry of ``session.confirmed``: ``{"digest": ...}`` from :meth:`Verdict.approval`, or
``{"token": ...}`` for a signed consent token the host issued."""


@dataclass(frozen=True, slots=True)
class HookCall:
    """One tool call as a framework's hook saw it.

    Attributes:
        framework: the integration's name (``"langgraph"``, ``"openai-agents"``, ...), recorded as lineage.
        tool: the tool name the call is checked as.
        arguments: the arguments as the framework gave them (a mapping, or the model's JSON text).
        call_id: the framework's id of this call, recorded as lineage; None when it has none.
    """

    framework: str
    tool: str
    arguments: Any
    call_id: str | None = None

    @property
    def proposal(self) -> dict[str, Any]:
        """The proposal the guard decides: ``{"name": tool, "arguments": arguments}``."""
        return {"name": self.tool, "arguments": self.arguments}

    @property
    def lineage(self) -> dict[str, str]:
        """What the audit record keeps of where this call came from."""
        out = {"framework": self.framework}
        if self.call_id is not None:
            out["call_id"] = self.call_id
        return out


@dataclass(frozen=True, slots=True)
class Verdict(_DecisionView):
    """The guard's answer to one hooked tool call.

    Its ``outcome``, ``reasons``, ``questions``, ``confirmation``, ``route`` and ``message`` (the
    text for the agent and the user when the call does not run; empty on ``allow``) are those of
    a :class:`~txguard.Blocked`'s, read from ``decision`` by the same code.

    Attributes:
        call: the call that was decided.
        decision: the full decision.
    """

    call: HookCall
    decision: Decision

    @property
    def run(self) -> bool:
        """True only on ``allow``: the tool may run, with exactly ``call.arguments``."""
        return self.decision.outcome is Outcome.ALLOW

    @property
    def needs_approval(self) -> bool:
        """True when the user's approval of :attr:`confirmation` could let the call run."""
        return self.decision.outcome is Outcome.CLARIFY and self.decision.confirmation is not None

    def approval(self) -> dict[str, str]:
        """The ``session.confirmed`` entry that records the user's yes to this verdict's confirmation.

        Record it only from the host's own trusted screen, never from the model's words.

        Raises:
            UsageError: the verdict has no confirmation to approve.
        """
        if self.decision.confirmation is None:
            raise UsageError(f"the decision on `{self.call.tool}` asks for no confirmation ({self.decision.outcome.value})")
        return {"digest": self.decision.confirmation.digest}

    @staticmethod
    def approval_from(payload: Mapping[str, Any]) -> dict[str, str]:
        """The ``session.confirmed`` entry approving the confirmation in a stored :meth:`to_dict` payload.

        For a framework that carries the payload through its own pause (approval metadata, an
        interrupt) and resumes without the :class:`Verdict` object. Record it only when the host's
        trusted screen showed that payload's confirmation and the user approved it.

        Raises:
            UsageError: the payload carries no confirmation digest.
        """
        conf = payload.get("confirmation") if isinstance(payload, Mapping) else None
        digest = conf.get("digest") if isinstance(conf, Mapping) else None
        if not isinstance(digest, str) or not digest:
            raise UsageError("the verdict payload asks for no confirmation (no `confirmation.digest`)")
        return {"digest": digest}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary for a framework's interrupt or approval payload."""
        conf = self.decision.confirmation
        return {
            "tool": self.call.tool,
            "call_id": self.call.call_id,
            "outcome": self.decision.outcome.value,
            "reasons": [r.to_dict() for r in self.decision.reasons],
            "route": self.decision.route,
            "message": self.message,
            "confirmation": conf.to_dict() if conf is not None else None,
        }


class ToolCallHook:
    """Decides the tool calls a framework is about to run.

    Args:
        guard: the guard that decides.
        context: ``{"request", "session", "facts"}`` for the decision, read at every call: a mapping
            (the host may mutate it) or a function returning one.
        framework: the integration's name, recorded as lineage.

    Example:
        >>> hook = ToolCallHook(guard, context=ctx, framework="my-loop")        # doctest: +SKIP
        >>> verdict = hook.check("checkout", {"items": [...]}, call_id="call_1")  # doctest: +SKIP
        >>> verdict.run, verdict.message                                          # doctest: +SKIP
    """

    __slots__ = ("guard", "context", "framework")

    def __init__(self, guard: Guard, context: ContextSource = None, *, framework: str) -> None:
        self.guard = guard
        self.context = context
        self.framework = framework

    def check(self, tool: str, arguments: Any, *, call_id: str | None = None,
              approvals: Iterable[Approval] = ()) -> Verdict:
        """Decide one call. Never raises for a bad call or context: those escalate.

        Args:
            tool: the tool name.
            arguments: the arguments as the model produced them (a mapping or JSON text).
            call_id: the framework's id of the call (lineage in the audit record).
            approvals: the user's approvals recorded by the host for this call (see
                :meth:`Verdict.approval`), added to the context's ``session.confirmed`` for this
                decision only.
        """
        call = HookCall(self.framework, tool, arguments, call_id)
        try:
            ctx = _read_context(self.context)
        except Exception as exc:  # noqa: BLE001 - a broken context provider fails closed, and is audited
            return Verdict(call, self.guard.check(call.proposal, session=_broken(exc), lineage=call.lineage))
        session = ctx.get("session")
        extra = list(approvals)
        if extra:
            session = _with_approvals(session, extra)
        decision = self.guard.check(call.proposal, request=ctx.get("request"), session=session,
                                    facts=ctx.get("facts"), lineage=call.lineage)
        return Verdict(call, decision)


def signature_defaults(fn: Callable[..., Any], skip: Container[str] = ()) -> dict[str, Any]:
    """``{parameter: default}`` for each parameter of ``fn`` a call may pass by name and omit.

    A framework calls a tool with the model's arguments and lets the function fill what they omit
    from its own defaults: those values were never decided. The integrations give them to the
    decision explicitly (:func:`with_defaults`) and hand the tool the same arguments. ``skip``:
    parameters the framework injects itself (a tool context), never the model's.
    """
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # no introspectable signature: nothing known to fill
        return {}
    named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {name: p.default for name, p in params.items()
            if p.kind in named and p.default is not inspect.Parameter.empty and name not in skip}


def model_defaults(model: Any) -> dict[str, Any]:
    """``{field: default}`` for each optional field of a pydantic model class (a tool's argument schema)."""
    fields = getattr(model, "model_fields", None)
    if not isinstance(fields, Mapping):
        return {}
    out: dict[str, Any] = {}
    for name, info in fields.items():
        if not info.is_required():
            out[name] = info.get_default(call_default_factory=True)
    return out


def with_defaults(arguments: Any, defaults: Mapping[str, Any]) -> Any:
    """The call's arguments with every parameter they omit given its default: what the tool runs with.

    Arguments that are not a mapping (malformed) are returned unchanged, for the guard to refuse.
    """
    if not defaults or not isinstance(arguments, Mapping):
        return arguments
    missing = {k: v for k, v in defaults.items() if k not in arguments}
    return {**arguments, **missing} if missing else arguments


class SchemaDefaultsError(ValueError):
    """A JSON Schema whose defaults cannot be applied unambiguously (too deep, or alternatives that
    would fill in different values): the call cannot be decided as the tool would run it."""


def with_schema_defaults(arguments: Any, schema: Any) -> Any:
    """The call's arguments with every default a JSON Schema declares filled in, at any depth.

    A server that validates its arguments against ``schema`` (a pydantic model behind an MCP tool,
    for instance) fills an omitted property from its ``default`` inside nested objects and list
    items too; the guard must decide those values, and the server must receive them explicitly.
    Follows ``properties``, ``items``, ``$ref`` into ``$defs``/``definitions``, ``allOf``, and
    ``anyOf``/``oneOf`` when every alternative that fits the value fills in the same. The input is
    never modified. Arguments that are not JSON objects are returned unchanged (the guard refuses
    them).

    Raises:
        SchemaDefaultsError: the schema nests deeper than 64 levels, or its alternatives disagree.
    """
    if not isinstance(schema, Mapping):
        return arguments
    defs = schema.get("$defs") or schema.get("definitions") or {}
    return _fill(arguments, schema, defs if isinstance(defs, Mapping) else {}, 0)


def _fill(value: Any, schema: Any, defs: Mapping[str, Any], depth: int) -> Any:
    if not isinstance(schema, Mapping) or not isinstance(value, (Mapping, list)):
        return value
    if depth > 64:
        raise SchemaDefaultsError("the tool's input schema nests deeper than 64 levels")
    ref = schema.get("$ref")
    if isinstance(ref, str):
        value = _fill(value, defs.get(ref.rsplit("/", 1)[-1]), defs, depth + 1)
    for part in schema.get("allOf") or ():
        value = _fill(value, part, defs, depth + 1)
    options = [o for key in ("anyOf", "oneOf") for o in (schema.get(key) or ()) if isinstance(o, Mapping)]
    if options:
        filled = [_fill(value, o, defs, depth + 1) for o in options if _fits(value, o, defs)]
        if filled and any(f != filled[0] for f in filled[1:]):
            raise SchemaDefaultsError("the alternatives of the tool's input schema fill in different defaults")
        if filled:
            value = filled[0]
    properties = schema.get("properties")
    if isinstance(value, Mapping) and isinstance(properties, Mapping):
        out = dict(value)
        for key, sub in properties.items():
            if key in out:
                out[key] = _fill(out[key], sub, defs, depth + 1)
            elif isinstance(sub, Mapping) and "default" in sub:
                out[key] = copy.deepcopy(sub["default"])
        value = out
    items = schema.get("items")
    if isinstance(value, list) and isinstance(items, Mapping):
        value = [_fill(element, items, defs, depth + 1) for element in value]
    return value


def _fits(value: Any, option: Mapping[str, Any], defs: Mapping[str, Any]) -> bool:
    """Whether an ``anyOf``/``oneOf`` alternative could describe ``value`` (by JSON type only)."""
    ref = option.get("$ref")
    if isinstance(ref, str):
        target = defs.get(ref.rsplit("/", 1)[-1])
        return isinstance(target, Mapping) and _fits(value, target, defs)
    kind = option.get("type")
    if kind == "object" or "properties" in option:
        return isinstance(value, Mapping)
    if kind == "array" or "items" in option:
        return isinstance(value, list)
    return kind is None


def _broken(exc: Exception) -> dict[str, Any]:
    """A session the guard refuses (malformed context), naming why the host's context failed."""
    return {"authenticated_user_id": None, "confirmed": f"context provider failed: {type(exc).__name__}"}


def _with_approvals(session: Any, approvals: list[Approval]) -> Any:
    """``session`` with ``approvals`` appended to its ``confirmed`` list, the host's object untouched."""
    if session is None:
        return {"confirmed": approvals}
    if isinstance(session, Mapping):
        out = dict(session)
        confirmed = out.get("confirmed")
        out["confirmed"] = [*confirmed, *approvals] if isinstance(confirmed, (list, tuple)) else approvals
        return out
    dump = getattr(session, "model_dump", None)
    if callable(dump):
        return _with_approvals(dump(mode="json"), approvals)
    return session  # unreadable: the guard refuses it as it is
