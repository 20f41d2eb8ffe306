"""Consent takes a shortcut when the confirmed arguments are the proposal's own; the answer must
be the one the full mapping gives."""

from __future__ import annotations

import copy
import json
from typing import Any

from txguard import Guard

from .conftest import read_cases


def _gold() -> dict[str, Any]:
    return next(c for c in read_cases("chat-to-buy-dev.jsonl.gz") if c["variant"] == "gold")


def _check(guard: Guard, case: dict[str, Any], arguments: Any, confirmed: Any) -> tuple[str, tuple[str, ...]]:
    session = copy.deepcopy(case["session"])
    session["confirmed"] = [{"name": "checkout", "arguments": confirmed}]
    d = guard.independent().check({"name": "checkout", "arguments": arguments}, case["request"], session, case["facts"])
    return d.outcome.value, d.codes


def test_json_string_proposal_matches_confirmed_data(retail_guard: Guard) -> None:
    case = _gold()
    args = case["proposal"]["arguments"]
    assert _check(retail_guard, case, json.dumps(args), args) == ("allow", ())
    # Key order does not matter: the same arguments are the same intent.
    reordered = dict(reversed(list(args.items())))
    assert _check(retail_guard, case, json.dumps(args), reordered) == ("allow", ())


def test_equal_but_differently_typed_confirmation_is_mapped_in_full(retail_guard: Guard) -> None:
    case = _gold()
    args = case["proposal"]["arguments"]
    floaty = copy.deepcopy(args)
    floaty["items"][0]["quantity"] = float(floaty["items"][0]["quantity"])  # == the int, but not a quantity
    assert floaty == args
    outcome, codes = _check(retail_guard, case, json.dumps(args), floaty)
    assert (outcome, codes) == ("clarify", ("consent",))


def test_changed_cart_after_confirmation_is_caught(retail_guard: Guard) -> None:
    case = _gold()
    args = case["proposal"]["arguments"]
    other = copy.deepcopy(args)
    other["payment_method_id"] = "gift_card_0000000"
    outcome, codes = _check(retail_guard, case, json.dumps(args), other)
    assert (outcome, codes) == ("clarify", ("consent",))
