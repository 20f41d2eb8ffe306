"""Gates: one compiled test per session rule, "can this rule fire on these events?", so that the
usual decision, on which no session rule fires, is settled without the per-event calls of the
reference evaluation (``_rules.fire`` with ``_rules.own_hit``).

Each gate is Python source generated once per policy (``compile()``), the rule's window and
``where`` written inline, and measures what the reference measures, over the same events in the
same order with the same operations (so an event the reference cannot read raises here too): the
count, the distinct values, the sum, the latest confirmation or the last decision. It says True
when the reference could fire. :class:`~txguard.sessions._rules.OwnEvaluator` returns no reason
when every gate says False, and otherwise (a rule fires, a gate raises, a rule the gates do not
know) runs the reference evaluation of every rule, which words the reasons and the errors. So
a gate is only ever trusted to say "no": ``tests/sessions/test_gates.py`` checks that whenever the
gates all say so, the reference fires nothing and raises nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..policy.session import EVENT_FIELDS, SessionPolicy, SessionRule
from ._events import Event

Gate = Callable[[Sequence[Event], Event, int], bool]
"""``gate(events, current, now_us)``: could the rule fire (False: the reference fires nothing)?"""


def _always(events: Sequence[Event], current: Event, now_us: int) -> bool:
    return True


def _cond(rule: SessionRule, e: str, env: dict[str, Any]) -> str | None:
    """The source of ``own_hit`` for a rule that is not a sequence, on the event named ``e``: the
    window (``not (... >= within)``, the reference's own comparison), then each ``where`` in order."""
    parts = []
    if rule.within_us is not None:
        env["W"] = rule.within_us
        parts.append(f"not (now_us - {e}.at_us >= W)")
    for i, (name, values) in enumerate(rule.where):
        if name not in EVENT_FIELDS or not name.isidentifier():
            return None
        env[f"V{i}"] = values
        parts.append(f"{e}.{name} in V{i}")
    return " and ".join(parts) or "True"


def _source(rule: SessionRule, env: dict[str, Any]) -> str | None:
    """The gate's body (a function ``gate(events, cur, now_us)``), or None for a rule it does not know."""
    if rule.form == "sequence":
        if rule.within_us is not None:
            env["W"] = rule.within_us
        window = "" if rule.within_us is None else " and now_us - e.at_us < W"
        if rule.pattern == "changed_after_confirmation":
            env["CONSEQUENTIAL"] = None  # set by the caller: the policy's consequential kinds
            # the reference: the matching confirmations, then the one of the highest seq (the first
            # of them), fires when its digest is not the current one
            return ("    cons = cur.kind in CONSEQUENTIAL and cur.digest is not None\n"
                    "    found = [e for e in events if cons and e.type == 'confirmation' and e.kind == cur.kind"
                    f"{window}]\n"
                    "    if not found:\n        return False\n"
                    "    return max(found, key=SEQ).digest != cur.digest\n")
        if rule.pattern == "retry_after_escalation":
            return ("    prev = LAST(events)\n"
                    "    return prev is not None and (cur.kind is not None and prev.type == 'decision'"
                    f" and prev.outcome == 'escalate' and prev.kind == cur.kind{window.replace('e.at_us', 'prev.at_us')})\n")
        return None
    hit, hit_cur = _cond(rule, "e", env), _cond(rule, "cur", env)
    if hit is None or hit_cur is None:
        return None
    env["AT"] = rule.at_least
    if rule.form == "count" and rule.in_a_row:
        try:
            env["TYPES"] = rule.types
        except Exception:  # noqa: BLE001 - no `type` in `where`: the reference words what happens
            return None
        return (f"    if not ({hit_cur}):\n        return 0 >= AT\n"  # the reference: n = 0
                "    n = 1\n"
                "    for e in reversed(events):\n"
                "        if n >= AT:\n            break\n"
                "        if e.type not in TYPES:\n            continue\n"
                f"        if not ({hit}):\n            break\n"
                "        n += 1\n"
                "    return n >= AT\n")
    if rule.form == "count":
        return (f"    n = 0\n    for e in events:\n        if {hit}:\n            n += 1\n"
                f"    return n + (1 if {hit_cur} else 0) >= AT\n")
    if rule.form == "distinct":
        field = rule.field or ""
        if field not in EVENT_FIELDS or not field.isidentifier():
            return None
        return (f"    values = {{e.{field} for e in (*events, cur) if {hit}}} - NONE\n"
                "    return len(values) >= AT\n")
    if rule.form == "sum":
        env["CUR"] = rule.currency
        env["LIMIT"] = rule.limit_minor
        return ("    total = 0\n    for e in (*events, cur):\n"
                f"        if e.amount_minor is not None and e.currency == CUR and {hit}:\n"
                "            total += e.amount_minor\n"
                "    return total > LIMIT\n")
    return None


def _seq(e: Event) -> int:
    return e.seq


def _last(events: Sequence[Event]) -> Event | None:
    for e in reversed(events):
        if e.type == "decision":
            return e
    return None


def gate(rule: SessionRule, policy: SessionPolicy) -> Gate:
    """The compiled gate of one rule (a gate that always says True for a rule it does not know)."""
    env: dict[str, Any] = {"NONE": frozenset((None,)), "SEQ": _seq, "LAST": _last}
    body = _source(rule, env)
    if body is None:
        return _always
    if "CONSEQUENTIAL" in env:
        env["CONSEQUENTIAL"] = policy.consequential
    source = "def gate(events, cur, now_us):\n" + body
    exec(compile(source, f"<session gate {rule.id}>", "exec"), env)  # noqa: S102 - from validated names
    fn: Gate = env["gate"]
    return fn


def gates(policy: SessionPolicy) -> tuple[Gate, ...]:
    """Every rule's gate, in policy order."""
    return tuple(gate(rule, policy) for rule in policy.rules)
