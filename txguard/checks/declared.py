"""The built-in checks on declared intent kinds: what each reads through the kind's ``roles`` and the
declared facts and request, and what each requires of the policy at load.

Each function here is the declared-kind branch of the check of the same name (the check's module
calls it when the intent is of a declared kind); each ``*_problems`` function is the load-time
validation of that check's rule (``CheckSpec.validate``): a list of (key under the rule, message).
See ``docs/declared-checks.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..core.errors import MissingFact
from ..core.money import format_amount
from ..core.paths import MISSING
from .ctx import Ctx
from .roles import an, fact_id, intent_currency, record, request_currency, role_problem, role_steps, role_sum, role_value

if TYPE_CHECKING:
    from ..domain.domain import Domain, KindSpec

Problems = list[tuple[tuple[str, ...], str]]


def declared_kinds(domain: Domain | None, kinds: tuple[str, ...]) -> list[KindSpec]:
    """The declared kinds among ``kinds``."""
    return [] if domain is None else [domain.specs[k] for k in kinds if k in domain.specs]


def _shipped(domain: Domain | None, kinds: tuple[str, ...]) -> list[str]:
    return [k for k in kinds if domain is None or k not in domain.specs]


def only_declared(raw: Mapping[str, Any], keys: tuple[str, ...], domain: Domain | None,
                  kinds: tuple[str, ...]) -> Problems:
    """Params written for declared kinds on a rule that also applies to shipped kinds."""
    shipped = _shipped(domain, kinds)
    return [(("params", k), f"`{k}` applies to declared kinds only; this rule applies to {', '.join(shipped)} "
                            "(write one rule per family with `kinds:`)") for k in keys if k in raw and shipped]


def only_shipped(raw: Mapping[str, Any], keys: tuple[str, ...], domain: Domain | None,
                 kinds: tuple[str, ...]) -> Problems:
    """Params of the commerce catalog written on a rule that applies to declared kinds."""
    own = [s.name for s in declared_kinds(domain, kinds)]
    return [(("params", k), f"`{k}` applies to the shipped commerce kinds only; this rule applies to "
                            f"{', '.join(own)} (write one rule per family with `kinds:`)") for k in keys if k in raw and own]


def collection_problem(domain: Domain, collection: str) -> str | None:
    """Why ``facts.<collection>`` is not a declared collection whose records can be looked up, or None."""
    if domain.facts is None:
        return "the policy declares no `facts:` (declare the collection and its record)"
    coll = domain.facts.get(collection)
    if coll is None:
        return f"`{collection}` is not a declared facts collection (declared: {', '.join(sorted(domain.facts)) or 'none'})"
    if coll.key is None:
        return f"facts.{collection} declares no `key`: its records cannot be looked up"
    return None


def collection_field(domain: Domain, collection: str, field: str, types: tuple[str, ...]) -> str | None:
    """Why ``facts.<collection>[key].<field>`` is not a declared, keyed field of one of ``types``, or None."""
    why = collection_problem(domain, collection)
    if why is not None or domain.facts is None:
        return why
    tp = domain.facts[collection].record.fields.get(field)
    if tp is None:
        return f"`{field}` is not a field of a facts.{collection} record"
    if tp.kind not in types:
        return f"facts.{collection} `{field}` is {an(tp.kind)}, not {' or '.join(types)}"
    return None


# -- how much ----------------------------------------------------------------------------------------

def amount(ctx: Ctx, spec: KindSpec) -> tuple[Any, str | None, str | None]:
    """(the amount, its currency, why it cannot be judged): the ``amount`` role summed."""
    total = role_sum(ctx, spec, "amount")
    currency = ctx.read("currency", intent_currency(ctx, spec, role_steps(spec, "amount")))
    if total is None:
        return None, currency, f"the intent names no amount (`{spec.roles['amount']}` is absent)"
    if currency is None:
        return total, None, f"the currency of `{spec.roles['amount']}` is absent: the amount cannot be judged"
    return total, currency, None


def price_cap(ctx: Ctx, spec: KindSpec, params: Any) -> str | None:
    """Fires when the ``amount`` is over the cap of its currency, or no cap covers the currency."""
    total, currency, problem = amount(ctx, spec)
    if problem is not None or currency is None:
        return problem
    cap = params["max"].get(currency)
    ctx.read("cap", MISSING if cap is None else cap)
    if cap is None:
        return f"no price cap is configured for {currency}: amounts in it are not allowed"
    if total > cap:
        return f"amount {format_amount(total, currency)} is over the cap of {format_amount(cap, currency)}"
    return None


def budget(ctx: Ctx, spec: KindSpec, params: Any) -> str | None:
    """Fires when the request gives a ``budget`` and the ``amount`` is over it (or in another currency)."""
    limit = ctx.read("request.budget", getattr(ctx.request, "budget", None))
    if limit is None:
        return None
    total, currency, problem = amount(ctx, spec)
    if problem is not None or currency is None:
        return problem
    bcur = ctx.read("budget currency", request_currency(ctx, "budget"))
    if bcur != currency:
        return f"the budget is in {bcur or 'no currency'} and the amount in {currency}: they cannot be compared"
    if total > limit:
        return f"total {format_amount(total, currency)} is over the user's budget of {format_amount(limit, currency)}"
    return None


def request_problems(field: str, types: tuple[str, ...]) -> Any:
    """The validation of a check that reads ``request.<field>`` of a declared request."""
    def problems(params: Any, raw: Mapping[str, Any], domain: Domain | None, kinds: tuple[str, ...]) -> Problems:
        if not declared_kinds(domain, kinds) or domain is None or domain.request_type is None:
            return []
        tp = domain.request_type.fields.get(field)
        if tp is None:
            return [(("check",), f"reads `request.{field}`, which the policy's `request:` does not declare")]
        if tp.kind not in types:
            return [(("check",), f"reads `request.{field}`, declared {an(tp.kind)}, not {' or '.join(types)}")]
        return []
    return problems


def price_cap_problems(params: Any, raw: Mapping[str, Any], domain: Domain | None, kinds: tuple[str, ...]) -> Problems:
    return only_shipped(raw, ("per_category",), domain, kinds)


# -- who -----------------------------------------------------------------------------------------------

def ownership(ctx: Ctx, spec: KindSpec, params: Any) -> str | None:
    """Fires when the owner is not the authenticated user: the ``owner`` role of the intent, or, with
    ``collection``, the ``field`` of the trusted record the ``order`` role names."""
    me = ctx.read("authenticated user", ctx.session.authenticated_user_id)
    if me is None:
        return None
    coll = params.get("collection")
    if coll is None:
        owner = role_value(ctx, spec, "owner")
        if owner is None:
            return f"the intent names no owner (`{spec.roles['owner']}` is absent)"
        what = "the intent"
    else:
        key = role_value(ctx, spec, "order")
        if key is None:
            return f"the intent names no record (`{spec.roles['order']}` is absent)"
        rec = record(ctx, coll, key)
        if rec is None:
            raise MissingFact(f"facts.{coll}[{key!r}] is not in the facts: its owner is unknown")
        owner = ctx.read(f"facts.{coll}[{key!r}].{params['field']}", fact_id(rec, coll, key, params["field"]))
        what = f"facts.{coll}[{key!r}]"
    if owner != me:
        return f"{what} belongs to `{owner}`, not to the authenticated user `{me}`"
    return None


def ownership_problems(params: Any, raw: Mapping[str, Any], domain: Domain | None, kinds: tuple[str, ...]) -> Problems:
    out = only_declared(raw, ("collection", "field"), domain, kinds)
    if ("collection" in raw) != ("field" in raw):
        out.append((("params",), "`collection` and `field` are given together"))
    for spec in declared_kinds(domain, kinds):
        role = "order" if "collection" in raw else "owner"
        why = role_problem(spec, role)
        if why is not None:
            out.append((("kinds",), why + (" (with `collection`, the record is looked up by it)" if role == "order" else "")))
    if domain is not None and "collection" in raw and "field" in raw and declared_kinds(domain, kinds):
        coll_why = collection_problem(domain, raw["collection"])
        why = coll_why or collection_field(domain, raw["collection"], raw["field"], ("id", "string", "int"))
        if why is not None:
            out.append((("params", "collection" if coll_why else "field"), why))
    return out


def payment_method(ctx: Ctx, spec: KindSpec, params: Any) -> str | None:
    """Fires when the ``payment`` role is not one of the authenticated user's methods: a key of
    ``facts.<collection>[user].<field>`` (a map), or an element of it (a list of ids)."""
    pm = role_value(ctx, spec, "payment")
    if pm is None:
        return f"the intent names no payment method (`{spec.roles['payment']}` is absent)"
    me = ctx.read("authenticated user", ctx.session.authenticated_user_id)
    if me is None:
        raise MissingFact("no authenticated user: whose payment methods to check is unknown")
    coll, field = params.get("collection") or "users", params.get("field") or "payment_methods"
    rec = record(ctx, coll, me)
    if rec is None:
        raise MissingFact(f"user `{me}` is not in facts.{coll}: their payment methods are unknown")
    methods = rec.get(field)
    if isinstance(methods, Mapping):
        known = [str(k) for k in methods]
    elif isinstance(methods, (list, tuple)) and all(isinstance(m, str) for m in methods):
        known = list(methods)
    else:
        raise MissingFact(f"facts.{coll}[{me!r}].{field} is not in the facts" if methods is None
                          else f"facts.{coll}[{me!r}].{field} is not a map or a list of ids")
    ctx.read("user's methods", sorted(known))
    if pm not in known:
        return f"payment method `{pm}` is not one of user `{me}`'s"
    return None


def payment_problems(params: Any, raw: Mapping[str, Any], domain: Domain | None, kinds: tuple[str, ...]) -> Problems:
    out = only_declared(raw, ("collection", "field"), domain, kinds)
    if domain is None or not declared_kinds(domain, kinds):
        return out
    coll, field = raw.get("collection", "users"), raw.get("field", "payment_methods")
    if domain.facts is None:
        if (coll, field) != ("users", "payment_methods"):
            out.append((("params",), "the policy declares no `facts:`: only the commerce layout's "
                                     "users.payment_methods can be read"))
        return out
    coll_why = collection_problem(domain, coll)
    why = coll_why or collection_field(domain, coll, field, ("map", "list"))
    tp = None if why is not None else domain.facts[coll].record.fields[field]
    if tp is not None and tp.kind == "list" and (tp.of is None or tp.of.kind not in ("id", "string")):
        why = f"facts.{coll} `{field}` is a list of {tp.of}, not of ids"
    key = "collection" if coll_why else "field"
    if why is not None:
        out.append((("params", key) if key in raw else ("params",), why))
    return out
