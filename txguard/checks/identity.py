"""Built-in checks of who acts and what they agreed to: ``authentication`` and ``consent``."""

from __future__ import annotations

from typing import Any

from ..consent.binding import bind
from ..core.intents import CONSEQUENTIAL_KINDS, INTENT_KINDS
from ..domain.digest import intent_digest
from .ctx import Ctx
from .spec import check

CONSENT_BINDING = "consent.binding"
"""The ``Ctx.cache`` key of the consent check's :class:`~txguard.consent.binding.Binding` (bound
with ``first=True``): a second consent rule reuses it, and the rules step hands it to the session
step (``State.consent``), so one decision binds its confirmations once."""


@check("authentication", code="authentication", outcome="clarify", kinds=INTENT_KINDS, declared=lambda spec: True,
       question="Please sign in (or confirm your identity) before I do this.")
def _authentication(ctx: Ctx, params: Any) -> str | None:
    """Fires when no user is authenticated in the session."""
    if ctx.read("session.authenticated_user_id", ctx.session.authenticated_user_id) is None:
        return "no authenticated user in this session"
    return None


@check("consent", code="consent", outcome="clarify", kinds=tuple(sorted(CONSEQUENTIAL_KINDS)),
       declared=lambda spec: spec.consequential,
       question="Please confirm exactly this action on the confirmation screen.")
def _consent(ctx: Ctx, params: Any) -> str | None:
    """Fires unless the session holds an unexpired confirmation of exactly this intent.

    A confirmation binds the intent's consequential fields (see DESIGN, consent, and ``_consent``):
    a confirmed proposal is mapped through the same tool mapping and compared by its bound fields;
    a digest or a verified consent token is compared with the intent's digest.
    """
    if ctx.reads is not None:
        ctx.read("intent digest", intent_digest(ctx.intent))
        ctx.read("session.confirmed (count)", len(ctx.session.confirmed))
    binding = ctx.cache.get(CONSENT_BINDING)
    if binding is None:
        proposal = ctx.proposal if ctx.arguments is not None else None  # None: an intent given validated
        binding = ctx.cache[CONSENT_BINDING] = bind(ctx.policy, ctx.intent, ctx.session.confirmed, ctx.now,
                                                    proposal=proposal, arguments=ctx.arguments,
                                                    keys=ctx.consent_keys, first=True)
    return binding.problem
