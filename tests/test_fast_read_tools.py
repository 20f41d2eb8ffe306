"""``ToolMap.build``'s copy of arguments a mapping neither renames nor fixes, against the general
mapping (``ToolMap.map``) it skips: the same intent (value, types, fields set) or the same error.

Every tool of the shipped and example policies, and synthetic ones with required, ignored and dotted
required fields, on arguments built from the intent's own fields plus ``kind``, ignored names,
strangers, non-``str`` keys and junk values.
"""

from __future__ import annotations

from functools import lru_cache
from types import MappingProxyType
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from txguard import Guard
from txguard.core.intents import INTENT_MODELS, ReadOnly
from txguard.policy.tools import ProposalError, ToolMap, validation_summary

POLICIES = ("policies/retail.yaml", "policies/tau-retail.yaml", "policies/grocery/grocery.yaml",
            "policies/subscription/subscription.yaml")


@lru_cache(maxsize=None)
def tools() -> tuple[ToolMap, ...]:
    found = [t for path in POLICIES for t in Guard.from_file(path).policy.tools.values()]
    synthetic = [ToolMap(name="t1", kind="refund", required=("reason", "amount")),
                 ToolMap(name="t2", kind="checkout", ignore=frozenset({"note", "trace_id"}), required=("confidence",)),
                 ToolMap(name="t3", kind="modify_order_address", required=("address.city",)),
                 ToolMap(name="t4", kind="cancel_order", constants={"reason": "no longer needed"}),
                 ToolMap(name="t5", kind="no_such_kind"),
                 ToolMap(name="t6", kind="read"), ToolMap(name="t7", kind="cancel_order", ignore=frozenset({"reason"}))]
    return tuple(found + synthetic)


def reference_build(tool: ToolMap, arguments: Any) -> Any:
    """``build`` as it was: the general mapping, then the model."""
    if tool.kind == "read":
        return ReadOnly(tool=tool.name, arguments=dict(arguments))
    out = tool.map(arguments)
    try:
        return tool._model.model_validate(out)
    except Exception as exc:
        if type(exc).__name__ == "ValidationError":
            raise ProposalError("malformed", validation_summary(exc)) from None  # type: ignore[arg-type]
        raise


def outcome(build: Any, tool: ToolMap, arguments: Any) -> tuple[str, Any]:
    try:
        return "ok", build(tool, arguments)
    except ProposalError as exc:
        return "refused", (exc.code, exc.message)
    except Exception as exc:  # noqa: BLE001 - the same failure either way (e.g. an unknown kind)
        return "raised", (type(exc), str(exc))


junk = (st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.sampled_from(["1.10", "USD", "\ud800"])
        | st.lists(st.integers(), max_size=2) | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


def values_for(name: str) -> st.SearchStrategy[Any]:
    line = st.fixed_dictionaries({"sku": st.just("s1"), "product_id": st.just("p1"), "title": st.just("T"),
                                  "quantity": st.integers(0, 3), "unit_price": st.sampled_from(["1.00", "2.5", 3])})
    address = st.fixed_dictionaries({"address1": st.just("1 Road"), "city": st.sampled_from(["Paris", ""]),
                                     "state": st.just("S"), "country": st.just("FR"), "zip": st.just("1")})
    known = {"items": st.lists(line, max_size=2), "total": st.sampled_from(["2.00", "1.005", "0"]),
             "currency": st.sampled_from(["USD", "JPY", "XXX"]), "payment_method_id": st.sampled_from(["card_1", ""]),
             "confidence": st.sampled_from([0.5, None, 2, "0.9"]), "order_id": st.sampled_from(["#W1", ""]),
             "amount": st.sampled_from(["5.00", None]), "reason": st.sampled_from(["r", None]),
             "address": address, "item_ids": st.lists(st.just("i1"), max_size=2),
             "new_item_ids": st.lists(st.just("i2"), max_size=2), "kind": st.sampled_from(["checkout", "refund"])}
    return known.get(name, junk) | junk


@st.composite
def cases(draw: st.DrawFn) -> tuple[ToolMap, Any]:
    tool = draw(st.sampled_from(tools()))
    model = tool.model or INTENT_MODELS.get(tool.kind)
    names = sorted(model.model_fields) if model is not None else []
    pool = names + ["kind", "note", "trace_id", "stranger"] + sorted(tool.ignore)
    keys = draw(st.lists(st.sampled_from(pool), unique=True, max_size=len(pool)))
    arguments: dict[Any, Any] = {k: draw(values_for(k)) for k in keys}
    if draw(st.booleans()) and names:  # often a complete, valid-looking call
        arguments = {k: draw(values_for(k)) for k in names if k != "kind"} | arguments
    if draw(st.integers(0, 9)) == 0:
        arguments[draw(st.sampled_from([0, None, ("t",)]))] = 1
    wrap: Any = draw(st.sampled_from([dict, dict, dict, MappingProxyType]))
    return tool, wrap(arguments)


def same_intent(a: Any, b: Any) -> bool:
    return (type(a) is type(b) and a == b and a.model_fields_set == b.model_fields_set
            and list(a.__dict__) == list(b.__dict__)
            and [type(v) for v in a.__dict__.values()] == [type(v) for v in b.__dict__.values()]
            and repr(a) == repr(b))


@settings(max_examples=600, deadline=None)
@given(cases())
def test_build_is_the_general_mapping(case: tuple[ToolMap, Any]) -> None:
    tool, arguments = case
    got = outcome(ToolMap.build, tool, arguments)
    want = outcome(reference_build, tool, arguments)
    assert got[0] == want[0], (tool.name, arguments, got, want)
    assert same_intent(got[1], want[1]) if got[0] == "ok" else got[1] == want[1]


def test_the_copy_leaves_the_arguments_alone() -> None:
    tool = next(t for t in tools() if t.name == "t2")
    arguments = {"items": [{"sku": "s", "product_id": "p", "title": "t", "quantity": 1, "unit_price": "1.00"}],
                 "total": "1.00", "currency": "USD", "payment_method_id": "m", "confidence": 0.5}
    before = repr(arguments)
    intent = tool.build(arguments)
    assert repr(arguments) == before and "kind" not in arguments
    assert intent.model_fields_set == set(arguments) | {"kind"}


@lru_cache(maxsize=None)
def models() -> tuple[type[Any], ...]:
    from txguard.core.context import Confirmed, Proposal, Request, Session

    declared = [m for path in POLICIES for m in Guard.from_file(path).policy.domain.models.values()]
    return (Proposal, Request, Session, Confirmed, ReadOnly, *INTENT_MODELS.values(), *declared)


@st.composite
def model_inputs(draw: st.DrawFn) -> tuple[type[Any], Any]:
    model = draw(st.sampled_from(models()))
    pool = sorted(model.model_fields) + ["stranger", "token", "confirmed", "name", "budget"]
    keys = draw(st.lists(st.sampled_from(pool), unique=True, max_size=len(pool)))
    data = {k: draw(values_for(k)) for k in keys}
    if draw(st.booleans()):
        data = {k: draw(values_for(k)) for k in model.model_fields if k != "kind"} | data
    return model, draw(st.sampled_from([data, data, None, [data], "x", MappingProxyType(data)]))


@settings(max_examples=400, deadline=None)
@given(model_inputs())
def test_validate_is_model_validate(case: tuple[type[Any], Any]) -> None:
    """The read path calls each model's core validator directly: the same result or error as model_validate."""
    from txguard.core.context import validate

    model, data = case

    def direct(_: Any, value: Any) -> Any:
        return validate(model, value)

    def wrapped(_: Any, value: Any) -> Any:
        return model.model_validate(value)

    got, want = outcome(direct, tools()[0], data), outcome(wrapped, tools()[0], data)
    assert got[0] == want[0] and (same_intent(got[1], want[1]) if got[0] == "ok" else got[1] == want[1])


def test_validate_honours_a_model_validate_of_its_own(monkeypatch: Any) -> None:
    from txguard.core.context import Session, validate

    seen: list[Any] = []

    class Own(Session):
        @classmethod
        def model_validate(cls, obj: Any, **kw: Any) -> Any:
            seen.append(obj)
            return super().model_validate(obj, **kw)

    assert validate(Own, {"turn": 1}).turn == 1 and seen == [{"turn": 1}]
    def patched(cls: Any, /, obj: Any, **kw: Any) -> str:
        seen.append(obj)
        return "patched"

    monkeypatch.setattr(Session, "model_validate", classmethod(patched))
    assert validate(Session, {"turn": 2}) == "patched" and seen[-1] == {"turn": 2}
