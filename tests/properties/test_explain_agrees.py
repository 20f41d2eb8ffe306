"""Differential: ``explain`` and the guard's ``check`` agree (issue 10).

For the same policy, envelope, clock, consent keys and conversation store, explain's decision is
the guard's (outcome, route, reasons, questions, confirmation), and each rule's traced status is
what the guard did: a rule ``fired`` iff its reason is in the decision (with its code and
outcome), ``error`` iff its reason is a ``missing_fact`` or ``check_error``, ``not fired`` and
``skipped`` rules have no reason, and every reason of a policy rule has a trace. Session rules,
budgets and single-use confirmations likewise.

Run on every case of both corpora (each case its own world: a fresh guard), on policies
hypothesis writes with ``when`` rules over retail.yaml's tools, with signed consent tokens, and
with session rules (every turn of every multi-turn case of ``retail-session.tests.yaml``).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from txguard import Checkout, CompiledPolicy, ConsentSigner, Decision, Guard, compile_file, compile_policy, intent_digest
from txguard.authoring.explain import Explanation, explain
from txguard.authoring.suite_load import load_suite
from txguard.authoring.suite_run import play, with_session_id
from txguard.sessions import MemoryStore

from ..conftest import read_cases
from ..helpers import POLICIES, RETAIL
from .strategies import RETAIL_DATA, envelope_of

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
"""One instant for both sides (the corpora's consent has no expiry relative to it that matters)."""
CLOCK: Callable[[], datetime] = lambda: NOW  # noqa: E731
ERROR_CODES = {"missing_fact", "check_error"}
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

CHAT = [envelope_of(c) for c in read_cases("chat-to-buy-dev.jsonl.gz")]
TAU = [envelope_of(c) for c in read_cases("tau-retail-dev.jsonl.gz")]


def both(policy: CompiledPolicy, envelope: Mapping[str, Any], clock: Callable[[], datetime] = CLOCK, *,
         keys: Any = None, stores: tuple[MemoryStore, MemoryStore] | None = None) -> tuple[Decision, Explanation]:
    """The guard's decision (a fresh guard: a case is its own world) and explain's, on the same
    clock, consent keys and conversation (two stores holding the same earlier events)."""
    guard = Guard(policy, clock=clock, consent_keys=keys, sessions=stores[0] if stores else None)
    decision = guard.check_envelope(copy.deepcopy(envelope))
    extra: dict[str, Any] = {}
    if keys is not None:
        extra["consent_keys"] = keys  # as the guard gets them
    if stores is not None:
        extra["store"] = stores[1]
    return decision, explain(policy, copy.deepcopy(envelope), clock, **extra)


def _shown(decision: Decision) -> dict[str, Any]:
    return {k: v for k, v in decision.to_dict().items() if k != "elapsed_us"}


def assert_agree(policy: CompiledPolicy, decision: Decision, result: Explanation, where: str) -> None:
    assert _shown(result.decision) == _shown(decision), where
    reasons: dict[str, list[Any]] = {}
    for r in decision.reasons:
        reasons.setdefault(r.rule, []).append(r)
    for t in result.rules:
        got = reasons.get(t.rule, [])
        if t.status == "fired":
            assert [(r.code, r.outcome.value) for r in got] == [(t.code, t.outcome)], (where, t.rule, t.why)
        elif t.status == "error":
            assert len(got) == 1 and got[0].code in ERROR_CODES, (where, t.rule, t.why)
        else:
            assert t.status in ("not fired", "skipped"), (where, t.rule, t.status)
            assert not got, (where, t.rule, t.status, t.why)
    traced = {t.rule for t in result.rules}
    rule_ids = {r.id for r in policy.rules}
    for r in decision.reasons:
        if r.rule in rule_ids:
            assert r.rule in traced, (where, r.rule, "a reason with no trace")
    if result.session is not None:
        for s in result.session.rules:
            fired = s.rule in reasons
            assert (s.status == "fired") == fired, (where, s.rule, s.status, s.why)
    else:
        assert not policy.session.needs_session_id, where


# -- both corpora ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("policy_file", "corpus"), [("retail.yaml", "chat"), ("tau-retail.yaml", "tau")])
def test_every_corpus_case_explains_as_the_guard_decides(policy_file: str, corpus: str) -> None:
    policy = compile_file(POLICIES / policy_file)
    envelopes = CHAT if corpus == "chat" else TAU
    for i, env in enumerate(envelopes):
        decision, result = both(policy, env)
        assert_agree(policy, decision, result, f"{corpus}[{i}]")
    assert len(envelopes) > 500


# -- generated policies with `when` rules -----------------------------------------------------------

NUMBERS = ("intent.total", "intent.confidence", "intent.items[0].quantity", "intent.items[0].unit_price",
           "request.budget", "request.quantity", "session.turn")
STRINGS = ("intent.currency", "intent.payment_method_id", "intent.merchant", "intent.items[0].sku",
           "intent.items[0].product_id", "intent.items[0].title", "request.product_type", "request.currency",
           "session.authenticated_user_id")
FACTS = ("facts.products[intent.items[0].product_id].name",
         "facts.products[intent.items[0].product_id].variants[intent.items[0].sku].price",
         "facts.products[intent.items[0].product_id].variants[intent.items[0].sku].available",
         "facts.users[session.authenticated_user_id].payment_methods",
         "facts.users[session.authenticated_user_id].payment_methods[intent.payment_method_id].source",
         "facts.users[session.authenticated_user_id].payment_methods[intent.payment_method_id].balance",
         "facts.orders['#W0000000'].status")
LINE_NUMBERS = ("line.quantity", "line.unit_price", "facts.products[line.product_id].variants[line.sku].price")
LINE_STRINGS = ("line.sku", "line.title", "line.product_id", "facts.products[line.product_id].name")
NUMBER_LITERALS = st.sampled_from([0, 1, 2, 3, 0.8, 0.95, "100.00", "287.79", "500", 650, "1000.00", -1])
STRING_LITERALS = st.sampled_from(["USD", "EUR", "Sunglasses", "Coffee Maker", "paypal_9426036", "gift_card", "", "7314138884"])
ON_MISSING = st.sampled_from([None, "escalate", True, False])


def _with_on_missing(cmp: dict[str, Any], on_missing: Any) -> dict[str, Any]:
    if on_missing is not None:
        cmp["on_missing"] = on_missing
    return cmp


@st.composite
def comparisons(draw: st.DrawFn, numbers: tuple[str, ...], strings: tuple[str, ...], anys: tuple[str, ...]) -> dict[str, Any]:
    """One comparison: numbers with an order or (in)equality, strings with (in)equality or
    membership, fact paths with literals of their type (a run-time mismatch is a check error: traced too)."""
    shape = draw(st.sampled_from(["number", "string", "exists"] + (["fact"] if anys else [])))
    if shape == "number":
        path = draw(st.sampled_from(numbers))
        op = draw(st.sampled_from(["gt", "ge", "lt", "le", "eq", "ne"]))
        operand: Any = draw(NUMBER_LITERALS | st.sampled_from(numbers).map(lambda p: {"path": p}))
    elif shape == "string":
        path = draw(st.sampled_from(strings))
        op = draw(st.sampled_from(["eq", "ne", "in", "not_in"]))
        if op in ("in", "not_in"):
            operand = draw(st.lists(STRING_LITERALS, min_size=1, max_size=3)
                           | st.just({"path": "facts.users[session.authenticated_user_id].payment_methods"}))
        else:
            operand = draw(STRING_LITERALS | st.sampled_from(strings).map(lambda p: {"path": p}))
    elif shape == "fact":
        path = draw(st.sampled_from(anys))
        op = draw(st.sampled_from(["eq", "ne", "gt", "le", "in"]))
        # Literals fit the fact's declared type (a word against a price is a load error, `txg-type`);
        # a mismatch that only shows at run time (a word ordered against a name) is a traced check error.
        literals = NUMBER_LITERALS if path.endswith((".price", ".balance")) else (
            st.booleans() if path.endswith(".available") else NUMBER_LITERALS | STRING_LITERALS)
        operand = draw(literals) if op != "in" else draw(st.lists(literals, min_size=1, max_size=2))
    else:
        path = draw(st.sampled_from(numbers + strings + anys))
        return {"path": path, "exists": draw(st.booleans())}
    return _with_on_missing({"path": path, op: operand}, draw(ON_MISSING))


def conditions(depth: int = 2) -> st.SearchStrategy[dict[str, Any]]:
    leaf = comparisons(NUMBERS, STRINGS, FACTS)
    line_leaf = comparisons(LINE_NUMBERS, LINE_STRINGS, ())
    for_each = st.builds(
        lambda key, body: {"for_each": "intent.items", "as": "line", key: body},
        st.sampled_from(["all", "any"]), st.lists(line_leaf, min_size=1, max_size=3) | line_leaf)

    def extend(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
        return (st.lists(children, min_size=1, max_size=3).map(lambda cs: {"all": cs})
                | st.lists(children, min_size=1, max_size=3).map(lambda cs: {"any": cs})
                | children.map(lambda c: {"not": c}))

    return st.recursive(leaf | for_each, extend, max_leaves=6)


@st.composite
def when_rules(draw: st.DrawFn, i: int) -> dict[str, Any]:
    rule: dict[str, Any] = {"id": f"gen-{i}", "kinds": ["checkout"], "when": draw(conditions())}
    verdict = draw(st.sampled_from(["clarify", "escalate", "human", "refuse"]))
    rule.update({"outcome": verdict} if verdict in ("clarify", "escalate") else {"route": verdict})
    rule["code"] = draw(st.sampled_from(["generated", "budget", f"gen_{i}"]))
    return rule


@st.composite
def policies(draw: st.DrawFn) -> str:
    """retail.yaml with a random subset of its built-in rules (some preconditions gone) and one to
    three generated ``when`` rules placed among them; sometimes another default for checkout."""
    builtin = [r for r in copy.deepcopy(RETAIL_DATA["rules"]) if draw(st.booleans())]
    rules = builtin
    for i in range(draw(st.integers(min_value=1, max_value=3))):
        rules.insert(draw(st.integers(min_value=0, max_value=len(rules))), draw(when_rules(i)))
    data = copy.deepcopy(RETAIL_DATA)
    data["rules"] = rules
    data["defaults"] = {**data["defaults"], "checkout": draw(st.sampled_from(["allow", "allow", "clarify", "escalate"]))}
    return yaml.safe_dump(data, sort_keys=False)


_COMPILED: dict[str, CompiledPolicy] = {}


def _compile(text: str) -> CompiledPolicy:
    if text not in _COMPILED:
        _COMPILED[text] = compile_policy(text, "generated.yaml", base_dir=POLICIES)
    return _COMPILED[text]


@SETTINGS
@given(text=policies(), picks=st.lists(st.sampled_from(range(len(CHAT))), min_size=1, max_size=6))
def test_generated_when_rules_explain_as_the_guard_decides(text: str, picks: list[int]) -> None:
    policy = _compile(text)
    assert any(r.check is None for r in policy.rules)
    for i in picks:
        decision, result = both(policy, CHAT[i])
        assert_agree(policy, decision, result, f"chat[{i}] under\n{text}")


# -- signed consent tokens ---------------------------------------------------------------------------

HELD = ConsentSigner(bytes(range(32)), key_id="host-1")
ROTATED = ConsentSigner(bytes(range(1, 33)), key_id="host-2")


def _tokenised(env: Mapping[str, Any], signer: ConsentSigner, expires_at: datetime | None) -> dict[str, Any] | None:
    """The envelope with each confirmed proposal replaced by a token of its intent's digest
    (None when nothing confirmed is a readable checkout)."""
    out = copy.deepcopy(dict(env))
    session = out.get("session")
    if not isinstance(session, dict) or not isinstance(session.get("confirmed"), list):
        return None
    tokens = []
    for entry in session["confirmed"]:
        try:
            digest = intent_digest(Checkout.model_validate(entry["arguments"]))
        except Exception:  # noqa: BLE001 - a malformed confirmed entry stays as it is
            tokens.append(entry)
            continue
        tokens.append({"token": signer.issue(digest, expires_at=expires_at)})
    if all("token" not in t for t in tokens):
        return None
    session["confirmed"] = tokens
    return out


@pytest.mark.parametrize(("signer", "expires_at", "allows"), [
    (HELD, None, True),                        # the guard holds the key: the token confirms
    (HELD, NOW - timedelta(minutes=1), False),  # expired
    (ROTATED, None, False),                    # signed with a key the guard does not hold
])
def test_consent_tokens_explain_as_the_guard_decides(signer: ConsentSigner, expires_at: datetime | None,
                                                      allows: bool) -> None:
    policy = compile_file(RETAIL)
    checked = allowed = 0
    for i, env in enumerate(CHAT):
        tokenised = _tokenised(env, signer, expires_at)
        if tokenised is None:
            continue
        decision, result = both(policy, tokenised, keys=[HELD])
        assert_agree(policy, decision, result, f"chat[{i}] with a token from {signer.key_id}")
        checked += 1
        allowed += decision.allowed
    assert checked > 100
    assert (allowed > 0) is allows


# -- session rules -----------------------------------------------------------------------------------

def fixed(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def test_every_turn_of_the_session_suite_explains_as_the_guard_decides() -> None:
    suite = load_suite(POLICIES / "retail-session.tests.yaml")
    policy = compile_file(suite.policy_path)
    turns = 0
    for case in suite.cases:
        if not case.turns:
            env = with_session_id(case.envelope, case.session_id)
            at = suite.clock or NOW
            decision, result = both(policy, env, fixed(at), stores=(MemoryStore(), MemoryStore()))
            assert_agree(policy, decision, result, case.name)
            continue
        for n, turn in enumerate(case.turns, 1):
            stores = (MemoryStore(), MemoryStore())
            for store in stores:
                play(policy, case, n - 1, store)  # the same earlier turns in each
            decision, result = both(policy, turn.envelope, fixed(turn.at), stores=stores)
            assert_agree(policy, decision, result, f"{case.name} turn {n}")
            turns += 1
    assert turns >= 15


def test_the_chat_corpus_under_session_rules_explains_as_the_guard_decides() -> None:
    policy = compile_file(POLICIES / "retail-session.yaml")
    for i, env in enumerate(CHAT):
        env = dict(with_session_id(env, f"chat-{i}"))
        decision, result = both(policy, env, stores=(MemoryStore(), MemoryStore()))
        assert_agree(policy, decision, result, f"chat[{i}] under retail-session.yaml")


def test_the_differential_sees_a_disagreement() -> None:
    """The comparison is not vacuous: a trace that claims a fired rule the guard did not report fails."""
    policy = compile_file(RETAIL)
    env = next(e for e in CHAT if Guard(policy, clock=CLOCK).check_envelope(copy.deepcopy(e)).reasons)
    decision, result = both(policy, env)
    assert_agree(policy, decision, result, "control")
    fired = next(t for t in result.rules if t.status == "fired")
    lying = dataclasses.replace(result, rules=tuple(
        t if t is not fired else dataclasses.replace(t, status="not fired") for t in result.rules))
    with pytest.raises(AssertionError):
        assert_agree(policy, decision, lying, "lying")
