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

from .. import _publish
from ..policy.session import Budget, SessionPolicy, SessionRule
from ._apply import SESSION_CODES
from ._events import Event
from ._rete import RuleEngineError, RuleEngineEvaluator
from ._rules import OwnEvaluator, SessionEvaluator
from ._open import evaluator, open_store
from ._store import MemoryStore, SessionStore

__all__ = [
    "SESSION_CODES",
    "Budget",
    "Event",
    "MemoryStore",
    "OwnEvaluator",
    "RuleEngineError",
    "RuleEngineEvaluator",
    "SessionEvaluator",
    "SessionPolicy",
    "SessionRule",
    "SessionStore",
    "evaluator",
    "open_store",
]


for _name in __all__:
    _publish(globals()[_name], __name__)  # e.g. `txguard.sessions.MemoryStore`: see `txguard._publish`
