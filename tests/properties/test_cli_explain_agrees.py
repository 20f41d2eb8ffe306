"""Differential: ``txguard check`` and ``txguard explain`` decide every case alike, also on a
policy that keeps state across turns (review of issue 10: ``check`` decided without a store and
skipped budgets and session rules that ``explain`` applied).

Each side is the guard its command builds (``cli.check._fresh``; ``authoring.explain.explain``),
on corpus cases with or without a session ``id`` and with a total scaled past a budget or not.
"""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from txguard import compile_file
from txguard.authoring.explain import explain
from txguard.cli.check import _fresh

from ..conftest import read_cases
from ..helpers import POLICIES
from .strategies import envelope_of

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
CHAT = [envelope_of(c) for c in read_cases("chat-to-buy-dev.jsonl.gz")]
POLICY_FILES = [POLICIES / "retail.yaml", POLICIES / "retail-session.yaml"]
COMPILED = [compile_file(p) for p in POLICY_FILES]


def _shown(decision: Any) -> dict[str, Any]:
    return {k: v for k, v in decision.to_dict().items() if k != "elapsed_us"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(CHAT), st.sampled_from(range(len(COMPILED))), st.sampled_from([None, "conv-1"]),
       st.sampled_from([1, 3]))
def test_check_and_explain_decide_alike(env: dict[str, Any], which: int, sid: str | None, scale: int) -> None:
    env = copy.deepcopy(env)
    session = env.get("session")
    if isinstance(session, dict):
        session.pop("id", None)
        if sid is not None:
            session["id"] = sid
    args = env.get("proposal", {}).get("arguments") if isinstance(env.get("proposal"), dict) else None
    if scale != 1 and isinstance(args, dict) and isinstance(args.get("items"), list):
        for item in args["items"]:  # the same cart, `scale` times over: past a 700 USD budget or not
            if isinstance(item, dict) and isinstance(item.get("quantity"), int):
                item["quantity"] *= scale
        if isinstance(args.get("total"), str):
            try:
                args["total"] = str(Decimal(args["total"]) * scale)
            except ArithmeticError:
                pass
    policy = COMPILED[which]
    clock = lambda: NOW  # noqa: E731
    guard_decision = _fresh(policy, None, clock).check_envelope(copy.deepcopy(env))
    assert _shown(guard_decision) == _shown(explain(policy, copy.deepcopy(env), clock).decision)
