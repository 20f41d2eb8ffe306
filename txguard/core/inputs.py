"""The named input types of the public API: what ``Guard.check`` and its relatives accept.

Each is a union of the validated model and the plain JSON-like data it is read from, so a host can
hand over what it has (a dict decoded from the wire, or a model it built). Whatever the static type
says, the guard reads every input defensively: data of the wrong shape is decided ``escalate``
(``malformed``, ``malformed_context``), never raised. These aliases say what is *meant* to be
passed; they do not widen or narrow what is decided.

Internal module: the names are exported from txguard's top level.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias, Union

from .context import Facts, Proposal, Request, Session
from .intents import Intent

ProposalInput: TypeAlias = Union[Proposal, Mapping[str, object], Intent]
"""What the agent proposed: a :class:`~txguard.Proposal`, the same as a mapping
(``{"name": tool, "arguments": dict | JSON string}``, arguments possibly corrupted), or an already
validated intent (e.g. :class:`~txguard.Checkout`)."""

RequestInput: TypeAlias = Union[Request, Mapping[str, object], None]
"""What the user asked for: a :class:`~txguard.Request`, its fields as a mapping, or None (nothing known)."""

SessionInput: TypeAlias = Union[Session, Mapping[str, object], None]
"""The conversation: a :class:`~txguard.Session`, its fields as a mapping (``authenticated_user_id``,
``confirmed``, ``id``, ``turn``), or None (no one authenticated, nothing confirmed)."""

FactsInput: TypeAlias = Union[Facts, Mapping[str, Mapping[str, object]], None]
"""The retailer's records: :class:`~txguard.Facts`, or collections of records by key
(``{"users": {...}, "orders": {...}, "products": {...}}``), or None (no records)."""

EnvelopeInput: TypeAlias = Mapping[str, Any]
"""One wire-format v1 envelope, as decoded from JSON: ``proposal`` (a :data:`ProposalInput`) and
optionally ``request``, ``session`` and ``facts`` (a :data:`RequestInput`, :data:`SessionInput`,
:data:`FactsInput`). Its values are typed by those keys, not by the mapping: they are what a JSON
decoder returns, and the guard validates each one. Other keys are ignored and never read."""

__all__ = ["EnvelopeInput", "FactsInput", "ProposalInput", "RequestInput", "SessionInput"]
