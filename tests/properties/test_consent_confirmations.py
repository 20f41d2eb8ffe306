"""Invariant 4, consent, from the confirmation's side: whatever is wrong with the confirmation (its
types, a missing argument, another tool, a stand-in name, its expiry, another intent's digest), the
intent is never allowed, whether the proposal comes as data, as a JSON string or as a validated
intent; the exact confirmation, in any of its forms, allows; and with single-use confirmations the
same confirmation never authorises two allows."""

from __future__ import annotations

import copy
import json
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from txguard import Checkout, ConsentSigner, Guard, Outcome, intent_digest
from txguard.sessions import open_store

from ..helpers import GIFT, PAYPAL, POLICIES
from .strategies import RETAIL_DATA
from .test_consent import BOUND, confirmed_checkouts

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
SIGNER = ConsentSigner(secrets.token_bytes(32), key_id="host-1")

# Other tools that map to checkout: the same arguments under the first two give another checkout;
# under `checkout_renamed` they give the same one (its `wallet` is absent, `payment_method_id` kept).
OTHER_TOOLS = {
    "checkout_elsewhere": {"intent": "checkout", "constants": {"merchant": "another shop"}},
    "checkout_with_gift": {"intent": "checkout", "constants": {"payment_method_id": GIFT}},
    "checkout_renamed": {"intent": "checkout", "fields": {"payment_method_id": "wallet"}},
}


def _guard(**kw: Any) -> Guard:
    data = copy.deepcopy(RETAIL_DATA)
    data["tools"].update(OTHER_TOOLS)
    return Guard.from_text(yaml.safe_dump(data, sort_keys=False), file="variant.yaml", base_dir=POLICIES,
                           clock=lambda: NOW, consent_keys=SIGNER, **kw)


GUARD = _guard()

# -- what the agent proposes: the same call as data, as a JSON string, or as a validated intent ----

PROPOSAL_FORMS = ("dict", "json", "intent")


def _decide(guard: Guard, env: dict[str, Any], form: str, confirmed: list[Any]) -> Any:
    proposal: Any = copy.deepcopy(env["proposal"])
    if form == "json":
        proposal["arguments"] = json.dumps(proposal["arguments"])
    elif form == "intent":
        proposal = Checkout.model_validate(proposal["arguments"])
    session = dict(env["session"], confirmed=confirmed)
    return guard.check(proposal, env.get("request"), session, env["facts"])


# -- what is wrong with the confirmation -------------------------------------------------------------

@st.composite
def wrong_types(draw: st.DrawFn, args: dict[str, Any]) -> dict[str, Any]:
    """The confirmed arguments with one value of another type (``==`` to it where Python allows)."""
    out = copy.deepcopy(args)
    item = draw(st.sampled_from(out["items"]))
    where = draw(st.sampled_from(["quantity", "unit_price", "total", "currency", "payment_method_id", "sku"]))
    if where == "quantity":
        q = item["quantity"]
        item["quantity"] = draw(st.sampled_from([float(q), str(q)] + ([True] if q == 1 else [])))
    elif where == "unit_price":  # a float of the amount is the same amount (read through its repr)
        item["unit_price"] = draw(st.sampled_from([[item["unit_price"]], {"amount": item["unit_price"]}]))
    elif where == "total":
        out["total"] = draw(st.sampled_from([[out["total"]], True]))
    elif where == "sku":
        item["sku"] = {"id": item["sku"]}
    else:
        out[where] = draw(st.sampled_from([None, 1, [out[where]]]))
    return out


@st.composite
def missing_argument(draw: st.DrawFn, args: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(args)
    if draw(st.booleans()):
        del out[draw(st.sampled_from(["items", "total", "currency", "payment_method_id", "confidence"]))]
    else:
        item = draw(st.sampled_from(out["items"]))
        del item[draw(st.sampled_from(["sku", "product_id", "title", "quantity", "unit_price"]))]
    return out


@st.composite
def bad_confirmations(draw: st.DrawFn, env: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A confirmation that must not confirm ``env``'s checkout, and what is wrong with it."""
    args = env["proposal"]["arguments"]
    what = draw(st.sampled_from(["types", "missing", "other_tool", "stand_in", "expired", "other_digest",
                                 "other_token", "forged_token"]))
    if what == "types":
        return what, {"name": "checkout", "arguments": draw(wrong_types(args))}
    if what == "missing":
        return what, {"name": "checkout", "arguments": draw(missing_argument(args))}
    if what == "other_tool":
        return what, {"name": draw(st.sampled_from(["checkout_elsewhere", "checkout_with_gift", "add_to_cart"])),
                      "arguments": copy.deepcopy(args)}
    if what == "stand_in":
        return what, {"name": draw(st.sampled_from(["intent:checkout", "intent:add_to_cart", "checkout "])),
                      "arguments": draw(st.sampled_from([None, {}, copy.deepcopy(args)]))}
    exact = intent_digest(Checkout.model_validate(args))
    if what == "expired":
        at = NOW - timedelta(seconds=draw(st.integers(min_value=0, max_value=10**6)))
        form = draw(st.sampled_from(["proposal", "digest", "token"]))
        if form == "token":
            return what, {"token": SIGNER.issue(exact, expires_at=at)}
        base = {"digest": exact} if form == "digest" else {"name": "checkout", "arguments": copy.deepcopy(args)}
        return what, {**base, "expires_at": at.isoformat()}
    other_args = copy.deepcopy(args)
    draw(st.sampled_from(BOUND))(other_args)
    other = intent_digest(Checkout.model_validate(other_args))
    if what == "other_digest":
        return what, {"digest": other}
    if what == "other_token":
        return what, {"token": SIGNER.issue(other)}
    # A token for exactly this intent, but signed with a key the guard does not hold, or altered.
    if draw(st.booleans()):
        return what, {"token": ConsentSigner(secrets.token_bytes(32), key_id="host-1").issue(exact)}
    token = SIGNER.issue(other)
    head, _, mac = token.rpartition(".")
    parts = head.split(".")
    parts[2] = SIGNER.issue(exact).split(".")[2]  # this intent's digest under the other's MAC
    return what, {"token": ".".join(parts) + "." + mac}


@SETTINGS
@given(data=st.data(), env=confirmed_checkouts(), form=st.sampled_from(PROPOSAL_FORMS))
def test_a_wrong_confirmation_never_allows(data: st.DataObject, env: dict[str, Any], form: str) -> None:
    assert _decide(GUARD.independent(), env, form, env["session"]["confirmed"]).allowed  # the exact one does
    what, conf = data.draw(bad_confirmations(env), label="confirmation")
    d = _decide(GUARD.independent(), env, form, [conf])
    assert d.outcome is not Outcome.ALLOW, what
    assert "consent" in d.codes, what
    if what == "forged_token":
        message = next(r.message for r in d.reasons if r.code == "consent")
        assert "consent token" in message and message.endswith("so it confirms nothing")


def _exact_forms(env: dict[str, Any]) -> dict[str, Any]:
    args = env["proposal"]["arguments"]
    digest = intent_digest(Checkout.model_validate(args))
    return {
        "proposal": {"name": "checkout", "arguments": copy.deepcopy(args)},
        "json": {"name": "checkout", "arguments": json.dumps(args)},
        "digest": {"digest": digest},
        "token": {"token": SIGNER.issue(digest, expires_at=NOW + timedelta(minutes=5))},
    }


@SETTINGS
@given(env=confirmed_checkouts(), form=st.sampled_from(PROPOSAL_FORMS),
       conf=st.sampled_from(["proposal", "json", "digest", "token"]), wrong=st.integers(min_value=0, max_value=3))
def test_the_exact_confirmation_allows_in_every_form(env: dict[str, Any], form: str, conf: str, wrong: int) -> None:
    exact = _exact_forms(env)[conf]
    assert _decide(GUARD.independent(), env, form, [exact]).allowed
    # Wrong confirmations next to it change nothing.
    others = [{"name": "intent:checkout"}, {"digest": "sha256:" + "0" * 64}, {"token": "txgc1.x.y.z.w.v"}]
    assert _decide(GUARD.independent(), env, form, [*others[:wrong], exact, *others[wrong:]]).allowed


SINGLE_USE = copy.deepcopy(RETAIL_DATA)
SINGLE_USE["session"] = {"single_use_confirmations": True}
SINGLE_USE_TEXT = yaml.safe_dump(SINGLE_USE, sort_keys=False)


@SETTINGS
@given(env=confirmed_checkouts(),
       attempts=st.lists(st.tuples(st.sampled_from(PROPOSAL_FORMS), st.sampled_from(["proposal", "json", "digest"]),
                                   st.booleans()), min_size=2, max_size=6))
def test_one_confirmation_never_authorises_two_allows(env: dict[str, Any],
                                                      attempts: list[tuple[str, str, bool]]) -> None:
    guard = Guard.from_text(SINGLE_USE_TEXT, file="single.yaml", base_dir=POLICIES, clock=lambda: NOW,
                            sessions=open_store("memory:"))
    forms = _exact_forms(env)
    env["session"]["id"] = "conv-1"
    allowed = 0
    for proposal_form, conf_form, with_bogus in attempts:
        confirmed = [forms[conf_form]] + ([{"name": "intent:checkout"}] if with_bogus else [])
        allowed += _decide(guard, env, proposal_form, confirmed).allowed
    assert allowed == 1  # the first attempt uses it; every later one, in any form, finds it used


@SETTINGS
@given(env=confirmed_checkouts(), uses=st.integers(min_value=2, max_value=4))
def test_a_token_authorises_one_allow_and_another_token_one_more(env: dict[str, Any], uses: int) -> None:
    guard = Guard.from_text(SINGLE_USE_TEXT, file="single.yaml", base_dir=POLICIES, clock=lambda: NOW,
                            sessions=open_store("memory:"), consent_keys=[SIGNER])
    digest = intent_digest(Checkout.model_validate(env["proposal"]["arguments"]))
    env["session"]["id"] = "conv-2"
    first, second = SIGNER.issue(digest), SIGNER.issue(digest)
    assume(first != second)
    results = [_decide(guard, env, "dict", [{"token": first}]).allowed for _ in range(uses)]
    assert results == [True] + [False] * (uses - 1)
    assert _decide(guard, env, "dict", [{"token": second}]).allowed  # another confirmation of the user



@SETTINGS
@given(env=confirmed_checkouts(), form=st.sampled_from(PROPOSAL_FORMS))
def test_another_tool_mapping_to_the_same_intent_confirms_it(env: dict[str, Any], form: str) -> None:
    args = copy.deepcopy(env["proposal"]["arguments"])
    args["wallet"] = args.pop("payment_method_id")
    assert _decide(GUARD.independent(), env, form, [{"name": "checkout_renamed", "arguments": args}]).allowed
    args["wallet"] = GIFT if args["wallet"] != GIFT else PAYPAL
    assert not _decide(GUARD.independent(), env, form, [{"name": "checkout_renamed", "arguments": args}]).allowed
