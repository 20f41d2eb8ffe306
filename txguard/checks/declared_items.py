"""The built-in checks of what is acted on, on declared intent kinds: ``item_exists`` and
``catalog_price`` through a declared lookup, ``quantity`` and ``ambiguity`` through roles.

As in :mod:`txguard.checks.declared`: each function is the declared-kind branch of the check of the
same name, each ``*_problems`` function its load-time validation. See ``docs/declared-checks.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..core.errors import MissingFact
from ..core.money import format_amount
from ..domain.declare import resolve
from .ctx import Ctx
from .declared import Problems, collection_field, collection_problem, declared_kinds, only_declared, only_shipped
from .roles import fact_amount, fact_currency, intent_currency, record, role_problem, role_steps, role_sum, role_value, values_at

if TYPE_CHECKING:
    from ..domain.domain import Domain, KindSpec

# -- the catalog: a declared lookup ------------------------------------------------------------------


def _line_list(ctx: Ctx, spec: KindSpec) -> list[Any]:
    """The elements of the ``lines`` role (a list of records; an absent list has none)."""
    found = values_at(ctx.intent, role_steps(spec, "lines"))
    value = found[0] if len(found) == 1 else None
    return list(value or ())


def _lookup(ctx: Ctx, params: Any, line: Any) -> tuple[Any, Mapping[str, Any] | None]:
    """(the line's key, the record of the collection filed under it, or None)."""
    key = getattr(line, params["key"], None)
    return key, None if key is None else record(ctx, params["collection"], key)


def item_exists(ctx: Ctx, spec: KindSpec, params: Any) -> str | None:
    """Fires when a line's ``key`` is absent or not a record of ``facts.<collection>``."""
    coll = params["collection"]
    found = [_lookup(ctx, params, line) for line in _line_list(ctx, spec)]
    if ctx.reads is not None:
        ctx.read("lines", [{params["key"]: k, f"in facts.{coll}": r is not None} for k, r in found])
    bad = [str(k) for k, r in found if r is None]
    if bad:
        return f"{params['key']} {', '.join(bad)} is not in facts.{coll}"
    return None


def catalog_price(ctx: Ctx, spec: KindSpec, params: Any) -> str | None:
    """Fires when a line's ``price`` differs from the ``fact_price`` of its record in ``facts.<collection>``,
    or is in another currency; a line not in the collection is a missing fact (its price is unknown)."""
    coll, price, fact_price = params["collection"], params["price"], params["fact_price"]
    steps = role_steps(spec, "lines") + ("[]", price)
    currency = ctx.read("line currency", intent_currency(ctx, spec, steps))
    domain: Domain = ctx.policy.domain
    rtype = domain.facts[coll].record if domain.facts is not None and coll in domain.facts else None
    rows: list[dict[str, Any]] | None = ctx.read("lines", []) if ctx.reads is not None else None
    for line in _line_list(ctx, spec):
        key, rec = _lookup(ctx, params, line)
        if rec is None:
            raise MissingFact(f"facts.{coll}[{key!r}] is not in the facts: its price is unknown")
        trusted = fact_amount(rec, coll, key, fact_price)
        tcur = fact_currency(ctx, rtype, rec, fact_price)
        stated = getattr(line, price, None)
        if rows is not None:
            rows.append({params["key"]: key, "agent price": stated, "facts price": trusted, "facts currency": tcur})
        if tcur is None:
            raise MissingFact(f"facts.{coll}[{key!r}]: the currency of `{fact_price}` is not in the facts")
        if currency is None or stated is None:
            return f"{key}: the line has no price{'' if stated is None else ' currency'} to compare"
        if tcur != currency:
            return f"{key}: the line is in {currency}; facts.{coll} prices it in {tcur}"
        if stated != trusted:
            return (f"{key}: the agent says {format_amount(stated, currency)}, "
                    f"facts.{coll} says {format_amount(trusted, currency)}")
    return None


def _lookup_problems(raw: Mapping[str, Any], domain: Domain | None, kinds: tuple[str, ...],
                     price: bool) -> Problems:
    keys = ("collection", "key") + (("price", "fact_price") if price else ())
    out = only_declared(raw, keys, domain, kinds)
    specs = declared_kinds(domain, kinds)
    if domain is None or not specs:
        return out
    missing = [k for k in keys[: 3 if price else 2] if k not in raw]
    if missing:
        return out + [(("params",), f"on a declared kind, give {', '.join(f'`{k}`' for k in missing)}")]
    coll, key = raw["collection"], raw["key"]
    why = collection_problem(domain, coll)
    if why is not None:
        return out + [(("params", "collection"), why)]
    if price:
        field = raw.get("fact_price", raw["price"])
        why = collection_field(domain, coll, field, ("money",))
        if why is not None:
            out.append((("params", "fact_price" if "fact_price" in raw else "price"), why))
    for spec in specs:
        problem = role_problem(spec, "lines")
        if problem is not None:
            out.append((("kinds",), problem))
            continue
        line = resolve(spec.fields, spec.roles["lines"])
        rec = line.of if line is not None else None
        fields = rec.fields if rec is not None else {}
        if key not in fields or fields[key].kind not in ("id", "string", "int"):
            out.append((("params", "key"), f"`{key}` is not an id field of `{spec.name}`'s lines"))
        if price and (raw["price"] not in fields or fields[raw["price"]].kind != "money"):
            out.append((("params", "price"), f"`{raw['price']}` is not a money field of `{spec.name}`'s lines"))
    return out


def item_exists_problems(params: Any, raw: Mapping[str, Any], domain: Domain | None, kinds: tuple[str, ...]) -> Problems:
    return _lookup_problems(raw, domain, kinds, price=False)


def catalog_price_problems(params: Any, raw: Mapping[str, Any], domain: Domain | None, kinds: tuple[str, ...]) -> Problems:
    return _lookup_problems(raw, domain, kinds, price=True) + only_shipped(raw, ("compare_title",), domain, kinds)


# -- what the user asked for -------------------------------------------------------------------------

def quantity(ctx: Ctx, spec: KindSpec, params: Any) -> str | None:
    """Fires when the request gives a ``quantity`` and the ``quantity`` role (summed) differs."""
    want = ctx.read("request.quantity", getattr(ctx.request, "quantity", None))
    if want is None:
        return None
    got = role_sum(ctx, spec, "quantity")
    if got is None:
        return f"the intent names no quantity (`{spec.roles['quantity']}` is absent)"
    if got != want:
        return f"the intent is for {got}; the user asked for {want}"
    return None


def ambiguity(ctx: Ctx, spec: KindSpec, params: Any) -> str | None:
    """Fires when the ``confidence`` role is below ``min_confidence`` (absent counts as unsure), or the
    ``candidates`` role lists more than ``max_alternatives`` other options."""
    floor = ctx.read("min_confidence", params["min_confidence"])
    if floor is not None:
        conf = role_value(ctx, spec, "confidence")
        if conf is None or conf < floor:
            return f"the agent's confidence {conf if conf is not None else 'was not given'} is below {floor}"
    limit = ctx.read("max_alternatives", params["max_alternatives"])
    if limit is not None:
        alts = role_value(ctx, spec, "candidates")
        n = ctx.read("candidates", len(alts or ()))
        if n > limit:
            return f"the agent weighed {n} other options: the choice is ambiguous"
    return None


def ambiguity_problems(params: Any, raw: Mapping[str, Any], domain: Domain | None, kinds: tuple[str, ...]) -> Problems:
    out = only_shipped(raw, ("required_options",), domain, kinds)
    for spec in declared_kinds(domain, kinds):
        for param, role in (("min_confidence", "confidence"), ("max_alternatives", "candidates")):
            why = role_problem(spec, role) if param in raw else None
            if why is not None:
                out.append((("params", param), why))
    return out
