"""Every decision's record holds what replay needs, whatever strings the agent or the host put in.

A value canonical JSON cannot encode as it is (a lone surrogate, a key that is not a string, an
integer beyond 64 bits) is escaped, reversibly, never dropped; a record that cannot hold its inputs
at all never carries an ``allow``.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from txguard import Guard, Outcome
from txguard.audit import MemorySink, replay, verify
from txguard.audit._record import escape, recorded, unescape
from txguard.audit._replay import redecide

from .conftest import RETAIL, StepClock, envelopes

ENVS = envelopes(40)
POLICY = Guard.from_file(RETAIL).policy

# Any code point, lone surrogates, NUL and control characters included (hypothesis leaves
# surrogates out of text() by default).
ANY_CHAR = st.one_of(st.characters(codec=None, categories=None),
                     st.sampled_from(["\ud800", "\udfff", "\udc80", "\x00", "\x1b", "\u2028", "$txguard"]))
ANY_TEXT = st.lists(ANY_CHAR, max_size=12).map("".join)


def _positions(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], str]]:
    """Every string value (``value``) and every mapping key (``key``) under ``node``."""
    out: list[tuple[tuple[Any, ...], str]] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if path:  # not the envelope's own sections
                out.append(((*path, k), "key"))
            out.extend(_positions(v, (*path, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_positions(v, (*path, i)))
    elif isinstance(node, str):
        out.append((path, "value"))
    return out


def _put(env: dict[str, Any], path: tuple[Any, ...], what: str, text: str) -> None:
    *parents, last = path
    node: Any = env
    for p in parents:
        node = node[p]
    if what == "value":
        node[last] = text
    else:
        node[text] = node.pop(last)


@st.composite
def attacked(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    env = copy.deepcopy(draw(st.sampled_from(ENVS)))
    env["session"] = dict(env.get("session") or {}, id=draw(ANY_TEXT), turn=1)
    positions = _positions({k: env[k] for k in ("proposal", "request", "session", "facts") if k in env})
    for _ in range(draw(st.integers(1, 3))):
        path, what = draw(st.sampled_from(positions))
        _put(env, path, what, draw(ANY_TEXT))
        positions = _positions({k: env[k] for k in ("proposal", "request", "session", "facts") if k in env})
    lineage = {"source": draw(ANY_TEXT)}
    return env, lineage


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(attacked())
def test_any_string_anywhere_gives_a_complete_record_that_replays_to_the_same_decision(
        case: tuple[dict[str, Any], dict[str, Any]]) -> None:
    env, lineage = case
    sink = MemorySink()
    guard = Guard(POLICY, clock=StepClock(), audit=sink)
    decision = guard.check(env["proposal"], env.get("request"), env.get("session"), env.get("facts"), lineage=lineage)
    (rec,) = sink.stored
    body = rec.body
    assert "unrecordable" not in body
    assert body["decision"]["outcome"] == decision.outcome.value
    inputs = recorded(body)
    assert inputs["proposal"] == env["proposal"]  # exactly what the agent emitted, surrogates and all
    assert inputs["context"] == {"request": env.get("request"), "session": env.get("session"), "facts": env.get("facts")}
    assert inputs["lineage"] == {"session_id": env["session"].get("id"), "turn": env["session"].get("turn"),
                                  "source": lineage}
    assert redecide(POLICY, body) == inputs["decision"]
    assert replay([rec], POLICY).identical == 1
    assert verify(sink).ok


def test_a_lone_surrogate_in_an_allowed_checkouts_alternative_keeps_the_cart_session_and_lineage() -> None:
    env = copy.deepcopy(ENVS[0])
    title = "Sunglasses \ud83d"
    env["proposal"]["arguments"]["alternatives"] = [{"product_id": "7314138884", "title": title}]
    env["request"]["text"] += "\ud800"
    env["session"] = dict(env["session"], id="conv-\udfff", turn=2, confirmed=[env["proposal"]])
    sink = MemorySink()
    decision = Guard(POLICY, audit=sink).check(env["proposal"], env["request"], env["session"], env["facts"])
    assert decision.outcome is Outcome.ALLOW
    body = sink.stored[0].body
    assert body["escaped"] is True and "unrecordable" not in body
    escaped = {"$txguard": "str", "utf8": title.encode("utf-8", "surrogatepass").hex()}
    assert body["proposal"]["arguments"]["alternatives"][0]["title"] == escaped
    assert body["intent"]["items"][0]["sku"] == "4548300368"  # the cart
    assert body["lineage"]["turn"] == 2
    assert recorded(body)["lineage"]["session_id"] == "conv-\udfff"
    assert recorded(body)["context"]["session"] == env["session"]


@given(st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), ANY_TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(ANY_TEXT, st.integers()), inner, max_size=4)),
    max_leaves=20))
def test_escape_is_reversible(value: Any) -> None:
    back = unescape(escape(value))
    assert repr(back) == repr(value)  # repr: NaN != NaN, and 1 == True


class Opaque:
    """A host object JSON cannot hold."""


def test_a_record_that_cannot_hold_its_inputs_never_carries_an_allow() -> None:
    env = ENVS[0]
    assert Guard(POLICY).check_envelope(env).outcome is Outcome.ALLOW
    sink = MemorySink()
    guard = Guard(POLICY, audit=sink)
    decision = guard.check(env["proposal"], env["request"], env["session"], env["facts"],
                           lineage={"source": Opaque()})  # type: ignore[dict-item]
    assert decision.outcome is Outcome.ESCALATE and decision.codes == ("audit_unavailable",)
    assert "cannot be recorded" in decision.reasons[0].message
    (rec,) = sink.stored  # still exactly one record, of the decision returned
    assert rec.body["decision"]["outcome"] == "escalate" and "unrecordable" in rec.body
