"""Microsoft Agent Governance Toolkit (``agent-governance-toolkit-core``): ``PolicyEvaluator``.

The language: a ``PolicyDocument`` of rules, each ONE comparison of one field of a flat context
dict with a constant (``eq``, ``ne``, ``gt``, ``lt``, ``in``, ...), an action (``allow``, ``deny``,
``audit``, ``block``) and a priority; ``evaluate`` returns the first matching rule by priority
(or the document's default), with an audit entry that deep-copies the context.

What that means for the retail rules:

- A rule cannot compare two fields (exposure with the budget, the payment method with the user's
  methods, the sum of the lines with the total), nor look anything up, so the adapter computes
  each such comparison's operand in Python: ``budget_headroom = budget - exposure`` (the rule is
  ``budget_headroom lt 0``), ``pm_owned``, ``total_gap``, ``category_ok`` and so on. Consent and
  the catalog are matched in the shared adapter (``peer_common.derive``), as for every peer. A
  field that does not apply is left out (AGT's conditions never match a missing field).
- Clarify has no action of its own: the rules that clarify are ``audit`` rules (allowed, but
  named), the ones that escalate ``block``; the adapter maps codes to outcomes by ``RULES``.
- First match only: one evaluation gives one reason. The guard (and Cedar and ZEN) report every
  rule that fired, so the adapter evaluates once with every rule (the whole policy: nothing
  matches on a case that is allowed, the common case) and, when something matched, asks each
  rule's own evaluator for the full list of reasons: a user who wants every reason has no other
  public way (``_match_condition`` is private).

``build(plain, extras)`` returns ``(adapter, engine, to_context)``: ``adapter(raw, request,
session, facts)`` and ``engine(context)`` both give (outcome, codes); ``to_context(derived)``
makes the engine's input. At 100 rules a case that is not allowed costs 101 evaluations, each
building a ``PolicyDecision`` with a deep copy of the context: that is the ``agt`` rows' cost
there, not the rules' conditions.
"""

from __future__ import annotations

from typing import Any

import yaml

from peer_common import RULES, Derived, Extra, derive, verdict

POLICY_YAML = """
version: "1.0"
name: retail
description: The retail rules of txguard's policies/retail.yaml, as AGT rules over adapter fields.
defaults:
  action: allow
rules:
  - {name: authentication, condition: {field: authenticated, operator: eq, value: false}, action: audit, message: nobody is signed in}
  - {name: consent, condition: {field: consent, operator: eq, value: false}, action: audit, message: no confirmation of this cart}
  - {name: price_cap, condition: {field: exposure_cents, operator: gt, value: 100000}, action: block, message: over 1000.00 USD}
  - {name: missing_fact, condition: {field: methods_known, operator: eq, value: false}, action: block, message: payment methods unknown}
  - {name: payment_method, condition: {field: pm_owned, operator: eq, value: false}, action: block, message: not the user's card}
  - {name: balance, condition: {field: balance_headroom, operator: lt, value: 0}, action: block, message: gift card too small}
  - {name: unknown_item, condition: {field: known, operator: eq, value: false}, action: block, message: unknown sku}
  - {name: availability, condition: {field: unavailable, operator: eq, value: true}, action: block, message: out of stock}
  - {name: catalog_mismatch, condition: {field: catalog_mismatch, operator: eq, value: true}, action: block, message: not the catalog's item}
  - {name: total_mismatch, condition: {field: total_gap, operator: ne, value: 0}, action: block, message: total is not the sum of the lines}
  - {name: budget, condition: {field: budget_headroom, operator: lt, value: 0}, action: audit, message: over the user's budget}
  - {name: category, condition: {field: category_ok, operator: eq, value: false}, action: audit, message: not the product type asked for}
  - {name: quantity, condition: {field: quantity_gap, operator: ne, value: 0}, action: audit, message: not the number of units asked for}
  - {name: ambiguity, condition: {field: confidence, operator: lt, value: 0.8}, action: audit, message: the agent is not sure enough}
"""

FIELD = {"total": "total_cents", "pm": "payment_method_id", "first_quantity": "first_quantity"}


def policy_doc(extras: list[Extra]) -> dict[str, Any]:
    doc = yaml.safe_load(POLICY_YAML)
    assert [r["name"] for r in doc["rules"]] == [code for code, _p, _o in RULES]
    for e in extras:
        doc["rules"].append({"name": e.code, "condition": {"field": FIELD[e.field], "operator": e.op, "value": e.value},
                             "action": "block", "message": f"generated rule {e.code}"})
    n = len(doc["rules"])
    for i, rule in enumerate(doc["rules"]):
        rule["priority"] = n - i  # policy order
    return dict(doc)


def to_context(d: Derived) -> dict[str, Any]:
    """The flat context AGT's conditions read (fields that do not apply are left out)."""
    ctx: dict[str, Any] = {
        "tool_name": "checkout",
        "authenticated": d.user_id is not None,
        "consent": d.consent,
        "exposure_cents": d.exposure,
        "total_cents": d.total,
        "payment_method_id": d.pm,
        "known": d.known,
        "total_gap": d.lines_sum - d.total,
        "confidence": d.confidence,
        "first_quantity": d.first_quantity,
        "methods_known": d.methods is not None,
    }
    if d.methods is not None:
        ctx["pm_owned"] = d.pm in d.methods
    if d.balance is not None:
        ctx["balance_headroom"] = d.balance - d.exposure
    if d.known:
        ctx["unavailable"] = d.unavailable
        ctx["catalog_mismatch"] = d.catalog_mismatch
    if d.budget is not None:
        ctx["budget_headroom"] = d.budget - d.exposure
    if d.wanted is not None:
        ctx["category_ok"] = all(g == d.wanted for g in d.got)
    if d.wanted_quantity is not None:
        ctx["quantity_gap"] = d.units - d.wanted_quantity
    return ctx


def build(plain: Any, extras: list[Extra]) -> tuple[Any, Any, Any]:
    from agent_os.policies import PolicyDocument, PolicyEvaluator

    doc = PolicyDocument.model_validate(policy_doc(extras))
    whole = PolicyEvaluator(policies=[doc])
    one_each = [(rule.name, PolicyEvaluator(policies=[doc.model_copy(update={"rules": [rule]})])) for rule in doc.rules]

    def engine(ctx: dict[str, Any]) -> tuple[str, list[str]]:
        if whole.evaluate(ctx).matched_rule is None:
            return "allow", []
        return verdict([name for name, ev in one_each if ev.evaluate(ctx).matched_rule is not None])

    def adapter(call: Any, request: Any, session: Any, facts: Any) -> tuple[str, list[str]]:
        d = derive(plain, call, request, session, facts)
        if isinstance(d, tuple):
            return d
        return engine(to_context(d))

    return adapter, engine, to_context
