"""txguard: a rules-first transaction guard for LLM agents that buy, refund and cancel.

The agent proposes; txguard decides (``allow``, ``clarify`` or ``escalate``) from a declarative
policy; the host acts on the decision::

    from txguard import Guard, Outcome

    guard = Guard.from_file("policies/retail.yaml")
    decision = guard.check(proposal, request=request, session=session, facts=facts)
"""

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
