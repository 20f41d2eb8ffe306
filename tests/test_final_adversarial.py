"""Adversarial review of the declared-domain work: each test is a hole found and fixed.

Every test decides one input both ways where it matters: the untraced guard (compiled conditions,
compiled bound forms) and the traced reference (``eval_node``), which must agree.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from txguard import Guard, PolicyError, Proposal, compile_policy
from txguard.domain.digest import intent_digest
from txguard.engine.evaluate import evaluate
from txguard.engine.trace import Trace

CLOCK = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)

GIFT = """
apiVersion: txguard/v1
id: t
version: 1
currency: USD
intents:
  gift:
    consequential: false
    fields:
      to: id
      tags: {list: id, optional: true}
defaults: {gift: allow}
tools:
  give: {intent: gift}
rules:
  - id: none-blocked
    kinds: [gift]
    when: {not: {for_each: intent.tags, as: t, any: {path: t, eq: blocked}}}
    outcome: escalate
"""


def both(policy_text: str, proposal: dict[str, Any], **kw: Any) -> tuple[Any, Any]:
    policy = compile_policy(policy_text, "t.yaml")
    fast = Guard(policy, clock=lambda: CLOCK).check(proposal, **kw)
    traced = evaluate(policy, proposal, kw.get("request"), kw.get("session"), kw.get("facts"), lambda: CLOCK,
                      trace=Trace())
    return fast, traced


def test_compiled_for_each_over_an_absent_optional_list_is_empty_as_in_eval_node() -> None:
    fast, traced = both(GIFT, {"name": "give", "arguments": {"to": "u1"}})
    assert [r.code for r in traced.reasons] == ["none_blocked"]
    assert (fast.outcome, [(r.code, r.message) for r in fast.reasons]) == \
        (traced.outcome, [(r.code, r.message) for r in traced.reasons])


PAY = """
apiVersion: txguard/v1
id: t
version: 1
currency: USD
intents:
  pay:
    fields:
      to: id
      total: money
      lines: {list: {sku: id, price: money}}
    roles: ROLES
defaults: {pay: allow}
tools:
  send: {intent: pay}
rules:
  - id: consent
    check: consent
"""


@pytest.mark.parametrize("roles", ["{confidence: total}", "{candidates: to}", "{confidence: lines.price}",
                                   "{lines: lines, candidates: lines}"])
def test_a_role_consent_leaves_out_cannot_name_a_field_of_the_action(roles: str) -> None:
    # `confidence: total` made the total unbound: a confirmation of 10.00 allowed a payment of 10000.00
    with pytest.raises(PolicyError, match="consent does not bind"):
        compile_policy(PAY.replace("ROLES", roles), "t.yaml")


HOLDS = """
apiVersion: txguard/v1
id: t
version: 1
currency: USD
intents:
  gift:
    consequential: false
    fields: {to: id}
facts:
  holds: {key: hold_id, record: {hold_id: id, active: bool}}
defaults: {gift: allow}
tools:
  give: {intent: gift}
rules:
  - id: no-active-hold
    kinds: [gift]
    when: {for_each: facts.holds, as: h, any: {path: h.active, eq: true}}
    outcome: escalate
"""


@pytest.mark.parametrize("holds", [[{"active": True}], [{"hold_id": None, "active": True}],
                                   [{"hold_id": "a", "active": False}, {"hold_id": "a", "active": True}],
                                   [{"hold_id": "b", "active": False}, {"hold_id": True, "active": True}]])
def test_a_listed_record_without_a_key_of_its_own_is_a_hole_not_dropped(holds: list[dict[str, Any]]) -> None:
    # a listed hold with no usable key was left out of the collection: `for_each` never saw it -> allow
    fast, traced = both(HOLDS, {"name": "give", "arguments": {"to": "u"}}, facts={"holds": holds})
    assert fast.outcome == traced.outcome == "escalate"
    assert {r.code for r in fast.reasons} == {"missing_fact"}


FROZEN = """
apiVersion: txguard/v1
id: t
version: 1
currency: USD
intents:
  gift:
    consequential: false
    fields: {account_id: id}
facts:
  accounts: {key: account_id, record: {account_id: id, frozen: optional bool}}
defaults: {gift: allow}
tools:
  give: {intent: gift}
rules:
  - id: frozen
    kinds: [gift]
    when: {path: 'facts.accounts[intent.account_id].frozen', default: false, eq: true}
    outcome: escalate
"""


def test_a_default_does_not_stand_in_for_a_record_filed_under_another_key() -> None:
    # `A1` holds the record of `A2` (ambiguous): the lookup finds nothing, but its parent record was
    # found by a plain read, so `default: false` was compared instead of the frozen flag -> allow
    facts = {"accounts": {"A1": {"account_id": "A2", "frozen": True}}}
    fast, traced = both(FROZEN, {"name": "give", "arguments": {"account_id": "A1"}}, facts=facts)
    assert fast.outcome == traced.outcome == "escalate"
    assert [r.code for r in fast.reasons] == ["missing_fact"]


OWNED = """
apiVersion: txguard/v1
id: t
version: 1
currency: USD
intents:
  cancel:
    consequential: false
    fields: {reservation_id: id}
    roles: {order: reservation_id}
facts:
  reservations: {key: reservation_id, record: {reservation_id: id, user_id: id}}
defaults: {cancel: allow}
tools:
  cancel_reservation: {intent: cancel}
rules:
  - {id: owner, check: ownership, params: {collection: reservations, field: user_id}}
"""


def test_a_builtin_check_does_not_read_a_record_filed_under_another_key() -> None:
    # R1 holds the record of R9 (ambiguous): a `when` lookup finds nothing, but `ownership` read it -> allow
    facts = {"reservations": {"R1": {"reservation_id": "R9", "user_id": "u1"}}}
    fast, traced = both(OWNED, {"name": "cancel_reservation", "arguments": {"reservation_id": "R1"}},
                        session={"authenticated_user_id": "u1"}, facts=facts)
    assert fast.outcome == traced.outcome == "escalate"
    assert [r.code for r in fast.reasons] == ["missing_fact"]


ACCOUNTS = """
apiVersion: txguard/v1
id: t
version: 1
currency: USD
intents:
  gift:
    consequential: false
    fields: {account_id: id}
facts:
  accounts: {key: account_id, record: {account_id: id, frozen: bool}}
defaults: {gift: allow}
tools:
  give: {intent: gift}
rules:
  - id: frozen
    kinds: [gift]
    when: {path: 'facts.accounts[intent.account_id].frozen', eq: true}
    outcome: escalate
"""


def test_null_in_a_declared_fact_that_is_not_optional_is_a_hole_as_when_absent() -> None:
    # `frozen: bool` (not optional) given as null compared as a value: `null eq true` is false -> allow
    facts = {"accounts": {"A1": {"account_id": "A1", "frozen": None}}}
    fast, traced = both(ACCOUNTS, {"name": "give", "arguments": {"account_id": "A1"}}, facts=facts)
    assert fast.outcome == traced.outcome == "escalate"
    assert [r.code for r in fast.reasons] == ["missing_fact"]


WAITS = """
apiVersion: txguard/v1
id: t
version: 1
currency: USD
intents:
  book:
    consequential: false
    fields: {n: int}
facts:
  waits: {key: n, record: {n: int, wait: duration}}
defaults: {book: allow}
tools:
  b: {intent: book}
rules:
  - id: long-wait
    kinds: [book]
    when: WHEN
    outcome: escalate
"""


@pytest.mark.parametrize("when", [
    "{value: {div: ['facts.waits[intent.n].wait', {hours: 1}]}, ge: 2}",
    "{value: {round: {div: ['facts.waits[intent.n].wait', {hours: 1}]}, places: 0}, ge: 2}",
    "{value: {add: ['facts.waits[intent.n].wait', {hours: 1}]}, ge: {hours: 4}}",
])
def test_a_declared_duration_fact_with_a_time_part_computes(when: str) -> None:
    # `PT3H` has a `T`: arithmetic read it as a datetime (or `round` as a number), a check_error
    fast, traced = both(WAITS.replace("WHEN", when), {"name": "b", "arguments": {"n": 1}},
                        facts={"waits": [{"n": 1, "wait": "PT3H"}]})
    assert [r.code for r in fast.reasons] == [r.code for r in traced.reasons] == ["long_wait"]


def test_an_amount_next_to_its_records_own_currency_field_is_refused() -> None:
    # the line's `currency: KWD` was not the price's: `price` was read (and capped) in the policy's USD
    text = PAY.replace("lines: {list: {sku: id, price: money}}", "lines: {list: {sku: id, price: money, currency: currency}}")
    with pytest.raises(PolicyError, match="not its currency"):
        compile_policy(text.replace("roles: ROLES", "roles: {amount: lines.price}"), "t.yaml")


def test_listed_records_whose_keys_differ_only_in_json_type_claim_one_key() -> None:
    # `7` and `"7"` name one account (a JSON object key is always the text): the lookup found the
    # unfrozen `"7"` and never saw that the host's records also hold a frozen `7` -> allow
    facts = {"accounts": [{"account_id": "7", "frozen": False}, {"account_id": 7, "frozen": True}]}
    fast, traced = both(ACCOUNTS, {"name": "give", "arguments": {"account_id": "7"}}, facts=facts)
    assert fast.outcome == traced.outcome == "escalate"
    assert [r.code for r in fast.reasons] == ["missing_fact"]


ONE_OF = """
apiVersion: txguard/v1
id: o
version: 1
currency: USD
intents:
  act:
    fields:
      to: id
      x: {one_of: [bool, int]}
      y: {one_of: [int, decimal], optional: true}
defaults: {act: allow}
tools:
  t: {intent: act}
rules:
  - {id: consent, check: consent}
"""


@pytest.mark.parametrize(("confirmed", "proposed", "outcome"), [
    ({"x": True}, {"x": 1}, "clarify"),          # `true == 1` in Python: the binding compared them equal
    ({"x": False}, {"x": 0}, "clarify"),
    ({"x": 1, "y": "1.5"}, {"x": 1, "y": "1.50"}, "allow"),  # one decimal value, one bound text
])
def test_one_of_values_bind_by_their_canonical_text(confirmed: dict[str, Any], proposed: dict[str, Any],
                                                    outcome: str) -> None:
    policy = compile_policy(ONE_OF, "o.yaml")
    conf = {"name": "t", "arguments": {"to": "u", **confirmed}}
    d = Guard(policy, clock=lambda: CLOCK).check({"name": "t", "arguments": {"to": "u", **proposed}},
                                                 session={"confirmed": [conf]})
    assert d.outcome == outcome, d.reasons
    left = policy.to_intent(Proposal(name="t", arguments=conf["arguments"]))
    right = policy.to_intent(Proposal(name="t", arguments={"to": "u", **proposed}))
    assert (intent_digest(left) == intent_digest(right)) == (outcome == "allow")
