"""Roles: what a built-in check reads of a declared intent kind, and of the declared facts and request.

A declared kind names under ``roles:`` the field that plays each role a check reads (``amount:
total``). Which type each role takes is fixed here, so a check applies to a declared kind exactly
when the kind declares the roles it reads with those types (:func:`role_problem`; the compiler's
"does not apply to" error says which role is missing or ill-typed). At decision time the readers
below fail closed: an absent value of the intent is returned as absent (the check fires), a hole in
the trusted records is a :class:`MissingFact`.

See ``docs/declared-checks.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..core.errors import MissingFact
from ..core.money import brief
from ..core.paths import MISSING
from ..domain.declare import FieldType, leaf_steps, resolve
from ..domain.models import walk
from ..domain.domain import kind_spec as kind_spec  # re-exported: each check's declared branch asks it
from .ctx import Ctx, _amount

if TYPE_CHECKING:
    from ..domain.domain import Domain, KindSpec

ROLE_TYPES: dict[str, tuple[tuple[str, ...], bool]] = {
    "amount": (("money",), True),
    "owner": (("id", "string"), False),
    "payment": (("id", "string"), False),
    "confidence": (("decimal",), False),
    "candidates": (("list",), False),
    "quantity": (("int",), True),
    "lines": (("list",), False),
    "order": (("id", "string", "int"), False),
}
"""Each role: the declared types its field may have, and whether its path may cross lists (its
values are then summed: every price of every flight, every line's quantity)."""



def role_problem(spec: KindSpec, role: str) -> str | None:
    """Why the declared kind ``spec`` cannot give ``role`` to a check, or None."""
    path = spec.roles.get(role)
    if path is None:
        return f"`{spec.name}` declares no role `{role}`"
    tp = resolve(spec.fields, path)
    kinds, sums = ROLE_TYPES[role]
    if tp is None:
        return f"`{spec.name}`: role `{role}` names `{path}`, which is not a field"
    if tp.kind not in kinds:
        return f"`{spec.name}`: role `{role}` names `{path}`, {an(tp.kind)}, not {' or '.join(kinds)}"
    if not sums and any(s in ("[]", "{}") for s in leaf_steps(spec.fields, path)):
        return f"`{spec.name}`: role `{role}` names `{path}`, inside a list or map: it must be one value"
    if role == "confidence" and (tp.minimum is None or tp.maximum is None or tp.minimum < 0 or tp.maximum > 1):
        return f"`{spec.name}`: role `confidence` names `{path}`, which must be declared `{{decimal: {{min: 0, max: 1}}}}`"
    if role == "lines" and (tp.of is None or tp.of.kind != "record"):
        return f"`{spec.name}`: role `lines` names `{path}`, which must be a list of records"
    return None


def an(word: str) -> str:
    """``word`` with its indefinite article (``an int``, ``a money``)."""
    return f"{'an' if word[:1] in 'aeiou' else 'a'} {word}"


def has_roles(*roles: str) -> Any:
    """The ``declared`` predicate of a check that reads every one of ``roles``."""
    return lambda spec: all(role_problem(spec, r) is None for r in roles)


def has_any_role(*roles: str) -> Any:
    """The ``declared`` predicate of a check that reads at least one of ``roles``."""
    return lambda spec: any(role_problem(spec, r) is None for r in roles)


# -- reading the intent ------------------------------------------------------------------------------

def role_steps(spec: KindSpec, role: str) -> tuple[str, ...]:
    return leaf_steps(spec.fields, spec.roles[role])


def values_at(value: Any, steps: tuple[str, ...]) -> list[Any]:
    """Every value at a leaf path; an absent one (an optional field, None) is None."""
    return [v for _, v in walk(value, steps, absent=True)]


def role_value(ctx: Ctx, spec: KindSpec, role: str) -> Any:
    """The intent's value of a one-value role (None when the optional field is absent), traced."""
    found = values_at(ctx.intent, role_steps(spec, role))
    return ctx.read(f"intent.{spec.roles[role]} ({role})", found[0] if len(found) == 1 else None)


def role_sum(ctx: Ctx, spec: KindSpec, role: str) -> Decimal | int | None:
    """The sum of a role's values (one value, or every value of a path through lists), traced; None
    when any of them is absent (an absent amount is never counted as nothing)."""
    steps = role_steps(spec, role)
    found = values_at(ctx.intent, steps)
    total: Decimal | int | None = None if any(v is None for v in found) else sum(found, Decimal(0) if role == "amount" else 0)
    summed = any(s in ("[]", "{}") for s in steps)
    return ctx.read(f"intent.{spec.roles[role]} ({role}{', summed' if summed else ''})", total)


def intent_currency(ctx: Ctx, spec: KindSpec, steps: tuple[str, ...]) -> str | None:
    """The currency of the amount at a leaf path of the intent (None: its currency field is absent)."""
    found = spec.currency_of(steps)
    if found is None:
        return ctx.policy.currency
    code, is_path = found
    if not is_path:
        return code
    values = values_at(ctx.intent, tuple(code.split(".")))
    return values[0] if len(values) == 1 and isinstance(values[0], str) else None


def request_currency(ctx: Ctx, field: str) -> str | None:
    """The currency of a money field of the request: the declared request's (its ``currency:`` code
    or path, else its ``currency`` field, else the policy's), or the shipped request's ``currency``."""
    domain: Domain = ctx.policy.domain
    req = ctx.request
    rtype = domain.request_type
    if rtype is None:
        return getattr(req, "currency", None) or ctx.policy.currency
    tp = rtype.fields[field]
    cur = tp.currency
    if cur is None and "currency" in rtype.fields and rtype.fields["currency"].kind == "currency":
        cur = "currency"
    if cur is None or (len(cur) == 3 and cur.isupper()):
        return cur or ctx.policy.currency
    values = values_at(req, tuple(cur.split(".")))
    return values[0] if len(values) == 1 and isinstance(values[0], str) else None


# -- reading the declared facts ----------------------------------------------------------------------

def record(ctx: Ctx, collection: str, key: Any) -> Mapping[str, Any] | None:
    """The record of a declared collection filed under ``key``: None when there is none; a key two
    records claim, a record whose ``key`` field says another key, or a value that is not a record,
    is a hole (MissingFact)."""
    coll = ctx.facts.raw().get(collection)
    if coll is None:
        return None
    if not isinstance(coll, Mapping):
        raise MissingFact(f"facts.{collection} is not a collection of records")
    rec = coll.get(key) if isinstance(key, (str, int)) and not isinstance(key, bool) else None
    if rec is MISSING:
        raise MissingFact(f"facts.{collection}[{key!r}] is ambiguous: two records claim that key")
    if rec is not None and not isinstance(rec, Mapping):
        raise MissingFact(f"facts.{collection}[{key!r}] is `{brief(rec)}`, not a record")
    decl = (ctx.policy.domain.facts or {}).get(collection) if ctx.policy.domain is not None else None
    field = decl.key if decl is not None else None
    if rec is not None and field is not None and field in rec and rec[field] != key:  # as a `when` lookup finds it
        raise MissingFact(f"facts.{collection}[{key!r}] is ambiguous: its `{field}` is `{brief(rec[field])}`")
    return rec


def fact_id(rec: Mapping[str, Any], collection: str, key: Any, field: str) -> str | int:
    """An id field of a trusted record (a string or an integer), or MissingFact."""
    value = rec.get(field)
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if value is None:
        raise MissingFact(f"facts.{collection}[{key!r}].{field} is not in the facts")
    raise MissingFact(f"facts.{collection}[{key!r}].{field} is `{brief(value)}`, not an id")


def fact_amount(rec: Mapping[str, Any], collection: str, key: Any, field: str) -> Decimal:
    """A money field of a trusted record, or MissingFact (absent, not an amount, negative)."""
    return _amount(rec.get(field), f"facts.{collection}[{key!r}]", field)


def fact_currency(ctx: Ctx, tp: FieldType | None, rec: Mapping[str, Any], field: str) -> str | None:
    """The currency of a declared money field of a fact record (its code, its record's currency field,
    else the policy's); None when the record's currency field is absent or not a code."""
    cur = tp.fields[field].currency if tp is not None and field in tp.fields else None
    if cur is None and tp is not None and "currency" in tp.fields and tp.fields["currency"].kind == "currency":
        cur = "currency"
    if cur is None or (len(cur) == 3 and cur.isupper()):
        return cur or ctx.policy.currency
    value: Any = rec
    for part in cur.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value if isinstance(value, str) else None
