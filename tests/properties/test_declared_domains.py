"""Properties of declared domains (issue 11): consent binds every field of a declared kind, arithmetic
on declared numbers is exact, ill-typed paths and literals are located load errors, and the same
instant written in any UTC offset decides the same."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from txguard import Guard, PolicyError, intent_digest, compile_policy as compile_text
from txguard.core.context import Proposal
from txguard.core.jsonio import read_json
from txguard.domain.domain import kind_spec

from .domain_strategies import (
    Num, Ty, decl, dump, instants, kinds, mutate_record, offsets, record, record_paths, written,
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
SESSION = {"authenticated_user_id": "u1"}
LOCATED = re.compile(r"^p\.yaml:\d+:\d+: ", re.M)


def policy_text(fields: dict[str, Any], *, unbound: list[str] = (), rules: str = "", top: str = "",  # type: ignore[assignment]
                currency: str = "USD") -> str:
    kind = {"fields": fields, **({"unbound": list(unbound)} if unbound else {})}
    return (f"apiVersion: txguard/v1\nid: p\nversion: 1\ncurrency: {currency}\n"
            f"intents:\n  k: {json.dumps(kind, ensure_ascii=False)}\n{top}"
            "defaults: {k: allow}\ntools:\n  t: {intent: k}\n"
            "rules:\n  - {id: consent, check: consent}\n  - {id: auth, check: authentication}\n" + rules)


def intent_of(policy: Any, args: str) -> Any:
    return policy.to_intent(Proposal(name="t", arguments=args))


def decide(policy: Any, args: str, confirmed: list[dict[str, Any]] | None = None, **kw: Any) -> Any:
    """A decision by a fresh guard (a confirmation allowed once is not consumed for the next check)."""
    session = dict(SESSION, confirmed=confirmed or [])
    return Guard(policy, clock=lambda: NOW).check({"name": "t", "arguments": args}, session=session, **kw)


# -- 1. consent binds every field ------------------------------------------------------------------------

@st.composite
def declared_cases(draw: st.DrawFn) -> tuple[Any, str, str, bool]:
    """A compiled policy with one random declared kind, a valid intent, a mutation of it, and whether
    the mutation is still the confirmed action."""
    fields, has_currency = draw(kinds())
    all_fields: dict[str, Ty] = {**fields, **({"currency": Ty("currency")} if has_currency else {})}
    unbound = draw(st.lists(st.sampled_from(record_paths(fields)), max_size=2, unique=True))
    currency = draw(st.sampled_from(["USD", "JPY", "KWD"])) if has_currency else "USD"
    args = record(draw, fields, currency)
    if has_currency:
        args["currency"] = currency
    mutated, same = mutate_record(draw, all_fields, args, currency, frozenset(unbound))
    policy = compile_text(policy_text({n: decl(t) for n, t in all_fields.items()}, unbound=unbound), file="p.yaml")
    return policy, dump(args), dump(mutated), same


@settings(SETTINGS, max_examples=80)
@given(declared_cases(), st.booleans())
def test_consent_binds_every_field_of_a_declared_kind(case: tuple[Any, str, str, bool], by_digest: bool) -> None:
    policy, args, mutated, same = case
    event("the same action" if same else "another action")
    unconfirmed = decide(policy, args)
    assert unconfirmed.outcome.value == "clarify" and unconfirmed.codes == ("consent",), unconfirmed.reasons
    assert unconfirmed.confirmation is not None and unconfirmed.confirmation.kind == "k"
    spec = kind_spec(intent_of(policy, args))  # the screen shows every bound field
    assert spec is not None and spec is policy.domain.specs["k"]
    assert set(unconfirmed.confirmation.summary) - {"kind"} == set(spec.fields.fields) - set(spec.unbound)
    confirmed = ([{"digest": unconfirmed.confirmation.digest}] if by_digest
                 else [{"name": "t", "arguments": read_json(args)}])  # numbers keep their text
    first = decide(policy, args, confirmed)
    assert first.outcome.value == "allow", first.reasons
    second = decide(policy, mutated, confirmed)
    if same:
        assert second.outcome.value == "allow", (args, mutated, second.reasons)
    else:
        assert second.outcome.value != "allow", (args, mutated)
        assert second.codes == ("consent",), second.reasons


# -- 2. exact arithmetic -------------------------------------------------------------------------------------

DECIMALS = st.builds(lambda n, places: Decimal(n).scaleb(-places), st.integers(-10**12, 10**12), st.integers(0, 12))
EXACT = compile_text(policy_text(
    {"a": "decimal", "b": "decimal", "c": "decimal", "m": "money", "q": {"int": {"min": 0, "max": 1000}},
     "xs": {"list": "decimal", "max": 5}, "total": "money"},
    rules=("  - {id: sum-ab, kinds: [k], when: {value: {add: [intent.a, intent.b]}, eq: {path: intent.c}}, outcome: escalate}\n"
           "  - {id: line, kinds: [k], when: {value: {mul: [intent.m, intent.q]}, eq: {path: intent.total}}, outcome: clarify}\n"
           "  - {id: sum-xs, kinds: [k], when: {value: {sum: intent.xs}, eq: {path: intent.c}}, outcome: escalate}\n")),
    file="p.yaml")


def as_number(d: Decimal) -> Num:
    return Num(format(d, "f"))


@SETTINGS
@given(DECIMALS, DECIMALS, st.booleans(), st.integers(0, 10**6), st.integers(0, 1000), st.lists(DECIMALS, max_size=5))
def test_arithmetic_on_declared_numbers_is_exact(a: Decimal, b: Decimal, off: bool, cents: int, q: int,
                                                  xs: list[Decimal]) -> None:
    c = a + b + (Decimal("1e-12") if off else 0)
    m = Decimal(cents).scaleb(-2)
    args = {"a": as_number(a), "b": as_number(b), "c": as_number(c), "m": as_number(m), "q": q,
            "xs": [as_number(x) for x in xs], "total": format(m * q, "f")}
    assert _no_float(intent_of(EXACT, dump(args)))
    d = decide(EXACT, dump(args))
    fired = {r.rule for r in d.reasons}
    assert ("sum-ab" in fired) == (not off)
    assert "line" in fired  # money x quantity == the total, exactly
    assert ("sum-xs" in fired) == (sum(xs, Decimal(0)) == c)


def test_point_one_plus_point_two_is_point_three() -> None:
    d = decide(EXACT, '{"a": 0.1, "b": 0.2, "c": 0.3, "m": 0.1, "q": 3, "xs": [], "total": 0.3}')
    assert {r.rule for r in d.reasons} - {"consent"} == {"sum-ab", "line"}


@SETTINGS
@given(st.text("0123456789", min_size=1, max_size=30), st.text("0123456789", min_size=1, max_size=30))
def test_json_numbers_are_read_from_their_text(whole: str, frac: str) -> None:
    text = f"{int(whole)}.{frac}"
    intent = intent_of(EXACT, '{"a": %s, "b": 0, "c": 0, "m": 0, "q": 0, "xs": [%s], "total": 0}' % (text, text))
    assert intent.a == Decimal(text) and intent.xs == (Decimal(text),)
    assert _no_float(intent)


def _no_float(v: Any) -> bool:
    if isinstance(v, float):
        return False
    if isinstance(v, BaseModel):
        return all(_no_float(getattr(v, n)) for n in type(v).model_fields)
    if isinstance(v, (list, tuple)):
        return all(_no_float(x) for x in v)
    if isinstance(v, dict):
        return all(_no_float(x) for x in v.values())
    return True


# -- 3. ill-typed paths and literals are located load errors ------------------------------------------------

TYPED = {"m": "money", "i": {"int": {"min": 0, "max": 9}}, "d": "date", "t": "datetime", "s": "string", "b": "bool",
         "e": {"enum": ["economy", "business", "café"]}, "r": {"record": {"x": "int", "y": {"list": "id"}}},
         "l": {"list": {"record": {"p": "money", "c": {"enum": ["a", "b"]}}}}, "mp": {"map": "decimal"}}
FACTS = "facts:\n  acc: {key: id, record: {id: id, bal: money, at: datetime, tags: {list: string}}}\n"
SCALAR_PATHS = ["intent.m", "intent.i", "intent.d", "intent.t", "intent.s", "intent.b", "intent.e", "intent.r.x",
                "'intent.l[0].p'", "'intent.mp[k]'", "'facts.acc[intent.s].bal'", "'facts.acc[intent.s].at'"]


@st.composite
def ill_typed_paths(draw: st.DrawFn) -> str:
    name = draw(st.from_regex(r"\A[a-z][a-z0-9_]{0,6}\Z"))
    scalar = draw(st.sampled_from(SCALAR_PATHS)).strip("'")
    return draw(st.sampled_from([
        f"intent.{name}_nope",                                   # a field not declared
        f"intent.r.{name}_nope",                                 # ... in a nested record
        f"'intent.l[0].{name}_nope'",                            # ... in a list's records
        f"'{scalar}.{name}'",                                    # a step into a scalar
        f"'{scalar}[0]'",                                        # an index on a scalar
        "'intent.r[0]'", f"'intent.r[{name}]'",                  # an index on a record
        f"'facts.{name}_nope[intent.s].bal'",                    # an undeclared fact collection
        f"'facts.acc[intent.s].{name}_nope'",                    # a field the collection's record does not declare
        f"'facts.acc[intent.s].tags.{name}'",                    # a field of a list
    ]))


@st.composite
def ill_typed_literals(draw: st.DrawFn) -> str:
    word = draw(st.text("abcxyzé ", min_size=1, max_size=8).filter(lambda w: w.strip() and w not in ("economy", "business", "café", "a", "b")))
    op = draw(st.sampled_from(["eq", "ne", "gt", "lt", "ge", "le"]))
    eq = draw(st.sampled_from(["eq", "ne"]))
    return draw(st.sampled_from([
        f"{{path: intent.m, {op}: {json.dumps(word)}}}",                   # a string against money
        f"{{path: intent.i, {op}: {json.dumps(word)}}}",                   # ... against an int
        f"{{path: 'facts.acc[intent.s].bal', {op}: {json.dumps(word)}}}",  # ... against a fact's amount
        f"{{path: intent.d, {op}: {json.dumps(word)}}}",                   # not a date
        f"{{path: intent.d, {op}: '2026-{draw(st.integers(13, 99))}-01'}}",
        f"{{path: intent.t, {op}: '2026-01-01T{draw(st.integers(24, 99))}:00:00Z'}}",
        f"{{path: intent.e, {eq}: {json.dumps(word)}}}",                   # an enum value not in the enum
        f"{{path: intent.e, in: [economy, {json.dumps(word)}]}}",
        f"{{path: 'intent.l[0].c', {eq}: {json.dumps(word)}}}",
        f"{{for_each: intent.l, as: x, any: {{path: x.c, {eq}: {json.dumps(word)}}}}}",
        f"{{path: intent.b, {eq}: {json.dumps(word)}}}",                   # a string against a bool
        f"{{path: intent.m, {op}: {{money: '1', currency: EUR}}}}",        # another currency
    ]))


def assert_located_error(when: str) -> None:
    rule = f"  - {{id: r, kinds: [k], when: {when}, outcome: escalate}}\n"
    with pytest.raises(PolicyError) as info:
        compile_text(policy_text(TYPED, top=FACTS, rules=rule), file="p.yaml")
    assert LOCATED.search(str(info.value)), str(info.value)
    assert all(LOCATED.match(line) for line in str(info.value).splitlines() if line.strip()), str(info.value)


@SETTINGS
@given(ill_typed_paths(), st.sampled_from(["{path: %s, exists: true}", "{value: {count: %s}, gt: 1}", "{path: %s, eq: 1}"]))
def test_every_ill_typed_path_is_a_located_load_error(path: str, form: str) -> None:
    assert_located_error(form % path)


@SETTINGS
@given(ill_typed_literals())
def test_every_ill_typed_literal_is_a_located_load_error(when: str) -> None:
    assert_located_error(when)


def test_the_well_typed_forms_load() -> None:
    # the control: the same paths and operators with literals of the right type
    rules = "".join(f"  - {{id: r{i}, kinds: [k], when: {w}, outcome: escalate}}\n" for i, w in enumerate([
        "{path: intent.m, gt: '10.50'}", "{path: intent.e, in: [economy, café]}", "{path: 'intent.l[0].c', eq: a}",
        "{path: intent.d, lt: '2026-12-31'}", "{path: 'facts.acc[intent.s].bal', gt: 5}", "{path: intent.b, eq: true}",
        "{path: intent.m, gt: {money: '1', currency: USD}}", "{value: {count: 'facts.acc[intent.s].tags'}, gt: 1}"]))
    compile_text(policy_text(TYPED, top=FACTS, rules=rules), file="p.yaml")


# -- 4. the same instant in any UTC offset -----------------------------------------------------------------

OFFSETS = compile_text(policy_text(
    {"at": "datetime", "rid": "id", "legs": {"list": {"dep": "datetime"}, "min": 1, "max": 3}},
    top="facts:\n  res: {key: id, record: {id: id, created_at: datetime}}\n",
    rules=("  - {id: late, kinds: [k], when: {path: intent.at, gt: {add: [now, {hours: 24}]}}, outcome: escalate}\n"
           "  - {id: old, kinds: [k], when: {path: 'facts.res[intent.rid].created_at', lt: {sub: [now, {days: 30}]}}, outcome: escalate}\n"
           "  - {id: order, kinds: [k], when: {path: 'intent.legs[0].dep', gt: {path: intent.at}}, outcome: escalate}\n")),
    file="p.yaml")


@SETTINGS
@given(instants(), st.lists(instants(), min_size=1, max_size=3), instants(), st.lists(offsets(), min_size=6, max_size=6))
def test_the_same_instants_in_other_offsets_decide_the_same(at: datetime, legs: list[datetime], created: datetime,
                                                            offs: list[timedelta]) -> None:
    def case(o: list[timedelta]) -> tuple[str, dict[str, Any]]:
        args = {"at": written(at, o[0]), "rid": "r1", "legs": [{"dep": written(x, o[1 + i % 3])} for i, x in enumerate(legs)]}
        return json.dumps(args), {"res": [{"id": "r1", "created_at": written(created, o[4])}]}

    (args1, facts1), (args2, facts2) = case(offs), case(list(reversed(offs)))
    d1, d2 = decide(OFFSETS, args1, facts=facts1), decide(OFFSETS, args2, facts=facts2)
    assert (d1.outcome, d1.codes) == (d2.outcome, d2.codes)
    assert intent_digest(intent_of(OFFSETS, args1)) == intent_digest(intent_of(OFFSETS, args2))
    both = decide(OFFSETS, args2, [{"name": "t", "arguments": read_json(args1)}], facts=facts2)
    assert "consent" not in both.codes  # the confirmation of one spelling binds the other


@SETTINGS
@given(instants())
def test_datetimes_without_an_offset_are_refused(at: datetime) -> None:
    naive = at.replace(tzinfo=None).isoformat()
    good = written(at, timedelta(0))
    d = decide(OFFSETS, json.dumps({"at": naive, "rid": "r1", "legs": [{"dep": good}]}), facts={"res": [{"id": "r1", "created_at": good}]})
    assert d.codes == ("malformed",)
    d = decide(OFFSETS, json.dumps({"at": good, "rid": "r1", "legs": [{"dep": good}]}), facts={"res": [{"id": "r1", "created_at": naive}]})
    assert d.outcome.value == "escalate" and "missing_fact" in d.codes
