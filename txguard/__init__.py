"""txguard: a rules-first transaction guard for LLM agents that buy, refund and cancel.

The agent proposes; txguard decides (``allow``, ``clarify`` or ``escalate``) from a declarative
policy; the host acts on the decision::

    from txguard import Guard, Outcome

    guard = Guard.from_file("policies/retail.yaml")
    decision = guard.check(proposal, request=request, session=session, facts=facts)
"""

import importlib as _importlib
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
        Refund,
        ReturnItems,
        intent_digest,
    )
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
    "ErrorCode": "core.errors",
    "ExchangeItems": "core.intents",
    "Facts": "core.context",
    "Guard": "_guard",
    "GuardedTool": "integrations.guarded",
    "Intent": "core.intents",
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
    "Question": "core.decision",
    "Reason": "core.decision",
    "Refund": "core.intents",
    "Request": "core.context",
    "ReturnItems": "core.intents",
    "Route": "core.decision",
    "Session": "core.context",
    "ShadowStats": "_shadow",
    "ToolBlocked": "integrations.guarded",
    "ToolDecorator": "integrations.guarded",
    "TxguardError": "core.errors",
    "UsageError": "core.errors",
    "compile_file": "policy.compile",
    "compile_policy": "policy.compile",
    "intent_digest": "core.intents",
    "intent_schema": "policy.schema",
    "parse_amount": "core.money",
    "policy_schema": "policy.schema",
    "render_confirmation": "integrations.guarded",
    "utc_now": "_guard",
}
"""Public name -> the private module that defines it. Imported on first use (PEP 562), so that
``import txguard.cli`` (the ``txguard`` command) pays only for what its subcommand uses; a test
keeps this table, the imports above and ``__all__`` identical."""


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0"

__all__ = [
    "ENGINE_CODES",
    "ERROR_CODES",
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
    "ErrorCode",
    "ExchangeItems",
    "Facts",
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
    "Question",
    "Reason",
    "Refund",
    "Request",
    "ReturnItems",
    "Route",
    "Session",
    "ShadowStats",
    "ToolBlocked",
    "ToolDecorator",
    "TxguardError",
    "UsageError",
    "__version__",
    "compile_file",
    "compile_policy",
    "intent_digest",
    "intent_schema",
    "parse_amount",
    "policy_schema",
    "render_confirmation",
    "utc_now",
]
