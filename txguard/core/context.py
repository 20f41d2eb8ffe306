"""The context of a decision: the user's request, the session and the retailer's facts.

``Request`` and ``Session`` are frozen pydantic models. ``Facts`` wraps the retailer's own
records (``users``, ``orders``, ``products``, in the wire-format v1 layout) without copying or
re-validating them on every decision: records are trusted data, looked up by key.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError, field_validator, model_validator

from .intents import Amount, Currency


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


_MODEL_VALIDATE = BaseModel.model_validate.__func__  # type: ignore[attr-defined]


def validate(model: type[BaseModel], value: Any) -> Any:
    """``model.model_validate(value)``. Pydantic's own ``model_validate`` is a Python wrapper that
    passes seven keyword options, all None, to the model's core validator (a third of a small
    model's cost): when the model has not replaced it, the validator is called directly."""
    if getattr(model.model_validate, "__func__", None) is _MODEL_VALIDATE:
        return model.__pydantic_validator__.validate_python(value)
    return model.model_validate(value)


class Proposal(_Frozen):
    """What the agent emitted: a tool name and its arguments (a dict, or a JSON string).

    The arguments are not validated here: a corrupted argument string is a case the guard decides.
    """

    name: StrictStr
    arguments: Any = None


_PROPOSAL_KEYS = frozenset(("name", "arguments"))
_NAME_ONLY, _NAME_AND_ARGUMENTS = frozenset(("name",)), frozenset(_PROPOSAL_KEYS)
_new = object.__new__
_set_dict, _set_fields, _set_extra, _set_private = (BaseModel.__dict__[name].__set__ for name in (
    "__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__"))


def read_proposal(value: Any) -> Proposal:
    """``Proposal.model_validate(value)``; a plain ``dict`` with a ``str`` name (the wire format's
    case) is built directly, as pydantic builds it (``tests/test_fast_read.py`` checks the two).
    Every key must be an exact ``str``: a key that only compares equal to ``name`` is refused by
    pydantic (``Keys should be strings``, or an extra key)."""
    if type(value) is dict and value.keys() <= _PROPOSAL_KEYS:
        name = value.get("name")
        if type(name) is str and all(type(key) is str for key in value):
            given = "arguments" in value
            prop = _new(Proposal)
            _set_dict(prop, {"name": name, "arguments": value["arguments"] if given else None})
            _set_fields(prop, set(_NAME_AND_ARGUMENTS if given else _NAME_ONLY))
            _set_extra(prop, None)
            _set_private(prop, None)
            return prop
    validated: Proposal = validate(Proposal, value)
    return validated


class Request(_Frozen):
    """What the user asked for.

    ``product_type`` names a catalog product type (``"Coffee Maker"``); ``category`` may give a
    Google Product Taxonomy id or path instead. ``budget`` is the most the user wants to spend on
    the whole purchase; ``quantity`` the number of units asked for; ``options`` the variant
    options the user pinned (``{"color": "black"}``).
    """

    text: StrictStr | None = None
    product_type: StrictStr | None = None
    category: StrictStr | StrictInt | None = None
    budget: Amount | None = None
    currency: Currency | None = None
    quantity: Annotated[StrictInt, Field(ge=1)] | None = None
    options: dict[StrictStr, StrictStr] = Field(default_factory=dict)


class Confirmed(_Frozen):
    """A confirmation the user gave on a trusted surface.

    One of three forms: the exact proposal that was shown (``name`` + ``arguments``); the
    ``digest`` of a :class:`~txguard.ConfirmationRequest`; or a signed consent ``token``
    (:class:`~txguard.ConsentSigner`), which carries its own digest, expiry and nonce and binds only
    if the guard holds its key. ``expires_at`` (timezone-aware) bounds the life of the first two.
    ``nonce`` is the confirmation's own identity for single-use consumption (set from a token).
    """

    name: StrictStr | None = None
    arguments: Any = None
    digest: StrictStr | None = None
    expires_at: datetime | None = None
    token: StrictStr | None = None
    nonce: StrictStr | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Confirmed:
        if (self.name is not None) + (self.digest is not None) + (self.token is not None) != 1:
            raise ValueError("a confirmation has exactly one of `name` (with `arguments`), `digest` or `token`")
        if self.token is not None and (self.expires_at is not None or self.nonce is not None
                                       or self.arguments is not None):
            raise ValueError("a `token` confirmation carries its own expiry and nonce: give only `token`")
        if self.expires_at is not None and self.expires_at.tzinfo is None:
            raise ValueError("`expires_at` must carry a timezone")
        return self


MALFORMED_TOKEN_ENTRY = "txgc1-malformed-session-entry"
"""The token a malformed ``{"token": ...}`` session entry stands for: it confirms nothing."""


class Session(_Frozen):
    """The conversation: who is authenticated, what they confirmed, and where we are.

    A ``confirmed`` entry that names a ``token`` but is not a lone token string (``{"token": 5}``,
    a token with an expiry beside it) is kept as a token that confirms nothing: a token travels
    through processes the host does not fully control, and a bad one must not hide the others.
    """

    authenticated_user_id: Annotated[StrictStr, Field(min_length=1)] | None = None
    confirmed: tuple[Confirmed, ...] = ()
    id: StrictStr | None = None
    turn: Annotated[StrictInt, Field(ge=0)] | None = None

    @field_validator("confirmed", mode="before")
    @classmethod
    def _tokens_confirm_nothing(cls, value: Any) -> Any:
        if not isinstance(value, (list, tuple)):
            return value
        out = []
        for entry in value:
            if (type(entry) is dict or isinstance(entry, Mapping)) and "token" in entry:
                try:
                    entry = validate(Confirmed, entry)
                except ValidationError:
                    entry = Confirmed(token=MALFORMED_TOKEN_ENTRY)
            out.append(entry)
        return out


class Facts:
    """The retailer's trusted records, by collection and key.

    >>> Facts({"orders": {"#W1": {"status": "pending"}}}).get("orders", "#W1")["status"]
    'pending'
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        if data is None:
            data = {}
        if type(data) is not dict and not isinstance(data, Mapping):
            raise TypeError(f"facts must be a mapping of collections, got {type(data).__name__}")
        for name, collection in data.items():
            if type(collection) is not dict and not isinstance(collection, Mapping):
                raise TypeError(f"facts.{name} must be a mapping of records, got {type(collection).__name__}")
        self._data = data

    def collection(self, name: str) -> Mapping[str, Any]:
        """The records of one collection (empty if absent)."""
        return self._data.get(name, {})  # type: ignore[no-any-return]

    def get(self, collection: str, key: object) -> Any:
        """One record, or ``None``."""
        if not isinstance(key, str):
            return None
        return self._data.get(collection, {}).get(key)

    def raw(self) -> Mapping[str, Any]:
        """The underlying mapping, as given."""
        return self._data

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Facts) and self._data == other._data

    def __repr__(self) -> str:
        return f"Facts({', '.join(f'{k}: {len(v)}' for k, v in self._data.items())})"

    __hash__ = None  # type: ignore[assignment]


EMPTY_REQUEST = Request()
EMPTY_SESSION = Session()
EMPTY_FACTS = Facts({})
