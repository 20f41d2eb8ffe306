"""Opening a conversation store by URL (memory, SQLite, PostgreSQL), and a session-rule evaluator by name."""

from __future__ import annotations

from ..core.errors import UsageError
from ._postgres import PostgresStore
from ._rete import RuleEngineEvaluator
from ._rules import OwnEvaluator, SessionEvaluator
from ._sqlite import SQLiteStore
from ._store import MemoryStore, SessionStore


def open_store(url: str) -> SessionStore:
    """Open a conversation store.

    Args:
        url: ``memory:``; ``sqlite:PATH`` (``sqlite:///abs/path.db``), or a plain file path, for
            SQLite, the embedded default; ``postgresql://...`` for PostgreSQL (psycopg 3, the
            ``postgres`` extra). The same database file or server may hold the audit trail: the
            session tables are named ``txg_session_*``.

    Raises:
        UsageError: an unknown scheme, or psycopg is not installed for a PostgreSQL URL.

    Example:
        >>> store = open_store("memory:")
        >>> store.events("conv-1")
        []
    """
    if url == "memory:":
        return MemoryStore()
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStore(url)
    if url.startswith("sqlite:"):
        path = url[len("sqlite:"):]
        if path.startswith("///"):
            path = path[2:]
        elif path.startswith("//"):
            raise UsageError(f"`{url}`: write `sqlite:PATH` or `sqlite:///absolute/path`")
    elif "://" in url or (":" in url.split("/")[0] and len(url.split(":")[0]) > 1):
        raise UsageError(f"unknown session store `{url}` (expected `memory:`, `sqlite:PATH` or `postgresql://...`)")
    else:
        path = url
    if not path:
        raise UsageError("a SQLite session store needs a file path: `sqlite:PATH`")
    return SQLiteStore(path)


def evaluator(name: str) -> SessionEvaluator:
    """The session-rule evaluator called ``name``: ``"txguard"`` (default) or ``"durable_rules"``."""
    if name == "txguard":
        return OwnEvaluator()
    if name == "durable_rules":
        return RuleEngineEvaluator()
    raise UsageError(f"unknown session evaluator `{name}` (expected `txguard` or `durable_rules`)")
