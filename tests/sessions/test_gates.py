"""txguard's own session-rule evaluator settles most decisions by compiled gates (``_gates``); it
must answer exactly as the reference evaluation (``_rules.reference``: ``fire_all`` with
``own_hit``), the same reasons with the same messages, or the same exception.

Random rules of every form (with and without windows, ``where`` on every field, runs in a row,
sums in two currencies, both sequences), and random events: any order of ``seq`` and time (the
future too), missing fields, other kinds, and events a tampered store could hand back (a float
or NaN time, a list where a text belongs, an amount that is not an int).
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from txguard.core.decision import Outcome
from txguard.policy.session import SessionPolicy, SessionRule, compile_session
from txguard.sessions import Event, OwnEvaluator
from txguard.sessions._gates import _always, gate
from txguard.sessions._rules import reference

NOW = 10_000_000_000
KINDS = ["checkout", "checkout", "add_to_cart", None]
TEXT = ["a", "b", "c", None]

durations = st.one_of(st.none(), st.sampled_from(["1s", "30s", "5m", "1h", "1d"]))
where_values = st.dictionaries(
    st.sampled_from(["type", "kind", "outcome", "tool", "payment_method", "merchant", "currency", "user", "digest"]),
    st.one_of(st.sampled_from(["decision", "confirmation", "checkout", "allow", "clarify", "escalate", "a", "b"]),
              st.lists(st.sampled_from(["decision", "confirmation", "checkout", "add_to_cart", "allow", "clarify",
                                        "escalate", "a", "b", "USD"]), min_size=1, max_size=3)),
    max_size=3)


@st.composite
def raw_rules(draw: Any) -> dict[str, Any]:
    form = draw(st.sampled_from(["count", "distinct", "sum", "sequence"]))
    within = draw(durations)
    spec: dict[str, Any] = {} if within is None else {"within": within}
    if form == "sequence":
        spec["pattern"] = draw(st.sampled_from(["changed_after_confirmation", "retry_after_escalation"]))
    else:
        spec["where"] = draw(where_values)
    if form == "count":
        spec["at_least"] = draw(st.integers(1, 4))
        spec["in_a_row"] = draw(st.booleans())
    elif form == "distinct":
        spec["field"] = draw(st.sampled_from(["payment_method", "merchant", "kind", "user", "digest"]))
        spec["at_least"] = draw(st.integers(1, 3))
    elif form == "sum":
        spec.update(field="amount", currency=draw(st.sampled_from(["USD", "EUR"])),
                    more_than=draw(st.sampled_from(["0.00", "5.00", "20.00"])))
    return {"id": f"r{draw(st.integers(0, 10**6))}", form: spec,
            "outcome": draw(st.sampled_from(["clarify", "escalate"]))}


@st.composite
def policies(draw: Any) -> SessionPolicy:
    raws = draw(st.lists(raw_rules(), min_size=1, max_size=4, unique_by=lambda r: r["id"]))
    problems: list[Any] = []
    sp = compile_session({"rules": raws}, set(), lambda *a: problems.append(a))
    odd = draw(st.lists(st.sampled_from(["no-type", "bad-field"]), max_size=1))
    extra = tuple(SessionRule(id=f"z-{o}", form="count", where=(() if o == "no-type" else (("nope", frozenset("a")),)),
                              within_us=None, in_a_row=o == "no-type", at_least=1, field=None, currency=None,
                              limit_minor=0, pattern=None, code="z", outcome=Outcome.ESCALATE, route="human",
                              message=None, question=None, spec="") for o in odd)
    return SessionPolicy(sp.rules + extra, (), False)


def _at() -> Any:
    return st.one_of(st.integers(NOW - 90_000_000_000, NOW + 5_000_000),
                     st.sampled_from([NOW, NOW - 1_000_000, NOW - 30_000_000, NOW - 300_000_000, NOW - 299_999_999]))


@st.composite
def events(draw: Any, seq: int | None = None, tampered: bool = False) -> Event:
    at: Any = draw(_at())
    payment: Any = draw(st.sampled_from(TEXT))
    amount: Any = draw(st.one_of(st.none(), st.integers(0, 3000)))
    if tampered:
        choice = draw(st.integers(0, 5))
        if choice == 0:
            at = draw(st.sampled_from([float("nan"), 1.5, float(NOW)]))
        elif choice == 1:
            payment = ["a"]  # unhashable: the reference raises (TypeError) where it reads it
        elif choice == 2:
            amount = draw(st.sampled_from([1.5, "7", True]))
    return Event(seq=seq if seq is not None else draw(st.integers(0, 8)),
                 type=draw(st.sampled_from(["decision", "decision", "confirmation", "other"])),
                 at_us=at, kind=draw(st.sampled_from(KINDS)),
                 tool=draw(st.sampled_from(TEXT)),
                 outcome=draw(st.sampled_from(["allow", "clarify", "escalate", "escalate", None])),
                 digest=draw(st.sampled_from(["d1", "d2", None])), payment_method=payment,
                 merchant=draw(st.sampled_from(TEXT)), currency=draw(st.sampled_from(["USD", "EUR", None])),
                 user=draw(st.sampled_from(TEXT)), amount_minor=amount)


def _outcome(fn: Any) -> Any:
    try:
        return ("ok", fn())
    except Exception as exc:  # noqa: BLE001 - compared: the same exception, worded the same
        return ("raised", type(exc).__name__, str(exc))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sp=policies(), log=st.lists(events(), max_size=12), current=events(seq=99),
       tampered=st.lists(events(tampered=True), max_size=2), where=st.integers(0, 12))
def test_the_gated_evaluator_answers_as_the_reference(sp: SessionPolicy, log: list[Event], current: Event,
                                                      tampered: list[Event], where: int) -> None:
    log = log[:where] + tampered + log[where:]
    own = OwnEvaluator()
    want = _outcome(lambda: reference(sp, log, current, NOW))
    assert _outcome(lambda: own.evaluate(sp, log, current, NOW)) == want
    assert _outcome(lambda: own.evaluate(sp, log, current, NOW)) == want  # the gates, cached
    # a gate may say "could fire" needlessly, never "cannot" when the rule fires or fails
    compiled = [gate(r, sp) for r in sp.rules]
    says = [_outcome(lambda g=g: g(log, current, NOW)) for g in compiled]
    if all(s == ("ok", False) for s in says):
        assert want == ("ok", [])


@settings(max_examples=300, deadline=None)
@given(sp=policies(), log=st.lists(events(), max_size=12), current=events(seq=99))
def test_a_rule_that_fires_is_gated_open(sp: SessionPolicy, log: list[Event], current: Event) -> None:
    for rule in sp.rules:
        alone = SessionPolicy((rule,), (), False)
        fired = _outcome(lambda a=alone: reference(a, log, current, NOW))
        if fired != ("ok", []):
            assert _outcome(lambda r=rule: gate(r, sp)(log, current, NOW)) != ("ok", False)


def test_rules_the_gates_do_not_know_always_go_to_the_reference() -> None:
    odd = SessionRule(id="x", form="count", where=(("nope", frozenset("a")),), within_us=None, in_a_row=False,
                      at_least=1, field=None, currency=None, limit_minor=0, pattern=None, code="x",
                      outcome=Outcome.ESCALATE, route="human", message=None, question=None, spec="")
    sp = SessionPolicy((odd,), (), False)
    assert gate(odd, sp) is _always
    current = Event(seq=0, type="decision", at_us=NOW)
    want = _outcome(lambda: reference(sp, [], current, NOW))
    assert want[:2] == ("raised", "AttributeError")  # an event has no field `nope`
    assert _outcome(lambda: OwnEvaluator().evaluate(sp, [], current, NOW)) == want


def _rule(form: str, **spec: Any) -> SessionPolicy:
    problems: list[Any] = []
    sp = compile_session({"rules": [{"id": "r", form: spec}]}, set(), lambda *a: problems.append(a))
    assert not problems and len(sp.rules) == 1
    return sp


def _ev(seq: int, **kw: Any) -> Event:
    return Event(**{"seq": seq, "type": "decision", "at_us": NOW - 1_000_000, "kind": "checkout", "outcome": "allow",
                    "digest": "d1", "payment_method": "a", "currency": "USD", "amount_minor": 1000, **kw})


FIRING = [
    (_rule("count", where={"kind": "checkout"}, within="5m", at_least=3), [_ev(0), _ev(1)]),
    (_rule("count", where={"kind": "checkout"}, within="5m", at_least=2), [_ev(0, at_us=float("nan"))]),
    (_rule("count", where={"outcome": "clarify"}, in_a_row=True, at_least=3),
     [_ev(0, outcome="clarify"), _ev(1, outcome="clarify")]),
    (_rule("distinct", field="payment_method", within="1h", at_least=2), [_ev(0, payment_method="b")]),
    (_rule("sum", field="amount", currency="USD", more_than="15.00", within="1d"), [_ev(0)]),
    (_rule("sequence", pattern="changed_after_confirmation", within="1h"),
     [_ev(0, type="confirmation", digest="d2"), _ev(1, type="confirmation", digest="d2")]),
    (_rule("sequence", pattern="retry_after_escalation", within="10m"), [_ev(0, outcome="escalate")]),
]


def test_every_form_fires_through_its_gate() -> None:
    """A rule of each form that fires on these events: its gate opens, and the reason is the reference's."""
    current = _ev(9, at_us=NOW, outcome="clarify")
    for sp, log in FIRING:
        want = reference(sp, log, current, NOW)
        assert want and want[0].rule == "r", sp.rules[0]
        assert gate(sp.rules[0], sp)(log, current, NOW) is True
        assert OwnEvaluator().evaluate(sp, log, current, NOW) == want
        # one event fewer (or none): the same answer either way
        assert OwnEvaluator().evaluate(sp, log[:-1], current, NOW) == reference(sp, log[:-1], current, NOW)
