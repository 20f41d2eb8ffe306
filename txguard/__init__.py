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
    from ._compile import CompiledPolicy, compile_file, compile_policy
    from ._context import Confirmed, Facts, Proposal, Request, Session
    from ._decision import (
        ConfirmationLine,
        ConfirmationRequest,
        Decision,
        Outcome,
        PolicyRef,
        Question,
        Reason,
        Route,
    )
    from ._errors import (
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
    from ._evaluate import ENGINE_CODES
    from ._guard import Guard, utc_now
    from ._guarded import AsyncGuardedTool, Blocked, GuardedTool, ToolBlocked, ToolDecorator, render_confirmation
    from ._intents import (
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
    from ._money import parse_amount
    from ._observe import Observer
    from ._schema import intent_schema, policy_schema
    from ._shadow import ShadowStats
    from ._tokens import ConsentSigner

_LAZY: dict[str, str] = {
    "AddToCart": "_intents",
    "Address": "_intents",
    "Alternative": "_intents",
    "AsyncGuardedTool": "_guarded",
    "Blocked": "_guarded",
    "CancelOrder": "_intents",
    "Checkout": "_intents",
    "CompiledPolicy": "_compile",
    "ConfirmationLine": "_decision",
    "ConfirmationRequest": "_decision",
    "Confirmed": "_context",
    "ConsentSigner": "_tokens",
    "ConsentTokenError": "_errors",
    "Decision": "_decision",
    "Diagnostic": "_errors",
    "DiagnosticsError": "_errors",
    "ENGINE_CODES": "_evaluate",
    "ERROR_CODES": "_errors",
    "ErrorCode": "_errors",
    "ExchangeItems": "_intents",
    "Facts": "_context",
    "Guard": "_guard",
    "GuardedTool": "_guarded",
    "Intent": "_intents",
    "LineItem": "_intents",
    "ModifyOrderAddress": "_intents",
    "ModifyOrderItems": "_intents",
    "ModifyOrderPayment": "_intents",
    "ModifyUserAddress": "_intents",
    "MoneyError": "_errors",
    "Observer": "_observe",
    "Outcome": "_decision",
    "PolicyError": "_errors",
    "PolicyRef": "_decision",
    "Proposal": "_context",
    "Question": "_decision",
    "Reason": "_decision",
    "Refund": "_intents",
    "Request": "_context",
    "ReturnItems": "_intents",
    "Route": "_decision",
    "Session": "_context",
    "ShadowStats": "_shadow",
    "ToolBlocked": "_guarded",
    "ToolDecorator": "_guarded",
    "TxguardError": "_errors",
    "UsageError": "_errors",
    "compile_file": "_compile",
    "compile_policy": "_compile",
    "intent_digest": "_intents",
    "intent_schema": "_schema",
    "parse_amount": "_money",
    "policy_schema": "_schema",
    "render_confirmation": "_guarded",
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
