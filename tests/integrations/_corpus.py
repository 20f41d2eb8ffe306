"""Real corpus envelopes the framework integrations' tests drive their scripted models with."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

from txguard import Guard, Outcome

from ..conftest import read_cases
from .test_hook import _consent_case


def consent_case(guard: Guard) -> dict[str, Any]:
    """A checkout that clarifies for consent (no confirmation yet) and is allowed once its confirmation is approved."""
    return _consent_case(guard)


def confirmed_case(guard: Guard) -> dict[str, Any]:
    """The consent case with the user's confirmation already in the session: allowed as it stands."""
    env = consent_case(guard)
    d = guard.check(env["proposal"], env.get("request"), env["session"], env.get("facts"))
    assert d.confirmation is not None
    return dict(env, session=dict(env["session"], confirmed=[{"digest": d.confirmation.digest}]))


def escalate_case(guard: Guard) -> dict[str, Any]:
    """A well-formed checkout (JSON object arguments) that escalates to a human (over the price cap)."""
    for case in read_cases("chat-to-buy-dev.jsonl.gz"):
        env = {k: case[k] for k in ("proposal", "request", "session", "facts") if k in case}
        if env["proposal"]["name"] != "checkout" or not isinstance(env["proposal"]["arguments"], dict):
            continue
        d = guard.check(env["proposal"], env.get("request"), env.get("session"), env.get("facts"))
        if d.outcome is Outcome.ESCALATE and d.codes == ("price_cap",):
            return env
    raise AssertionError("the corpus has no price-cap escalation")


def changed(arguments: Any) -> dict[str, Any]:
    """The same one-line checkout for another quantity, its total kept consistent: a call the user did not confirm."""
    args = copy.deepcopy(arguments if isinstance(arguments, dict) else json.loads(arguments))
    line = args["items"][0]
    line["quantity"] = 1 if int(line.get("quantity", 1)) > 1 else 2
    args["total"] = str(Decimal(line["unit_price"]) * line["quantity"])
    return dict(args)
