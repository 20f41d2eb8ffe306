"""The confirmations that bind a decision's intent, for the session step: bound once per decision.

The ``consent`` check binds the session's confirmations to the intent during the rules step,
stopping at the first that binds (``first=True``: enough to decide consent). The session step
needs every one that binds (a single-use allow consumes the first not used yet). Rather than bind
them all again, :func:`bound` completes the check's binding handed over on the state
(:class:`~txguard.engine.state.Consented`):

* whether a confirmation binds depends on that confirmation alone (and on the intent, the clock,
  the keys and the proposal, the same for all), so the full binding is the check's first
  confirmation followed by the binding of the confirmations after it, and none when the check
  found none;
* the check's first confirmation is located by identity (a confirmation that is not a token is
  bound as the very object given); a consent token is verified into a new object, so when the
  first is a token (or the handed binding was made from other inputs: another policy, intent,
  session, clock, keys or proposal) the confirmations are bound again from scratch by
  :func:`reference`, the path ``tests/sessions/test_bound_handover.py`` compares this one with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ..consent.binding import bind
from ..core.context import Confirmed, Proposal
from ..engine.state import Consented
from ..policy.compile import CompiledPolicy


def reference(policy: CompiledPolicy, intent: Any, confirmed: Sequence[Confirmed], now: datetime, digest: str,
              keys: Mapping[str, bytes] | None, proposal: Proposal | None,
              arguments: Mapping[str, Any] | None) -> tuple[Confirmed, ...]:
    """Every confirmation of ``confirmed`` that binds ``intent`` at ``now``, in session order."""
    return bind(policy, intent, confirmed, now, digest=digest, keys=keys, proposal=proposal,
                arguments=arguments).confirmations


def bound(handed: Consented | None, policy: CompiledPolicy, intent: Any, confirmed: Sequence[Confirmed],
          now: datetime, digest: str, keys: Mapping[str, bytes] | None, proposal: Proposal | None,
          arguments: Mapping[str, Any] | None) -> tuple[Confirmed, ...]:
    """:func:`reference`'s answer, completed from the consent check's binding when it was made
    from these very inputs (see the module docstring)."""
    if (handed is None or handed.policy is not policy or handed.intent is not intent
            or handed.confirmed is not confirmed or handed.now is not now or handed.keys is not keys
            or handed.arguments is not arguments
            or (handed.proposal if arguments is not None else None) is not proposal):
        return reference(policy, intent, confirmed, now, digest, keys, proposal, arguments)
    found = handed.binding.confirmations
    if not found:
        return ()
    first = found[0]
    for i, given in enumerate(confirmed):
        if given is first:  # never a token: its verified confirmation is another object
            rest = confirmed[i + 1:]
            if not rest:
                return (first,)
            return (first, *reference(policy, intent, rest, now, digest, keys, proposal, arguments))
    return reference(policy, intent, confirmed, now, digest, keys, proposal, arguments)
