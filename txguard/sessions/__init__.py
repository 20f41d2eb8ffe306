"""Conversation state across turns: session rules, spend budgets and single-use confirmations.

::

    from txguard import Guard
    from txguard.sessions import open_store

    store = open_store("sqlite:txguard.db")          # or "memory:", or "postgresql://..."
    guard = Guard.from_file("policies/retail.yaml", sessions=store)
    decision = guard.check(proposal, session={"id": "conv-1", "turn": 3, ...})

The store keeps one append-only event log per conversation (keyed by the full ``session.id``),
the budget counters and the used single-use confirmations, with the concurrency guarantees done by
the database. Session rules run on txguard's own evaluator by default, or on durable_rules
(``Guard(..., session_evaluator="durable_rules")``, needs ``pip install 'txguard[rete]'``).
"""

from ..core.errors import UsageError
from ..policy.session import Budget, SessionPolicy, SessionRule
from ._apply import SESSION_CODES, SessionRunner
from ._events import Event
from ._rete import RuleEngineError, RuleEngineEvaluator
from ._rules import OwnEvaluator, SessionEvaluator
from ._open import open_store
from ._store import Charge, MemoryStore, SessionStore, Transaction

__all__ = [
    "SESSION_CODES",
    "Budget",
    "Charge",
    "Event",
    "MemoryStore",
    "OwnEvaluator",
    "RuleEngineError",
    "RuleEngineEvaluator",
    "SessionEvaluator",
    "SessionPolicy",
    "SessionRule",
    "SessionRunner",
    "SessionStore",
    "Transaction",
    "open_store",
]


def evaluator(name: str) -> SessionEvaluator:
    """The session-rule evaluator called ``name``: ``"txguard"`` (default) or ``"durable_rules"``."""
    if name == "txguard":
        return OwnEvaluator()
    if name == "durable_rules":
        return RuleEngineEvaluator()
    raise UsageError(f"unknown session evaluator `{name}` (expected `txguard` or `durable_rules`)")


__all__ += ["evaluator"]
__all__.sort()
