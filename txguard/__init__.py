"""txguard: a rules-first transaction guard for LLM agents that buy, refund and cancel.

The agent proposes; txguard decides (``allow``, ``clarify`` or ``escalate``) from a declarative
policy; the host acts on the decision::

    from txguard import Guard, Outcome

    guard = Guard.from_file("policies/retail.yaml")
    decision = guard.check(proposal, request=request, session=session, facts=facts)
"""

import importlib as _importlib
import sys as _sys
import types as _types
import typing as _typing

if _typing.TYPE_CHECKING:
    from .policy.compile import CompiledPolicy, compile_file, compile_policy
    from .core.context import Confirmed, Facts, Proposal, Request, Session
    from .core.decision import (
        ConfirmationLine,
        ConfirmationRequest,
        Decision,
        Outcome,
        PolicyRef,
        Question,
        Reason,
        Route,
    )
    from .core.errors import (
        ERROR_CODES,
        ConsentTokenError,
        Diagnostic,
        DiagnosticsError,
        ErrorCode,
        MoneyError,
        PolicyError,
        TxguardError,
        UsageError,
    )
    from .engine.evaluate import ENGINE_CODES
    from .authoring.explain import Explanation, explain
    from .policy.lint import LINT_CODES, lint
    from .policy.tooldefs import ToolDefinitionError, tool_definitions
    from .core.inputs import EnvelopeInput, FactsInput, ProposalInput, RequestInput, SessionInput
    from ._guard import Guard, utc_now
    from .integrations.guarded import AsyncGuardedTool, Blocked, GuardedTool, ToolBlocked, ToolDecorator, render_confirmation
    from .core.intents import (
        AddToCart,
        Address,
        Alternative,
        CancelOrder,
        Checkout,
        ExchangeItems,
        Intent,
        LineItem,
        ModifyOrderAddress,
        ModifyOrderItems,
        ModifyOrderPayment,
        ModifyUserAddress,
        ReadOnly,
        Refund,
        ReturnItems,
    )
    from .domain.digest import intent_digest
    from .core.money import parse_amount
    from .core.observe import Observer
    from .policy.schema import intent_schema, policy_schema
    from ._shadow import ShadowStats
    from .consent.tokens import ConsentSigner

_LAZY: dict[str, str] = {
    "AddToCart": "core.intents",
    "Address": "core.intents",
    "Alternative": "core.intents",
    "AsyncGuardedTool": "integrations.guarded",
    "Blocked": "integrations.guarded",
    "CancelOrder": "core.intents",
    "Checkout": "core.intents",
    "CompiledPolicy": "policy.compile",
    "ConfirmationLine": "core.decision",
    "ConfirmationRequest": "core.decision",
    "Confirmed": "core.context",
    "ConsentSigner": "consent.tokens",
    "ConsentTokenError": "core.errors",
    "Decision": "core.decision",
    "Diagnostic": "core.errors",
    "DiagnosticsError": "core.errors",
    "ENGINE_CODES": "engine.evaluate",
    "ERROR_CODES": "core.errors",
    "EnvelopeInput": "core.inputs",
    "ErrorCode": "core.errors",
    "ExchangeItems": "core.intents",
    "Explanation": "authoring.explain",
    "Facts": "core.context",
    "FactsInput": "core.inputs",
    "Guard": "_guard",
    "GuardedTool": "integrations.guarded",
    "Intent": "core.intents",
    "LINT_CODES": "policy.lint",
    "LineItem": "core.intents",
    "ModifyOrderAddress": "core.intents",
    "ModifyOrderItems": "core.intents",
    "ModifyOrderPayment": "core.intents",
    "ModifyUserAddress": "core.intents",
    "MoneyError": "core.errors",
    "Observer": "core.observe",
    "Outcome": "core.decision",
    "PolicyError": "core.errors",
    "PolicyRef": "core.decision",
    "Proposal": "core.context",
    "ProposalInput": "core.inputs",
    "Question": "core.decision",
    "ReadOnly": "core.intents",
    "Reason": "core.decision",
    "Refund": "core.intents",
    "Request": "core.context",
    "RequestInput": "core.inputs",
    "ReturnItems": "core.intents",
    "Route": "core.decision",
    "Session": "core.context",
    "SessionInput": "core.inputs",
    "ShadowStats": "_shadow",
    "ToolBlocked": "integrations.guarded",
    "ToolDecorator": "integrations.guarded",
    "ToolDefinitionError": "policy.tooldefs",
    "TxguardError": "core.errors",
    "UsageError": "core.errors",
    "compile_file": "policy.compile",
    "compile_policy": "policy.compile",
    "explain": "authoring.explain",
    "intent_digest": "domain.digest",
    "intent_schema": "policy.schema",
    "lint": "policy.lint",
    "parse_amount": "core.money",
    "policy_schema": "policy.schema",
    "render_confirmation": "integrations.guarded",
    "tool_definitions": "policy.tooldefs",
    "utc_now": "_guard",
}
"""Public name -> the private module that defines it. Imported on first use (PEP 562), so that
``import txguard.cli`` (the ``txguard`` command) pays only for what its subcommand uses; a test
keeps this table, the imports above and ``__all__`` identical."""


def _publish(value: object, public: str) -> None:
    """Make an exported class or function report the public module it is exported from, as httpx
    does: ``txguard.Decision``, not ``txguard.core.decision.Decision``, in reprs, tracebacks, docs
    and pickles (pickle finds ``txguard.Decision`` again through :func:`__getattr__`).

    Constants and type aliases keep theirs. A class's string annotations (``from __future__ import
    annotations``) are resolved first, in the module that wrote them, so that ``typing.get_type_hints``
    and pydantic, which look names up in ``sys.modules[cls.__module__]``, still find them.
    """
    if not isinstance(value, (type, _types.FunctionType)):
        return
    if not value.__module__.startswith("txguard.") or value.__module__ == public:
        return
    if isinstance(value, type):
        _resolve_annotations(value)
    value.__module__ = public


def _resolve_annotations(cls: type) -> None:
    own = cls.__dict__.get("__annotations__")
    if not own or not any(isinstance(a, str) for a in own.values()):
        return
    try:
        hints = _typing.get_type_hints(cls, include_extras=True)
    except Exception:  # noqa: BLE001 - a name imported only for type checkers: the strings stay
        return
    cls.__annotations__ = {k: hints.get(k, a) for k, a in own.items()}
    for f in getattr(cls, "__dataclass_fields__", {}).values():
        f.type = hints.get(f.name, f.type)


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(f".{module}", __name__), name)
    _publish(value, __name__)
    globals()[name] = value
    # Every other public name whose module is loaded by now is published too (it costs no import),
    # so a decision reports `txguard.Decision` even when the host only ever touched `txguard.Guard`.
    for other, where in _LAZY.items():
        loaded = _sys.modules.get(f"{__name__}.{where}")
        if other not in globals() and loaded is not None and hasattr(loaded, other):
            _publish(getattr(loaded, other), __name__)
            globals()[other] = getattr(loaded, other)
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0"

__all__ = [
    "ENGINE_CODES",
    "ERROR_CODES",
    "LINT_CODES",
    "AddToCart",
    "Address",
    "Alternative",
    "AsyncGuardedTool",
    "Blocked",
    "CancelOrder",
    "Checkout",
    "CompiledPolicy",
    "ConfirmationLine",
    "ConfirmationRequest",
    "Confirmed",
    "ConsentSigner",
    "ConsentTokenError",
    "Decision",
    "Diagnostic",
    "DiagnosticsError",
    "EnvelopeInput",
    "ErrorCode",
    "ExchangeItems",
    "Explanation",
    "Facts",
    "FactsInput",
    "Guard",
    "GuardedTool",
    "Intent",
    "LineItem",
    "ModifyOrderAddress",
    "ModifyOrderItems",
    "ModifyOrderPayment",
    "ModifyUserAddress",
    "MoneyError",
    "Observer",
    "Outcome",
    "PolicyError",
    "PolicyRef",
    "Proposal",
    "ProposalInput",
    "Question",
    "ReadOnly",
    "Reason",
    "Refund",
    "Request",
    "RequestInput",
    "ReturnItems",
    "Route",
    "Session",
    "SessionInput",
    "ShadowStats",
    "ToolBlocked",
    "ToolDecorator",
    "ToolDefinitionError",
    "TxguardError",
    "UsageError",
    "__version__",
    "compile_file",
    "compile_policy",
    "explain",
    "intent_digest",
    "intent_schema",
    "lint",
    "parse_amount",
    "policy_schema",
    "render_confirmation",
    "tool_definitions",
    "utc_now",
]
