"""Adapters: provider tool-call shapes -> proposals, checked on fixtures from the providers' docs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from txguard import CompiledPolicy, Guard, Outcome, compile_file
from txguard.adapters import (
    ToolCall,
    anthropic_calls,
    from_anthropic,
    from_mcp,
    from_openai_chat,
    from_openai_responses,
    openai_chat_calls,
    openai_responses_calls,
)

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "adapters"
CATALOG = json.loads((ROOT / "examples" / "catalog" / "catalog.json").read_text(encoding="utf-8"))

ONE: dict[str, Callable[[Any], ToolCall]] = {
    "openai_chat": from_openai_chat,
    "openai_responses": from_openai_responses,
    "anthropic": from_anthropic,
    "mcp": from_mcp,
}
MANY: dict[str, Callable[[Any], list[ToolCall]]] = {
    "openai_chat": openai_chat_calls,
    "openai_responses": openai_responses_calls,
    "anthropic": anthropic_calls,
    "mcp": lambda request: [from_mcp(request)],
}


def fixture(source: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{source}.json").read_text(encoding="utf-8"))
    return data


def corrupted_cases() -> list[tuple[str, str]]:
    return [(source, name) for source in ONE for name in fixture(source)["corrupted"]]


@pytest.fixture(scope="module")
def _policy() -> CompiledPolicy:
    return compile_file(ROOT / "policies" / "retail.yaml")


@pytest.fixture
def guard(_policy: CompiledPolicy) -> Guard:
    """Each test's own guard: its single-use ledger is not shared with another test."""
    return Guard(_policy)


CART_ARGS = json.loads(fixture("openai_chat")["valid"]["function"]["arguments"])
REQUEST = {"text": "the black drip coffee maker with a timer", "product_type": "Coffee Maker", "quantity": 1}


def confirmed_session() -> dict[str, Any]:
    """The user confirmed exactly the fixtures' cart on a trusted screen."""
    return {"authenticated_user_id": "chen_smith_8425", "confirmed": [{"name": "checkout", "arguments": CART_ARGS}]}


@pytest.mark.parametrize("source", sorted(ONE))
def test_every_fixture_names_its_documentation(source: str) -> None:
    assert fixture(source)["source"].startswith("https://")


@pytest.mark.parametrize("source", sorted(ONE))
def test_valid_call_becomes_the_proposal_the_guard_allows(source: str, guard: Guard) -> None:
    call = ONE[source](fixture(source)["valid"])
    assert call.problem is None
    assert call.source == source
    assert call.name == "checkout"
    arguments = call.proposal["arguments"]
    assert (json.loads(arguments) if isinstance(arguments, str) else arguments) == CART_ARGS
    decision = guard.check(call.proposal, request=REQUEST, session=confirmed_session(), facts=CATALOG)
    assert decision.outcome is Outcome.ALLOW, decision.reasons


@pytest.mark.parametrize(("source", "call_id"), [
    ("openai_chat", "call_Wk2tP8uY"),
    ("openai_responses", "call_68a1c"),
    ("anthropic", "toolu_01D7FLrfh4GYq7yT1ULFeyMV"),
    ("mcp", 7),
])
def test_call_id_is_the_one_the_provider_expects_back(source: str, call_id: str | int) -> None:
    assert ONE[source](fixture(source)["valid"]).call_id == call_id


@pytest.mark.parametrize(("source", "names"), [
    ("openai_chat", ["get_weather", "get_weather", "send_email"]),
    ("openai_responses", ["get_weather", "get_weather", "send_email"]),
    ("anthropic", ["get_weather"]),
    ("mcp", ["get_weather"]),
])
def test_documented_example_is_read_and_its_unknown_tools_escalate(source: str, names: list[str], guard: Guard) -> None:
    calls = MANY[source](fixture(source)["documented_example"])
    assert [c.name for c in calls] == names
    assert all(c.problem is None for c in calls)
    for call in calls:
        decision = guard.check(call.proposal)
        assert decision.outcome is Outcome.ESCALATE
        assert decision.codes == ("unknown_tool",)


def test_documented_example_arguments_are_kept_as_sent() -> None:
    (chat,) = openai_chat_calls(fixture("openai_chat")["documented_example"])[:1]
    assert chat.proposal == {"name": "get_weather", "arguments": "{\"location\":\"Paris, France\"}"}
    (claude,) = anthropic_calls(fixture("anthropic")["documented_example"])
    assert claude.proposal == {"name": "get_weather", "arguments": {"location": "San Francisco, CA", "unit": "celsius"}}
    assert claude.call_id == "toolu_01A09q90qw90lq917835lq9"
    mcp = from_mcp(fixture("mcp")["documented_example"])
    assert (mcp.proposal, mcp.call_id) == ({"name": "get_weather", "arguments": {"location": "New York"}}, 2)


def test_whole_responses_skip_what_is_not_a_function_call() -> None:
    chat = openai_chat_calls(fixture("openai_chat")["completion_envelope"])
    assert [c.name for c in chat] == ["checkout"]
    assert openai_chat_calls(fixture("openai_chat")["text_answer"]) == []
    responses = openai_responses_calls(fixture("openai_responses")["with_other_items"])
    assert [c.name for c in responses] == ["checkout"]
    text_only = {"content": [{"type": "text", "text": "Which colour?"}]}
    assert anthropic_calls(text_only) == []


@pytest.mark.parametrize(("source", "name"), corrupted_cases())
def test_corrupted_call_is_decided_escalate_never_raised(source: str, name: str, guard: Guard) -> None:
    raw = fixture(source)["corrupted"][name]
    call = ONE[source](raw)
    assert isinstance(call.proposal["name"], str)
    # Even with the user's confirmation of the cart and the matching request, nothing corrupted runs.
    decision = guard.check(call.proposal, request=REQUEST, session=confirmed_session(), facts=CATALOG)
    assert decision.outcome is Outcome.ESCALATE, (call, decision.reasons)
    assert set(decision.codes) <= {"malformed", "unknown_tool"}, decision.codes


@pytest.mark.parametrize(("source", "name", "problem"), [
    ("openai_chat", "missing_arguments", "`function.arguments` is missing"),
    ("openai_chat", "arguments_not_a_string", "`function.arguments` must be a JSON string, got int"),
    ("openai_chat", "missing_function", "`function` is missing or not an object"),
    ("openai_chat", "name_not_a_string", "tool name is a list, not a string"),
    ("openai_chat", "wrong_type", "tool call has type `custom`, expected `function`"),
    ("openai_responses", "incomplete_status", "the function call is `incomplete`, not `completed`"),
    ("openai_responses", "arguments_not_a_string", "`arguments` must be a JSON string, got dict"),
    ("openai_responses", "missing_name", "tool name is missing"),
    ("anthropic", "input_is_complete_json_string", "`input` must be an object, got str"),
    ("anthropic", "missing_input", "`input` is missing"),
    ("anthropic", "wrong_type", "content block has type `server_tool_use`, expected `tool_use`"),
    ("mcp", "arguments_is_a_string", "`params.arguments` must be an object, got str"),
    ("mcp", "missing_params", "`params` is missing or not an object"),
    ("mcp", "wrong_method", "method is `tools/list`, expected `tools/call`"),
    ("mcp", "wrong_jsonrpc_version", "`jsonrpc` is `1.0`, expected `2.0`"),
    ("mcp", "not_an_object", "a JSON-RPC request must be an object, got int"),
])
def test_envelope_problem_is_named_and_kept_in_the_proposal(source: str, name: str, problem: str) -> None:
    call = ONE[source](fixture(source)["corrupted"][name])
    assert call.problem == problem
    assert problem in call.proposal["arguments"]


@pytest.mark.parametrize(("calls", "message"), [
    (lambda: openai_chat_calls({"role": "assistant", "tool_calls": {"id": "c"}}),
     "the tool call could not be read: `tool_calls` must be a list of tool calls, got dict"),
    (lambda: [from_openai_chat({"id": "c", "type": "function", "function": {"arguments": "{}"}})],
     "the tool call could not be read: tool name is missing"),
    (lambda: [from_mcp('{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "checkout", '
                       '"arguments": {"total": "1", "total": "9"}}}')],
     "the tool call could not be read: the JSON-RPC request repeats the key `total`"),
    (lambda: anthropic_calls('{"content": [{"type": "tool_use", "id": "t", "name": "checkout", "input": {'),
     "the tool call could not be read: the message is not valid JSON (Expecting property name enclosed in double quotes: line 1 column 76 (char 75))"),
    (lambda: openai_responses_calls({"output": [{"type": "FUNCTION_CALL", "name": "checkout", "call_id": "c", "arguments": "{}"}]}),
     "the tool call could not be read: output item has type `FUNCTION_CALL`, expected `function_call`"),
])
def test_an_unreadable_call_escalates_with_its_own_reason(guard: Guard, calls: Callable[[], list[ToolCall]],
                                                          message: str) -> None:
    (call,) = calls()
    decision = guard.check(call.proposal)
    assert [(r.code, r.message) for r in decision.reasons] == [("malformed", message)]
    assert decision.route == "refuse"


def test_a_repeated_key_in_the_arguments_text_is_refused_whatever_the_values(guard: Guard) -> None:
    args = json.dumps(CART_ARGS)
    for text in (args[:-1] + ', "payment_method_id": "credit_card_6177109"}',
                 '{"payment_method_id": "credit_card_0000000", ' + args[1:]):
        call = from_openai_chat({"id": "c", "type": "function", "function": {"name": "checkout", "arguments": text}})
        decision = guard.check(call.proposal, request=REQUEST, session=confirmed_session(), facts=CATALOG)
        assert [(r.code, r.message) for r in decision.reasons] == [
            ("malformed", "arguments repeat the key `payment_method_id`: which value counts is ambiguous")]


def test_truncated_arguments_are_passed_through_for_the_guard_to_refuse(guard: Guard) -> None:
    raw = fixture("openai_chat")["corrupted"]["truncated_arguments"]
    call = from_openai_chat(raw)
    assert call.problem is None  # well-formed envelope; the arguments are the model's bad JSON
    assert call.proposal["arguments"] == raw["function"]["arguments"]
    decision = guard.check(call.proposal)
    assert decision.codes == ("malformed",)
    assert decision.route == "refuse"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@st.composite
def mutations(draw: st.DrawFn, valid: dict[str, Any]) -> Any:
    """The valid envelope with one key dropped or one value replaced, at the top or one level down."""
    envelope = json.loads(json.dumps(valid))
    target = envelope
    nested = [k for k, v in envelope.items() if isinstance(v, dict)]
    if nested and draw(st.booleans()):
        target = envelope[draw(st.sampled_from(nested))]
    key = draw(st.sampled_from(sorted(target)))
    if draw(st.booleans()):
        del target[key]
    else:
        target[key] = draw(json_values)
    return envelope


@pytest.mark.parametrize("source", sorted(ONE))
@settings(max_examples=150, deadline=None)
@given(raw=json_values)
def test_any_input_gives_a_proposal_never_an_exception(source: str, raw: Any) -> None:
    call = ONE[source](raw)
    assert isinstance(call.proposal["name"], str)
    assert isinstance(MANY[source](raw), list)


@pytest.mark.parametrize("source", sorted(ONE))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_broken_envelopes_are_never_allowed(source: str, data: st.DataObject, _policy: CompiledPolicy) -> None:
    raw = data.draw(mutations(fixture(source)["valid"]))
    call = ONE[source](raw)
    decision = Guard(_policy).check(call.proposal, request=REQUEST, session=confirmed_session(), facts=CATALOG)
    if call.problem is not None:
        assert decision.outcome is Outcome.ESCALATE
    if decision.outcome is Outcome.ALLOW:
        # Only a mutation that left the call's name and arguments intact may pass.
        arguments = call.proposal["arguments"]
        assert call.name == "checkout"
        assert (json.loads(arguments) if isinstance(arguments, str) else arguments) == CART_ARGS
