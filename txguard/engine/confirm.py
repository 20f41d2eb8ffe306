"""The confirmation request a clarify decision carries for a consequential intent."""

from __future__ import annotations

from pydantic import BaseModel

from ..core.decision import ConfirmationLine, ConfirmationRequest
from ..core.intents import Checkout
from ..domain.digest import bound_and_digest
from ..core.money import format_amount


def confirmation_request(intent: BaseModel) -> ConfirmationRequest:
    """What the user is asked to confirm: the intent's digest, bound fields and, for a checkout, its lines."""
    kind = str(getattr(intent, "kind"))
    summary, digest = bound_and_digest(intent)
    if isinstance(intent, Checkout):
        cur = intent.currency
        return ConfirmationRequest(
            kind=kind,
            digest=digest,
            summary=summary,
            lines=tuple(
                ConfirmationLine(l.sku, l.title, l.quantity, format_amount(l.unit_price, cur, code=False))
                for l in intent.items
            ),
            total=format_amount(intent.total, cur, code=False),
            currency=cur,
            payment_method_id=intent.payment_method_id,
            merchant=intent.merchant,
        )
    return ConfirmationRequest(
        kind=kind, digest=digest, summary=summary,
        payment_method_id=getattr(intent, "payment_method_id", None),
        currency=getattr(intent, "currency", None),
    )
