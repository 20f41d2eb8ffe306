"""Issue 12: which route wins when escalating rules name both (``routes.precedence``), and a custom
rule's ``description`` is for the policy's authors, never shown to the end user by default."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from txguard import Guard, PolicyError, compile_policy
from txguard.sessions import MemoryStore

from .sessions.helpers import Clock, checkout, session

HEAD = """apiVersion: txguard/v1
id: routes
version: "1"
currency: USD
tools:
  checkout: {intent: checkout}
defaults: {checkout: allow}
"""

TWO_ROUTES = """rules:
  - id: big
    kinds: [checkout]
    when: {path: intent.total, gt: "100.00"}
    route: human
  - id: huge
    kinds: [checkout]
    when: {path: intent.total, gt: "200.00"}
    route: refuse
"""


def test_refuse_beats_human_by_default() -> None:
    d = Guard.from_text(HEAD + TWO_ROUTES).check(checkout("300.00"))
    assert d.codes == ("big", "huge") and d.route == "refuse"


def test_a_policy_can_make_human_win() -> None:
    g = Guard.from_text(HEAD + "routes: {precedence: [human, refuse]}\n" + TWO_ROUTES)
    assert g.policy.route_precedence == ("human", "refuse")
    assert g.check(checkout("300.00")).route == "human"
    assert g.check(checkout("150.00")).route == "human"


def test_the_precedence_also_joins_session_reasons() -> None:
    text = (HEAD + "routes: {precedence: [human, refuse]}\n" + TWO_ROUTES.replace("route: human", "route: refuse")
            .replace('gt: "200.00"', 'gt: "999999.00"')
            + "session:\n  budgets:\n    - {id: d, amount: '1.00', currency: USD, scope: user, route: human}\n")
    d = Guard.from_text(text, clock=Clock(), sessions=MemoryStore()).check(checkout("300.00"), session=session("c"))
    assert d.outcome.value == "escalate" and d.route == "refuse"  # the budget acts only on an allow
    cheap = Guard.from_text(text.replace('gt: "100.00"', 'gt: "999999.00"'), clock=Clock(), sessions=MemoryStore())
    assert cheap.check(checkout("30.00"), session=session("c")).route == "human"


@pytest.mark.parametrize(("routes", "message"), [
    ("routes: {precedence: [human]}\n", "routes.precedence"),
    ("routes: {precedence: [human, human]}\n", "routes.precedence"),
    ("routes: {precedence: [refuse, robot]}\n", "routes.precedence[1]"),
    ("routes: {order: [human, refuse]}\n", "routes"),
])
def test_a_bad_precedence_is_a_located_load_error(routes: str, message: str) -> None:
    with pytest.raises(PolicyError) as err:
        compile_policy(HEAD + routes + TWO_ROUTES, "p.yaml")
    assert f"txg-schema: {message}" in str(err.value)


def test_a_child_cannot_change_the_base_precedence(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(HEAD + "routes: {precedence: [refuse, human]}\n" + TWO_ROUTES, encoding="utf-8")
    child = 'apiVersion: txguard/v1\nid: child\nversion: "1"\nextends: base.yaml\n'
    (tmp_path / "child.yaml").write_text(child + "routes: {precedence: [human, refuse]}\n", encoding="utf-8")
    with pytest.raises(PolicyError) as err:
        Guard.from_file(tmp_path / "child.yaml")
    assert "txg-extends" in str(err.value) and "routes" in str(err.value)
    (tmp_path / "child.yaml").write_text(child, encoding="utf-8")
    assert Guard.from_file(tmp_path / "child.yaml").policy.route_precedence == ("refuse", "human")


# -- a custom rule's description stays with the authors ----------------------------------------------

TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126, exclude_characters="{}\"\\'"), min_size=12, max_size=60)


@settings(max_examples=60, deadline=None)
@given(description=TEXT, outcome=st.sampled_from(["clarify", "escalate"]), with_message=st.booleans())
def test_a_description_never_reaches_a_decision_message(description: str, outcome: str, with_message: bool) -> None:
    secret = f"INTERNAL-{secrets.token_hex(4)} {description}"
    rule: dict[str, Any] = {"id": "r1", "kinds": ["checkout"], "outcome": outcome, "description": secret,
                            "when": {"path": "intent.total", "gt": "1.00"}}
    if with_message:
        rule["message"] = "Please contact support about this order."
    g = Guard.from_text(HEAD + "rules:\n  - " + json.dumps(rule) + "\n")
    d = g.check(checkout("50.00"))
    assert d.codes == ("r1",)
    texts = [r.message for r in d.reasons] + [q.text for q in d.questions]
    assert all("INTERNAL-" not in t for t in texts)
    assert d.reasons[0].message == ("Please contact support about this order." if with_message else "rule `r1` matched")


def test_a_message_may_show_the_description_when_the_policy_says_so() -> None:
    rules = """rules:
  - id: r1
    kinds: [checkout]
    description: orders over 1.00 are reviewed
    message: "Held: {detail}"
    when: {path: intent.total, gt: "1.00"}
"""
    assert Guard.from_text(HEAD + rules).check(checkout("5.00")).reasons[0].message == "Held: orders over 1.00 are reviewed"


def test_explain_shows_the_description_to_the_author() -> None:
    from datetime import datetime, timezone

    from txguard.authoring.explain import explain

    rules = """rules:
  - id: r1
    kinds: [checkout]
    description: orders over 1.00 are reviewed
    when: {path: intent.total, gt: "1.00"}
"""
    out = explain(compile_policy(HEAD + rules), {"proposal": checkout("5.00")}, lambda: datetime.now(timezone.utc))
    assert out.decision.reasons[0].message == "rule `r1` matched"
    trace = next(t for t in out.rules if t.rule == "r1")
    assert trace.why == "escalate [r1]: rule `r1` matched (description: orders over 1.00 are reviewed)"
