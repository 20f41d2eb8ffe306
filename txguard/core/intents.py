"""Typed intents: the validated form of a proposal.

Every intent is a frozen pydantic model with ``extra="forbid"`` and a ``kind`` literal; together
they form the discriminated union :data:`Intent`. Amounts are exact ``Decimal`` values checked
against the ISO 4217 exponent of the intent's currency.
"""

from __future__ import annotations

import typing
from decimal import Decimal
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StrictStr, model_validator

from .errors import MoneyError
from .jsonio import JSONNumber, exact_decimal
from .money import _PLAIN, CURRENCY_EXPONENTS, brief, currency_exponent, parse_amount


def _amount(value: Any) -> Decimal:
    if type(value) is str and _PLAIN.fullmatch(value) is not None:
        return Decimal(value)  # parse_amount's usual case (a plain decimal string), without its frame
    try:
        return parse_amount(value)
    except MoneyError as exc:
        raise ValueError(str(exc)) from None


def _currency(value: Any) -> str:
    if type(value) is str and value in CURRENCY_EXPONENTS:
        return value  # a known code, as currency_exponent reads it (str() of a str is the str itself)
    try:
        currency_exponent(value)
    except MoneyError as exc:
        raise ValueError(str(exc)) from None
    return str(value)


_ZERO, _ONE = Decimal(0), Decimal(1)


def _confidence(value: Any) -> Decimal:
    """The agent's confidence as an exact Decimal: a JSON number from its source text (``0.79999999999999999``
    stays below ``0.8``), a host's float through its shortest ``repr``."""
    if type(value) is JSONNumber:  # the wire format's case first; anything wrong takes the full path below
        result = exact_decimal(value)
        if result.is_finite() and _ZERO <= result <= _ONE:
            return result
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise ValueError(f"confidence `{brief(value)}` is not a number in [0, 1]")
    if isinstance(value, float):
        result = exact_decimal(value)
        if not result.is_finite():
            raise ValueError(f"confidence `{brief(value)}` is not finite")
    else:
        result = Decimal(value)
    if not result.is_finite() or not (0 <= result <= 1):
        raise ValueError(f"confidence `{brief(value)}` is not a number in [0, 1]")
    return result


Amount = Annotated[Decimal, BeforeValidator(_amount)]
Currency = Annotated[str, BeforeValidator(_currency)]
Confidence = Annotated[Decimal, BeforeValidator(_confidence)]
Id = Annotated[StrictStr, Field(min_length=1, max_length=256)]
Quantity = Annotated[StrictInt, Field(ge=1, le=1_000_000)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=False)


class Address(_Frozen):
    """A postal address."""

    address1: StrictStr
    address2: StrictStr = ""
    city: StrictStr
    state: StrictStr
    country: StrictStr
    zip: StrictStr


class LineItem(_Frozen):
    """One cart line: a variant (``sku``) of a product, a quantity and the unit price claimed."""

    sku: Id
    product_id: Id
    title: Annotated[StrictStr, Field(min_length=1)]
    quantity: Quantity
    unit_price: Amount
    category: StrictStr | None = None


class Alternative(_Frozen):
    """Another product the agent considered for the same request."""

    product_id: Id
    sku: Id | None = None
    title: StrictStr | None = None


class _IntentBase(_Frozen):
    """Base of every intent kind."""


def places(amount: Decimal) -> int:
    """``-amount.as_tuple().exponent`` of a finite Decimal (its digits after the point), read from
    its text when that is plain (``as_tuple`` builds a named tuple of every digit: 8x slower).
    ``str`` writes the exponent with a lower-case ``e`` under a context with ``capitals=0``."""
    text = str(amount)
    if "E" in text or "e" in text or not amount.is_finite():
        return -amount.as_tuple().exponent  # type: ignore[operator]
    point = text.find(".")
    return 0 if point < 0 else len(text) - point - 1


def _check_exponent(currency: str, amounts: list[tuple[str, Decimal]]) -> None:
    exponent = CURRENCY_EXPONENTS[currency]
    for name, amount in amounts:
        if places(amount) > exponent:
            raise ValueError(f"{name} `{amount}` has more decimals than {currency} allows ({exponent})")


def _check_cart_exponents(currency: str, total: Decimal | None, items: tuple[LineItem, ...]) -> None:
    """``_check_exponent`` over the total (if any), then the unit prices; names are only formatted
    for the error."""
    exponent = CURRENCY_EXPONENTS[currency]
    if total is not None and places(total) > exponent:
        _check_exponent(currency, [("total", total)])
    for i, it in enumerate(items):
        if places(it.unit_price) > exponent:
            _check_exponent(currency, [(f"items[{i}].unit_price", it.unit_price)])


class Checkout(_IntentBase):
    """Pay for a cart: every line, the total, the currency and the payment method."""

    kind: Literal["checkout"] = "checkout"
    items: Annotated[tuple[LineItem, ...], Field(min_length=1, max_length=1000)]
    total: Amount
    currency: Currency
    payment_method_id: Id
    merchant: StrictStr | None = None
    shipping_address: Address | None = None
    confidence: Confidence | None = None
    alternatives: tuple[Alternative, ...] = ()

    @model_validator(mode="after")
    def _exponents(self) -> Checkout:
        _check_cart_exponents(self.currency, self.total, self.items)
        return self


class AddToCart(_IntentBase):
    """Put lines in the cart (nothing is paid yet)."""

    kind: Literal["add_to_cart"] = "add_to_cart"
    items: Annotated[tuple[LineItem, ...], Field(min_length=1, max_length=1000)]
    currency: Currency
    confidence: Confidence | None = None
    alternatives: tuple[Alternative, ...] = ()

    @model_validator(mode="after")
    def _exponents(self) -> AddToCart:
        _check_cart_exponents(self.currency, None, self.items)
        return self


class CancelOrder(_IntentBase):
    """Cancel an order, with the reason the user gave."""

    kind: Literal["cancel_order"] = "cancel_order"
    order_id: Id
    reason: StrictStr | None = None


ItemIds = Annotated[tuple[Id, ...], Field(min_length=1, max_length=1000)]


class _Replace(_IntentBase):
    order_id: Id
    item_ids: ItemIds
    new_item_ids: ItemIds
    payment_method_id: Id

    @model_validator(mode="after")
    def _paired(self) -> _Replace:
        if len(self.item_ids) != len(self.new_item_ids):
            raise ValueError(
                f"item_ids has {len(self.item_ids)} entries but new_item_ids has {len(self.new_item_ids)}"
            )
        return self


class ModifyOrderItems(_Replace):
    """Swap items of a pending order for other variants; the difference is paid or refunded."""

    kind: Literal["modify_order_items"] = "modify_order_items"


class ExchangeItems(_Replace):
    """Exchange delivered items for other variants."""

    kind: Literal["exchange_items"] = "exchange_items"


class ModifyOrderAddress(_IntentBase):
    """Change the shipping address of an order."""

    kind: Literal["modify_order_address"] = "modify_order_address"
    order_id: Id
    address: Address


class ModifyOrderPayment(_IntentBase):
    """Change the payment method of an order."""

    kind: Literal["modify_order_payment"] = "modify_order_payment"
    order_id: Id
    payment_method_id: Id


class ReturnItems(_IntentBase):
    """Return delivered items; ``payment_method_id`` is where the refund goes."""

    kind: Literal["return_items"] = "return_items"
    order_id: Id
    item_ids: ItemIds
    payment_method_id: Id


class Refund(_IntentBase):
    """Refund an amount of an order to a payment method."""

    kind: Literal["refund"] = "refund"
    order_id: Id
    amount: Amount
    currency: Currency
    payment_method_id: Id
    reason: StrictStr | None = None

    @model_validator(mode="after")
    def _exponents(self) -> Refund:
        _check_exponent(self.currency, [("amount", self.amount)])
        return self


class ModifyUserAddress(_IntentBase):
    """Change a user's default address."""

    kind: Literal["modify_user_address"] = "modify_user_address"
    user_id: Id
    address: Address


Intent = Annotated[
    Union[
        Checkout,
        AddToCart,
        CancelOrder,
        ModifyOrderItems,
        ModifyOrderAddress,
        ModifyOrderPayment,
        ReturnItems,
        ExchangeItems,
        Refund,
        ModifyUserAddress,
    ],
    Field(discriminator="kind"),
]
"""Any intent, discriminated on ``kind``."""

INTENT_MODELS: dict[str, type[BaseModel]] = {
    m.model_fields["kind"].default: m for m in typing.get_args(typing.get_args(Intent)[0])
}
"""Intent kind -> model class."""

INTENT_KINDS: tuple[str, ...] = tuple(sorted(INTENT_MODELS))

CONSEQUENTIAL_KINDS = frozenset(INTENT_KINDS) - {"add_to_cart"}
"""Kinds that move money or change an order or account: these need the user's consent."""


class ReadOnly(BaseModel):
    """The intent of a read-only tool: nothing is changed; its arguments are kept as given."""

    model_config = {"frozen": True, "extra": "forbid"}
    kind: str = "read"
    tool: str
    arguments: dict[str, Any]
