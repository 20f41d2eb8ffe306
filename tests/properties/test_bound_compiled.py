"""A kind's compiled binder (``compile_bound``) gives exactly the reference ``bound_form``.

On random intents of every shipped kind and of declared kinds that use every type the binder
treats specially (money at a fixed currency, at the kind's currency field and at a nested currency
path; decimals; dates, datetimes in any offset, durations; unordered lists, nested and in a
``same_length`` group; maps; records with unbound nested fields; ``one_of``; ``any``), including
strings that need escaping and absent optional values: the same dict, with the same key order and
the same canonical text; and where the reference raises, the compiled binder raises the same.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from txguard.core.canonical import canonical_json
from txguard.domain.bind import bound_form, compile_bound
from txguard.domain.declare import FieldType
from txguard.domain.domain import KindSpec, shipped_specs
from txguard.domain.models import money_checker
from txguard.policy.compile import compile_policy

POLICY = """
apiVersion: txguard/v1
id: binder
version: "1"
currency: EUR
types:
  leg: {record: {code: id, at: datetime, price: money, note: optional string, tags: {list: string, unordered: true}}}
intents:
  trip:
    fields:
      currency: currency
      legs: {list: leg, min: 0, max: 4, unordered: true}
      seats: {list: string, unordered: true, max: 4}
      prices: {list: money, unordered: true, max: 4}
      fees: {map: {money: {currency: JPY}}}
      day: optional date
      wait: optional duration
      ratio: optional decimal
      extra: {one_of: [int, datetime, string], optional: true}
      blob: optional any
      who: {record: {name: string, secret: optional string, address: {record: {city: string, cur: currency, zip: optional string}}}}
      paid: {money: {currency: who.address.cur}, optional: true}
      confidence: {decimal: {min: 0, max: 1}, optional: true}
    unbound: [who.secret, legs.note]
    same_length: [[seats, prices]]
    roles: {confidence: confidence}
"""

text = st.text(alphabet=st.characters(codec="utf-8"), max_size=6) | st.sampled_from(['a"b', "\\", "é", "\u2028", "0"])
ids = text.filter(bool)
currencies = st.sampled_from(["USD", "EUR", "JPY", "KWD", "XXX"])
amounts = st.sampled_from(["0", "1", "12.5", "12.50", "0.001", "100", "7.25", "-1"]) | st.integers(0, 10**6).map(str)
datetimes = st.sampled_from(["2026-05-01T12:00:00Z", "2026-05-01T14:00:00+02:00", "2026-05-01T12:00:00.000500-05:30",
                             "1999-12-31T23:59:59+14:00", "2026-05-01T12:00:00"])


def values(tp: FieldType, depth: int = 0) -> st.SearchStrategy[Any]:
    """Raw values for ``tp``: mostly valid ones, some not (the model refuses those)."""
    kind = tp.kind
    if kind == "money":
        strat: st.SearchStrategy[Any] = amounts
    elif kind == "decimal":
        strat = st.sampled_from(["0", "0.5", "0.50", "1", "1e-2", "0.1000"]) | st.decimals(0, 1, places=4).map(str)
    elif kind == "int":
        strat = st.integers(0, 10**6)
    elif kind in ("string", "id"):
        strat = ids
    elif kind == "bool":
        strat = st.booleans()
    elif kind == "currency":
        strat = currencies
    elif kind == "date":
        strat = st.sampled_from(["2026-05-01", "1999-12-31"])
    elif kind == "datetime":
        strat = datetimes
    elif kind == "duration":
        strat = st.sampled_from(["PT36H", "P1D", "PT0S", "P2W"])
    elif kind == "enum":
        strat = st.sampled_from(tp.values)
    elif kind == "one_of":
        strat = st.one_of([values(o, depth + 1) for o in tp.options])
    elif kind == "any":
        strat = st.none() | st.integers(-5, 5) | text | st.lists(st.integers(0, 3), max_size=2)
    elif kind == "list" and tp.of is not None:
        strat = st.lists(values(tp.of, depth + 1), max_size=3)
    elif kind == "map" and tp.of is not None:
        strat = st.dictionaries(ids, values(tp.of, depth + 1), max_size=3)
    elif kind == "record":
        strat = st.fixed_dictionaries({}, optional={n: values(f, depth + 1) for n, f in tp.fields.items()})
    else:
        strat = st.none()
    return strat | st.none() if tp.optional else strat


def _specs() -> list[KindSpec]:
    declared = compile_policy(POLICY, "binder.yaml").domain.specs
    return [*declared.values(), *shipped_specs().values()]


SPECS = _specs()


@st.composite
def intents(draw: st.DrawFn) -> tuple[KindSpec, BaseModel]:
    spec = draw(st.sampled_from(SPECS))
    raw = draw(st.fixed_dictionaries({}, optional={n: values(f) for n, f in spec.fields.fields.items()}))
    if spec.name in ("trip",):  # a group of one length, most of the time
        n = min(len(raw.get("seats") or ()), len(raw.get("prices") or ()))
        if raw.get("seats") is not None and raw.get("prices") is not None and draw(st.booleans()):
            raw["seats"], raw["prices"] = raw["seats"][:n], raw["prices"][:n]
    try:
        return spec, spec.model.model_validate({"kind": spec.name, **raw})
    except ValidationError:
        reject()


def outcome(fn: Any, intent: BaseModel) -> tuple[str, Any]:
    try:
        out = fn(intent)
    except Exception as exc:  # noqa: BLE001 - both must fail alike
        return "raised", (type(exc), str(exc))
    try:
        text = canonical_json(out)
    except Exception as exc:  # noqa: BLE001 - a bound form with no canonical text (junk input)
        text = f"{type(exc).__name__}: {exc}"
    return "bound", (out, list(out), text)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(intents())
def test_compiled_binder_equals_bound_form(case: tuple[KindSpec, BaseModel]) -> None:
    spec, intent = case
    assert outcome(compile_bound(spec), intent) == outcome(lambda i: bound_form(spec, i), intent)
    assert outcome(spec.bound, intent) == outcome(lambda i: bound_form(spec, i), intent)


def test_the_trip_kind_covers_what_it_claims() -> None:
    """The declared kind above has every special branch (a change to the policy must not drop one)."""
    trip = next(s for s in SPECS if s.name == "trip")
    kinds = {f.kind for f in trip.fields.fields.values()}
    assert {"money", "decimal", "date", "duration", "list", "map", "record", "one_of", "any"} <= kinds
    assert trip.same_length and trip.unbound and any(is_path for _, _, is_path in trip.money)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(SPECS), st.one_of(st.none(), st.integers(), text, st.builds(object)))
def test_a_value_of_the_wrong_shape_fails_alike(spec: KindSpec, junk: Any) -> None:
    """An object that is not the kind's model (a misuse): both read the same attributes and fail alike."""

    class Junk:
        def __getattr__(self, name: str) -> Any:
            return junk

    assert outcome(compile_bound(spec), Junk()) == outcome(lambda i: bound_form(spec, i), Junk())


odd_amounts = st.sampled_from([Decimal("1.234"), Decimal("1.5"), Decimal("7"), Decimal("0.001"), "1.234", 3, None])


def _odd(tp: FieldType) -> st.SearchStrategy[Any]:
    """Values the model would not let through, to reach every failure of the after-validator."""
    if tp.kind == "money":
        return odd_amounts
    if tp.kind == "currency":
        return st.sampled_from(["USD", "JPY", "KWD", "XXX", 5, None])
    if tp.kind == "list" and tp.of is not None:
        return st.lists(_odd(tp.of), max_size=3)
    if tp.kind == "map" and tp.of is not None:
        return st.dictionaries(st.sampled_from(["a", "b"]), _odd(tp.of), max_size=2)
    if tp.kind == "record":
        return st.fixed_dictionaries({}, optional={n: _odd(f) for n, f in tp.fields.items()})
    return st.none()


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_compiled_money_checker_equals_the_reference(data: st.DataObject) -> None:
    """The kind's after-validator, compiled, raises exactly when and what the reference raises."""
    spec = data.draw(st.sampled_from([s for s in SPECS if s.money or s.same_length]))
    raw = data.draw(st.fixed_dictionaries({}, optional={n: _odd(f) for n, f in spec.fields.fields.items()}))
    model = spec.model.model_construct(**raw)  # unvalidated: the checker sees anything
    money, same = list(spec.money), [list(g) for g in spec.same_length]
    fast, reference = money_checker(money, same), money_checker(money, same, compiled=False)
    assert fast is not None and reference is not None
    assert outcome_of(fast, model) == outcome_of(reference, model)


def outcome_of(check: Any, model: BaseModel) -> tuple[str, Any]:
    try:
        check(model)
    except Exception as exc:  # noqa: BLE001 - both must fail alike
        return "raised", (type(exc).__name__, str(exc))
    return "passed", None
