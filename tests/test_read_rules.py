"""Custom rules on read-only tools: their paths are type-checked like any other intent's."""

from __future__ import annotations

import pytest

from txguard import Guard, PolicyError

HEAD = """apiVersion: txguard/v1
id: reads
version: "1"
tools:
  get_order_details: {intent: read}
defaults:
  read: allow
rules:
  - id: read-ownership
    kinds: [read]
    when:
      path: "facts.orders[intent.arguments['order_id']].user_id"
      ne: {path: session.authenticated_user_id}
    code: ownership
    route: refuse
"""

FACTS = {"orders": {"#W1": {"user_id": "alice"}}}


def test_a_rule_on_reads_sees_the_tool_arguments() -> None:
    guard = Guard.from_text(HEAD, file="reads.yaml")
    call = {"name": "get_order_details", "arguments": {"order_id": "#W1"}}
    mine = guard.check(call, session={"authenticated_user_id": "alice"}, facts=FACTS)
    theirs = guard.check(call, session={"authenticated_user_id": "bob"}, facts=FACTS)
    assert mine.outcome.value == "allow"
    assert theirs.outcome.value == "escalate"
    assert theirs.codes == ("ownership",)
    assert theirs.route == "refuse"


def test_a_typo_in_a_read_rule_path_is_a_load_error() -> None:
    text = HEAD.replace("intent.arguments['order_id']", "intent.argument['order_id']")
    with pytest.raises(PolicyError) as info:
        Guard.from_text(text, file="reads.yaml")
    assert str(info.value) == (
        "reads.yaml:12:13: txg-path: rules[0](read-ownership).when.path: path `intent.argument['order_id']`: "
        "`argument` is not a field of ReadOnly (expected one of: arguments, kind, tool) (in ReadOnly)"
    )


def test_a_read_rule_may_not_use_fields_of_write_intents() -> None:
    text = HEAD.replace("kinds: [read]", "kinds: [read, cancel_order]").replace(
        "facts.orders[intent.arguments['order_id']].user_id", "facts.orders[intent.order_id].user_id")
    with pytest.raises(PolicyError) as info:
        Guard.from_text(text, file="reads.yaml")
    assert "`order_id` is not a field of ReadOnly" in str(info.value)
