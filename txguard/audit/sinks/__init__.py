"""Audit sinks: where records go. One small protocol (:class:`AuditSink`), one module per sink.

``memory:`` (:class:`MemorySink`, the test double), ``jsonl:PATH`` (:class:`JsonlSink`),
``sqlite:PATH`` (:class:`SqliteSink`, the embedded default) and ``postgresql://...``
(:class:`PostgresSink`). :func:`open_sink` picks one from a URL. Every sink links records into one
chain (``seq``, ``prev``, ``hash``) at the moment they join it; see ``docs/audit-format.md`` for
the durability modes and what each guarantees after a crash.

``base`` holds the protocol, the entry and the errors; ``journal`` and ``group`` the group commit
the two SQL sinks share. A new sink is one module here plus one branch of :func:`open_sink`.
"""

from __future__ import annotations

import os

from .base import AuditEntry, AuditError, AuditSink, Damaged, _choice, _options, _positive
from .jsonl import JsonlSink
from .memory import MemorySink
from .postgres import PostgresSink
from .sqlite import SqliteSink

__all__ = ["AuditEntry", "AuditError", "AuditSink", "Damaged", "JsonlSink", "MemorySink", "PostgresSink",
           "SqliteSink", "open_sink"]


def open_sink(url: str, *, readonly: bool = False, salt: bytes | None = None) -> AuditSink:
    """Open an audit sink from a URL.

    ``memory:``, ``jsonl:PATH[?fsync=always|group|never&every=N&ms=T]``,
    ``sqlite:PATH[?commit=group|each&every=N&ms=T&sync=normal|full]``,
    ``postgresql://USER@HOST/DB[?commit=each|group&journal=DIR&every=N&ms=T]``.
    ``readonly`` opens an existing trail to read or verify it, without taking a writer's place.
    ``salt`` keys the digests of masked fields (default: env ``TXGUARD_AUDIT_SALT``; without
    either, a random salt per sink, so masked values cannot be linked across sinks).

    Example:
        >>> sink = open_sink("memory:")
        >>> type(sink).__name__
        'MemorySink'

    Raises:
        AuditError: an unknown scheme or option, or a trail that cannot be opened.
    """
    if salt is None and os.environ.get("TXGUARD_AUDIT_SALT"):
        salt = os.environ["TXGUARD_AUDIT_SALT"].encode("utf-8")
    if url == "memory:" or url == "memory":
        return MemorySink(salt)
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresSink(url, readonly=readonly, salt=salt)
    scheme, sep, rest = url.partition(":")
    if not sep or scheme not in ("jsonl", "sqlite"):
        raise AuditError(f"unknown audit sink URL `{url}` (expected memory:, jsonl:PATH, sqlite:PATH or postgresql://...)")
    path, _, query = rest.partition("?")
    if path.startswith("//"):
        path = path[2:]
    if not path:
        raise AuditError(f"audit sink URL `{url}` names no file")
    if scheme == "jsonl":
        opts = _options(query, {"fsync": _choice("always", "group", "never"), "every": _positive, "ms": _positive})
        return JsonlSink(path, readonly=readonly, salt=salt, **opts)
    opts = _options(query, {"commit": _choice("group", "each"), "every": _positive, "ms": _positive,
                            "sync": _choice("normal", "full")})
    return SqliteSink(path, readonly=readonly, salt=salt, **opts)
