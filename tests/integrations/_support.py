"""What the framework integrations' tests share: real corpus envelopes for their scripted models, and a private event loop."""

from __future__ import annotations

import asyncio
import copy
import json
from decimal import Decimal
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pydantic import BaseModel

from txguard import Guard, Outcome
from txguard.audit import open_sink

from ..conftest import read_cases

T = TypeVar("T")


@pytest.fixture(autouse=True)
def event_loop_of_the_test() -> Iterator[asyncio.AbstractEventLoop]:
    """A default event loop per test, closed after it: the frameworks' sync entry points
    (``Runner.run_sync``, ``Agent.run_sync``) run on the thread's default loop and keep it open."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        yield loop
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        asyncio.set_event_loop(None)
        loop.close()


def run_async(coro: Awaitable[T]) -> T:
    """Run ``coro`` to completion on the test's default loop (the async path)."""
    return asyncio.get_event_loop_policy().get_event_loop().run_until_complete(coro)


def consent_case(guard: Guard) -> dict[str, Any]:
    """A real corpus envelope that clarifies for consent and is allowed once its confirmation is approved.

    Probed on a guard of its own, so that the probe's allow does not use up the confirmation.
    """
    probe = guard.independent()
    for case in read_cases("chat-to-buy-dev.jsonl.gz"):
        env = {k: case[k] for k in ("proposal", "request", "session", "facts") if k in case}
        session = dict(env.get("session") or {}, confirmed=[])
        d = probe.check(env["proposal"], env.get("request"), session, env.get("facts"))
        if d.outcome is Outcome.CLARIFY and d.confirmation is not None and d.codes == ("consent",):
            approved = dict(session, confirmed=[{"digest": d.confirmation.digest}])
            if probe.check(env["proposal"], env.get("request"), approved, env.get("facts")).outcome is Outcome.ALLOW:
                return dict(env, session=session)
    raise AssertionError("the corpus has no consent case")


def with_confirmation(env: dict[str, Any], guard: Guard) -> dict[str, Any]:
    """``env`` with the user's confirmation of its proposal (as the model made it) in the session.

    The confirmation is read from a decision on ``guard.independent()``, so nothing is used up.
    """
    d = guard.independent().check(env["proposal"], env.get("request"), env["session"], env.get("facts"))
    assert d.confirmation is not None
    return dict(env, session=dict(env["session"], confirmed=[{"digest": d.confirmation.digest}]))


def confirmed_case(guard: Guard) -> dict[str, Any]:
    """The consent case with the user's confirmation already in the session: allowed as it stands."""
    return with_confirmation(consent_case(guard), guard)


class FeeItem(BaseModel):
    """A cart line as a tool types it: validating a line dict into it fills the fee the call omits,
    a value the user never saw."""

    sku: str
    product_id: str
    title: str
    quantity: int
    unit_price: str
    handling_fee: str = "49.99"


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


def lineage_sources(trail: Path) -> list[dict[str, Any]]:
    """The host lineage (``lineage.source``) of every record of the JSON Lines trail at ``trail``."""
    reader = open_sink(f"jsonl:{trail}", readonly=True)
    try:
        return [r.body["lineage"]["source"] for r in reader.records()]
    finally:
        reader.close()
