"""Adversarial review of declared domains, continued (see ``test_domain_adversarial.py``)."""

from __future__ import annotations

import pytest

from typing import Any

from txguard import Guard, compile_policy
from txguard.audit import MemorySink

from .test_domain_adversarial import NOW, decide, guard, load_error, policy


@pytest.mark.parametrize("currency", ["string", "id", {"enum": ["USD", "EUR"]}])
def test_a_currency_field_that_is_not_a_currency_is_refused_next_to_amounts(currency: object) -> None:
    # before: the amounts were read (and shown on the confirmation screen) in the policy's USD while
    # the tool call carried `currency: EUR` in a plain string field
    message = load_error(policy({"currency": currency, "amt": "money"}))
    assert "adv.yaml:" in message and "`currency`" in message


def test_a_string_currency_field_is_fine_when_every_amount_names_its_code() -> None:
    g = guard({"currency": "string", "amt": {"money": {"currency": "EUR"}}})
    assert decide(g, {"currency": "whatever", "amt": "1.00"})[0] == "allow"


@pytest.mark.parametrize("check", ["budget", "category", "quantity", "ambiguity"])
def test_a_check_reading_the_commerce_request_is_refused_with_a_declared_request(check: str) -> None:
    # before: loaded, then a `check_error` on every checkout (the declared request has no `budget`,
    # `currency`, `category`, `quantity` or `options`) or a comparison with a value of another type
    text = policy({"x": "int"}, top="builtin_kinds: commerce\nrequest:\n  budget: string\n",
                  rules=f"  - {{id: c, check: {check}}}\n")
    message = load_error(text)
    assert "adv.yaml:" in message and "declares every field of the shipped request" in message


def test_an_enum_literal_is_checked_when_the_path_is_written_as_a_value() -> None:
    message = load_error(policy({"cabin": {"enum": ["economy", "business"]}},
                                rules="  - {id: r, kinds: [k], when: {value: intent.cabin, eq: buisness}, outcome: escalate}\n"))
    assert "not a value of" in message


def test_audit_masks_name_declared_fields_and_hide_them() -> None:
    # before: `intent.passport` / `facts.people.*.ssn` / `request.note` were load errors ("nothing can
    # exist there": checked against the commerce kinds only), so a declared domain's PII could not be masked
    top = ("facts:\n  people: {key: id, record: {id: id, ssn: string}}\nrequest:\n  note: string?\n"
           "audit:\n  mask: [intent.passport, proposal.arguments.passport, 'facts.people.*.ssn', request.note]\n")
    sink = MemorySink(salt=b"s")
    g = Guard(compile_policy(policy({"passport": "id", "who": "id"}, top=top), "adv.yaml"), audit=sink,
              clock=lambda: NOW)
    facts: dict[str, Any] = {"people": [{"id": "a", "ssn": "SSN-SECRET-2"}]}
    g.check({"name": "t", "arguments": {"passport": "P-SECRET-1", "who": "a"}}, session={"authenticated_user_id": "u1"},
            facts=facts, request={"note": "NOTE-SECRET-3"})
    text = sink.stored[0].body_text
    assert "P-SECRET-1" not in text and "SSN-SECRET-2" not in text and "NOTE-SECRET-3" not in text
