"""``txguard mcp-proxy`` over stdio, end to end: the SDK's real client -> the proxy -> the example server.

Every test starts real processes (the proxy, which starts the example commerce server) and the
SDK's client stops them when its block exits, also on failure. Each scenario runs under a bound.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp import Client, MCPError, StdioServerParameters

from txguard.integrations.mcp_proxy import GUARD_ERROR_CODE

from .mcp_helpers import ADD, CART, CONTEXT, RETAIL, SERVER, accept, audit_records, decline, proxy, proxy_params, recorded, run, text

pytestmark = pytest.mark.system  # real processes: the proxy, the example server, the SDK's client


@pytest.mark.parametrize("era", ["legacy", "auto"])
def test_allow_forwards_once_with_exactly_the_decided_arguments(tmp_path: Path, era: str) -> None:
    async def scenario() -> None:
        async with proxy(proxy_params(tmp_path, "--context", CONTEXT), mode=era) as client:
            result = await client.call_tool("add_to_cart", copy.deepcopy(ADD))
            assert not result.is_error, text(result)
            assert text(result) == "1 item(s) added to the cart"
    run(scenario)
    assert recorded(tmp_path / "executed.jsonl") == [{"tool": "add_to_cart", "arguments": ADD}]
    [record] = audit_records(tmp_path / "audit.jsonl")
    assert record["decision"]["outcome"] == "allow"


def test_the_tool_list_is_the_upstreams_unchanged_or_only_the_mapped_tools(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with proxy(proxy_params(tmp_path)) as client:
            listed = await client.list_tools()
        async with Client(StdioServerParameters(command=sys.executable, args=[str(SERVER)]), mode="legacy") as direct:
            upstream = await direct.list_tools()
        assert [t.model_dump() for t in listed.tools] == [t.model_dump() for t in upstream.tools]
        assert [t.name for t in listed.tools] == ["checkout", "add_to_cart", "get_order"]
        async with proxy(proxy_params(tmp_path, "--only-mapped")) as client:
            mapped = await client.list_tools()
        assert [t.model_dump() for t in mapped.tools] == [t.model_dump() for t in listed.tools if t.name != "get_order"]
    run(scenario)
    assert recorded(tmp_path / "executed.jsonl") == []


@pytest.mark.parametrize("era", ["legacy", "auto"])
def test_clarify_asks_with_elicitation_and_the_accepted_call_is_forwarded(tmp_path: Path, era: str) -> None:
    shown: list[str] = []

    async def scenario() -> None:
        async with proxy(proxy_params(tmp_path, "--context", CONTEXT), elicit=accept(shown), mode=era) as client:
            result = await client.call_tool("checkout", copy.deepcopy(CART))
            assert not result.is_error, text(result)
            assert text(result) == "order #W0000001 placed: 270.91 USD"
    run(scenario)
    [screen] = shown
    assert "1 x Coffee Maker (sku 2115393569, product 7996920482) at 270.91 USD" in screen
    assert "Total: 270.91 USD, paid with credit_card_6177109" in screen
    assert recorded(tmp_path / "executed.jsonl") == [{"tool": "checkout", "arguments": CART}]
    outcomes = [(r["decision"]["outcome"], r["lineage"]["source"]["framework"]) for r in audit_records(tmp_path / "audit.jsonl")]
    assert outcomes == [("clarify", "mcp"), ("allow", "mcp")]


@pytest.mark.parametrize("era", ["legacy", "auto"])
def test_a_declined_confirmation_is_not_forwarded(tmp_path: Path, era: str) -> None:
    shown: list[str] = []

    async def scenario() -> None:
        async with proxy(proxy_params(tmp_path, "--context", CONTEXT), elicit=decline(shown), mode=era) as client:
            result = await client.call_tool("checkout", copy.deepcopy(CART))
            assert result.is_error
            assert "the user declined the confirmation; `checkout` was not run" in text(result)
            assert result.structured_content["outcome"] == "clarify"
    run(scenario)
    assert len(shown) == 1
    assert recorded(tmp_path / "executed.jsonl") == []


def test_a_call_changed_after_approval_is_not_forwarded(tmp_path: Path) -> None:
    """2026-07-28: the client answers the form and retries; the retry carries other arguments."""
    changed = copy.deepcopy(CART)
    changed["items"][0]["quantity"] = 2
    changed["total"] = "541.82"

    async def scenario() -> None:
        async with proxy(proxy_params(tmp_path, "--context", CONTEXT), elicit=accept([]), mode="auto") as client:
            first = await client.session.call_tool("checkout", copy.deepcopy(CART), allow_input_required=True)
            assert isinstance(first, types.InputRequiredResult)
            assert first.input_requests is not None and list(first.input_requests) == ["txguard_confirm"]
            yes = {"txguard_confirm": types.ElicitResult(action="accept", content={"confirm": True})}
            retry = await client.session.call_tool("checkout", changed, input_responses=yes,
                                                   request_state=first.request_state, allow_input_required=True)
            assert isinstance(retry, types.CallToolResult) and retry.is_error
            assert retry.structured_content["outcome"] == "clarify"
            forged = await client.session.call_tool("checkout", copy.deepcopy(CART), input_responses=yes,
                                                    request_state="e30." + "0" * 64, allow_input_required=True)
            assert isinstance(forged, types.CallToolResult) and forged.is_error
            assert "the confirmation state is missing or was altered" in text(forged)
    run(scenario)
    assert recorded(tmp_path / "executed.jsonl") == []


def test_an_approval_does_not_carry_over_to_a_changed_call(tmp_path: Path) -> None:
    """Handshake era: the approved cart runs; the next call with another quantity asks again (declined here)."""
    shown: list[str] = []
    answers = iter([True, False])

    async def elicit(ctx: Any, params: Any) -> types.ElicitResult:
        shown.append(params.message)
        return types.ElicitResult(action="accept", content={"confirm": True}) if next(answers) else types.ElicitResult(action="decline")

    changed = copy.deepcopy(CART)
    changed["items"][0]["quantity"] = 2
    changed["total"] = "541.82"

    async def scenario() -> None:
        async with proxy(proxy_params(tmp_path, "--context", CONTEXT), elicit=elicit) as client:
            assert not (await client.call_tool("checkout", copy.deepcopy(CART))).is_error
            assert (await client.call_tool("checkout", changed)).is_error
    run(scenario)
    assert "2 x Coffee Maker" in shown[1] and "Total: 541.82 USD" in shown[1]
    assert recorded(tmp_path / "executed.jsonl") == [{"tool": "checkout", "arguments": CART}]


def test_a_client_without_elicitation_is_told_what_to_ask_the_user(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with proxy(proxy_params(tmp_path, "--context", CONTEXT)) as client:
            result = await client.call_tool("checkout", copy.deepcopy(CART))
            assert result.is_error
            body = text(result)
            assert "Ask the user to confirm exactly this. It runs only after the user approves it" in body
            assert body.count("1 x Coffee Maker (sku 2115393569, product 7996920482) at 270.91 USD") == 1
            assert body.endswith("[consent]")
            assert result.structured_content["confirmation"]["total"] == "270.91"
    run(scenario)
    assert recorded(tmp_path / "executed.jsonl") == []


@pytest.mark.parametrize("errors", ["result", "jsonrpc"])
def test_escalate_is_never_forwarded(tmp_path: Path, errors: str) -> None:
    async def scenario() -> None:
        async with proxy(proxy_params(tmp_path, "--context", CONTEXT, "--errors", errors)) as client:
            if errors == "result":
                result = await client.call_tool("get_order", {"order_id": "#W0000001"})
                assert result.is_error
                assert text(result) == "I can't do that: tool `get_order` is not mapped by policy `retail`. [unknown_tool]"
                assert result.structured_content["route"] == "refuse"
            else:
                with pytest.raises(MCPError) as err:
                    await client.call_tool("get_order", {"order_id": "#W0000001"})
                assert err.value.code == GUARD_ERROR_CODE
                assert err.value.data["outcome"] == "escalate"
    run(scenario)
    assert recorded(tmp_path / "executed.jsonl") == []


@pytest.mark.parametrize("arguments", [
    {"items": "[{\"sku\": \"2115393569\""},                                   # a garbled cart
    {**CART, "total": "NaN"},
    {**CART, "items": [{**CART["items"][0], "quantity": -1}]},
    None,
], ids=["garbled", "nan", "negative-quantity", "none"])
def test_a_corrupted_call_escalates(tmp_path: Path, arguments: Any) -> None:
    shown: list[str] = []

    async def scenario() -> None:
        async with proxy(proxy_params(tmp_path, "--context", CONTEXT), elicit=accept(shown)) as client:
            result = await client.call_tool("checkout", copy.deepcopy(arguments))
            assert result.is_error
            assert result.structured_content["outcome"] == "escalate"
            assert "malformed" in [r["code"] for r in result.structured_content["reasons"]]
    run(scenario)
    assert shown == []
    assert recorded(tmp_path / "executed.jsonl") == []


def test_shadow_mode_forwards_and_records_what_it_would_have_decided(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with proxy(proxy_params(tmp_path, "--context", CONTEXT, "--mode", "shadow")) as client:
            result = await client.call_tool("get_order", {"order_id": "#W0000001"})
            assert not result.is_error
    run(scenario)
    assert recorded(tmp_path / "executed.jsonl") == [{"tool": "get_order", "arguments": {"order_id": "#W0000001"}}]
    [record] = audit_records(tmp_path / "audit.jsonl")
    assert record["decision"]["outcome"] == "escalate"
    assert record["lineage"]["source"]["framework"] == "mcp-shadow"


def test_the_audit_record_carries_the_mcp_request_id(tmp_path: Path) -> None:
    seen: list[Any] = []

    async def scenario() -> None:
        async with proxy(proxy_params(tmp_path, "--context", CONTEXT)) as client:
            for _ in range(2):
                result = await client.call_tool("get_order", {"order_id": "x"})
                seen.append(result.structured_content["call_id"])
    run(scenario)
    ids = [r["lineage"]["source"] for r in audit_records(tmp_path / "audit.jsonl")]
    assert ids == [{"framework": "mcp", "call_id": seen[0]}, {"framework": "mcp", "call_id": seen[1]}]
    assert seen[0] != seen[1]


def test_without_elicitation_the_hosts_recorded_approval_lets_exactly_that_call_through(tmp_path: Path) -> None:
    """The host shows the blocked call's confirmation on its own screen and records the yes in its context."""
    approvals = tmp_path / "approvals.json"
    params = proxy_params(tmp_path, "--context", f"{Path(__file__).parent / 'mcp_approving_context.py'}:context")
    params.env = {**(params.env or {}), "TXGUARD_TEST_APPROVALS": str(approvals)}
    changed = copy.deepcopy(CART)
    changed["payment_method_id"] = "credit_card_0000000"

    async def scenario() -> None:
        async with proxy(params) as client:
            blocked = await client.call_tool("checkout", copy.deepcopy(CART))
            assert blocked.is_error and blocked.structured_content["outcome"] == "clarify"
            approvals.write_text(json.dumps([{"digest": blocked.structured_content["confirmation"]["digest"]}]))
            swapped = await client.call_tool("checkout", changed)
            assert swapped.is_error
            paid = await client.call_tool("checkout", copy.deepcopy(CART))
            assert not paid.is_error, text(paid)
    run(scenario)
    assert recorded(tmp_path / "executed.jsonl") == [{"tool": "checkout", "arguments": CART}]


def test_a_confirmation_is_spent_by_the_call_it_let_through(tmp_path: Path) -> None:
    """Single use: the same cart again is asked again (here declined), not run on the first yes."""
    shown: list[str] = []
    answers = iter([True, False])

    async def elicit(ctx: Any, params: Any) -> types.ElicitResult:
        shown.append(params.message)
        return types.ElicitResult(action="accept", content={"confirm": True}) if next(answers) else types.ElicitResult(action="decline")

    async def scenario() -> None:
        async with proxy(proxy_params(tmp_path, "--context", CONTEXT), elicit=elicit) as client:
            assert not (await client.call_tool("checkout", copy.deepcopy(CART))).is_error
            assert (await client.call_tool("checkout", copy.deepcopy(CART))).is_error
    run(scenario)
    assert len(shown) == 2 and shown[0] == shown[1]
    assert recorded(tmp_path / "executed.jsonl") == [{"tool": "checkout", "arguments": CART}]


def test_prompts_and_resources_pass_through_unchanged(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Client(StdioServerParameters(command=sys.executable, args=[str(SERVER)]), mode="legacy") as direct:
            want = (await direct.list_prompts(), await direct.get_prompt("shopping_assistant", {"product_type": "Kettle"}),
                    await direct.list_resources(), await direct.read_resource("orders://placed"))
        async with proxy(proxy_params(tmp_path)) as client:
            got = (await client.list_prompts(), await client.get_prompt("shopping_assistant", {"product_type": "Kettle"}),
                   await client.list_resources(), await client.read_resource("orders://placed"))
            with pytest.raises(MCPError):
                await client.read_resource("orders://nope")
        assert [g.model_dump(exclude={"meta"}) for g in got] == [w.model_dump(exclude={"meta"}) for w in want]
        assert "Help the user choose and buy one Kettle." in str(got[1].messages[0].content)
    run(scenario)
    assert recorded(tmp_path / "executed.jsonl") == []


def test_a_parameter_left_to_the_upstreams_default_is_decided_and_forwarded_explicitly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The host holds the user's yes to the call as the model made it (no merchant); the upstream
    would pay its own default merchant, never decided nor shown. The proxy decides that default
    too: the held yes does not bind the completed call, which is asked again showing the merchant;
    the yes to that forwards it with the merchant given explicitly."""
    from txguard import Guard

    from . import mcp_approving_context

    approvals = tmp_path / "approvals.json"
    upstream = ["--", sys.executable, str(Path(__file__).parent / "mcp_defaulted_shop.py")]
    params = proxy_params(tmp_path, "--context", f"{Path(__file__).parent / 'mcp_approving_context.py'}:context",
                          upstream=upstream)
    params.env = {**(params.env or {}), "TXGUARD_TEST_APPROVALS": str(approvals)}
    monkeypatch.setenv("TXGUARD_TEST_APPROVALS", str(approvals))  # none yet: the context the proxy will read
    ctx = mcp_approving_context.context("checkout", CART)
    shown_without = Guard.from_file(RETAIL).check({"name": "checkout", "arguments": CART}, **ctx).confirmation
    assert shown_without is not None and shown_without.merchant is None
    approvals.write_text(json.dumps([{"digest": shown_without.digest}]))

    async def scenario() -> None:
        async with proxy(params) as client:
            asked = await client.call_tool("checkout", copy.deepcopy(CART))
            assert asked.is_error and asked.structured_content["outcome"] == "clarify", text(asked)
            assert asked.structured_content["confirmation"]["merchant"] == "evil-merchant"
            approvals.write_text(json.dumps([{"digest": asked.structured_content["confirmation"]["digest"]}]))
            paid = await client.call_tool("checkout", copy.deepcopy(CART))
            assert not paid.is_error, text(paid)
    run(scenario)
    assert recorded(tmp_path / "executed.jsonl") == [{"tool": "checkout", "arguments": dict(CART, merchant="evil-merchant")}]
