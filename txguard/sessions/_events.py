"""The events of a conversation's append-only log.

A ``decision`` event records one proposal (its intent kind, tool, digest, amount, payment method,
merchant) with the decision's final outcome and reason codes; a ``confirmation`` event records a
confirmation the user gave on a trusted surface (the digest of the intent it binds). Times are
integer microseconds since the Unix epoch (UTC), read from the guard's injected clock.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Literal

from ..consent.binding import instant_us
from ..core.fastinit import fast_init

EventType = Literal["decision", "confirmation"]

to_us = instant_us
"""A timezone-aware time as integer microseconds since the Unix epoch (exact, no float)."""


@fast_init
@dataclass(frozen=True, slots=True)
class Event:
    """One entry of a conversation's log. ``seq`` numbers the entries of one conversation from 0."""

    seq: int
    type: str
    at_us: int
    turn: int | None = None
    kind: str | None = None
    tool: str | None = None
    outcome: str | None = None
    digest: str | None = None
    payment_method: str | None = None
    merchant: str | None = None
    currency: str | None = None
    user: str | None = None
    amount_minor: int | None = None
    codes: tuple[str, ...] = ()
    key: str | None = None

    def data_json(self) -> str:
        """The fields other than seq, type, at_us and turn, as canonical JSON (the stored form)."""
        data = asdict(self)
        for k in ("seq", "type", "at_us", "turn"):
            del data[k]
        data["codes"] = list(self.codes)
        return json.dumps({k: v for k, v in data.items() if v not in (None, [])}, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_row(cls, seq: int, type_: str, at_us: int, turn: int | None, data: str) -> Event:
        """Rebuild an event from its stored columns."""
        fields: dict[str, Any] = json.loads(data)
        fields["codes"] = tuple(fields.get("codes", ()))
        return cls(seq=seq, type=type_, at_us=at_us, turn=turn, **fields)
