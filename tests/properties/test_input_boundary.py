"""Properties of the input boundary: what reaches a decision is read one way, and never dropped.

- A key repeated in any JSON object, at any depth, of a proposal's arguments (or of the raw text
  an adapter reads) makes the proposal malformed, whichever way it reaches the guard.
- An argument the tool mapping does not name is refused, never silently dropped or overwritten.
- An adapter turns every item that may be a tool call into a proposal: an item it cannot read
  (a mis-spelled ``type`` included) becomes one that escalates.
"""

from __future__ import annotations

import copy
import gzip
import json
from functools import lru_cache
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from txguard import Guard, Outcome
from txguard.policy.compile import CompiledPolicy
from txguard.core.intents import INTENT_MODELS
from txguard.adapters import (
    ToolCall,
    anthropic_calls,
    from_anthropic,
    from_mcp,
    from_openai_chat,
    openai_chat_calls,
    openai_responses_calls,
)

from ..helpers import POLICIES
from .strategies import json_values

CORPORA = {"retail": "chat-to-buy-dev.jsonl.gz", "tau-retail": "tau-retail-dev.jsonl.gz"}


@lru_cache(maxsize=None)
def _guard(policy: str) -> Guard:
    return Guard.from_file(POLICIES / f"{policy}.yaml")


def _load(policy: str) -> list[dict[str, Any]]:
    path = POLICIES.parent / "tests" / "corpus" / CORPORA[policy]
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        cases = [json.loads(line) for line in fh if line.strip()]
    # Arguments that are an object holding at least one object: somewhere to repeat a key.
    return [{k: c[k] for k in ("proposal", "request", "session", "facts") if k in c} for c in cases
            if isinstance(c.get("proposal"), dict) and isinstance(c["proposal"].get("arguments"), dict)
            and c["proposal"]["arguments"]]


CASES = [(policy, case) for policy in CORPORA for case in _load(policy)]


def _objects(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path of every JSON object inside ``value`` (itself included)."""
    out: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        out.append(path)
        for k, v in value.items():
            out.extend(_objects(v, path + (k,)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_objects(v, path + (i,)))
    return out


def _dump(value: Any, target: tuple[Any, ...], key: str, extra: Any, at: int, path: tuple[Any, ...] = ()) -> str:
    """``json.dumps(value)`` with one more ``key: extra`` pair at position ``at`` of the object at
    ``target``: the JSON text a model (or an attacker) would write with a repeated key."""
    if isinstance(value, dict):
        pairs = [json.dumps(k) + ": " + _dump(v, target, key, extra, at, path + (k,)) for k, v in value.items()]
        if path == target:
            pairs.insert(at % (len(pairs) + 1), json.dumps(key) + ": " + json.dumps(extra))
        return "{" + ", ".join(pairs) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_dump(v, target, key, extra, at, path + (i,)) for i, v in enumerate(value)) + "]"
    return json.dumps(value)


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        value = value[p]
    return value


@st.composite
def repeated_keys(draw: st.DrawFn) -> tuple[str, dict[str, Any], str]:
    """A corpus case, and its arguments as JSON text with one key repeated in one object at any depth.

    The repeated value is mostly the same value again (the text then means the same thing to every
    reader, and is still refused) or the value of another key, sometimes anything."""
    policy, case = draw(st.sampled_from(CASES))
    arguments = case["proposal"]["arguments"]
    target = draw(st.sampled_from(_objects(arguments)))
    obj = _get(arguments, target)
    assume(obj)
    key = draw(st.sampled_from(sorted(obj)))
    extra = draw(st.one_of(st.just(obj[key]), st.sampled_from([obj[k] for k in sorted(obj)]), json_values))
    text = _dump(arguments, target, key, extra, draw(st.integers(0, 20)))
    return policy, case, text


def _refused_as_malformed(decision: Any) -> None:
    assert decision.outcome is Outcome.ESCALATE
    assert "malformed" in decision.codes, decision.codes


@settings(max_examples=300, deadline=None)
@given(repeated_keys())
def test_a_repeated_key_at_any_depth_makes_the_proposal_malformed(drawn: tuple[str, dict[str, Any], str]) -> None:
    policy, case, text = drawn
    guard = _guard(policy)
    name = case["proposal"]["name"]
    context = {k: case.get(k) for k in ("request", "session", "facts")}
    # The arguments as text, straight to the guard (the OpenAI shapes carry exactly this text).
    _refused_as_malformed(guard.check({"name": name, "arguments": text}, **context))
    # Through the adapters: OpenAI's argument string, and the raw text of a whole Anthropic block,
    # a whole MCP request and a whole Chat Completions message.
    calls: list[ToolCall] = [
        from_openai_chat({"id": "c1", "type": "function", "function": {"name": name, "arguments": text}}),
        from_anthropic('{"type": "tool_use", "id": "t1", "name": ' + json.dumps(name) + ', "input": ' + text + "}"),
        from_mcp('{"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": '
                 + json.dumps(name) + ', "arguments": ' + text + "}}"),
        *anthropic_calls('{"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": '
                         + json.dumps(name) + ', "input": ' + text + "}]}"),
    ]
    for call in calls:
        _refused_as_malformed(guard.check(call.proposal, **context))
    # A guarded tool's dispatch never runs it.
    ran: list[Any] = []
    tool = guard.wrap(lambda **kw: ran.append(kw), tool=name, context=context)
    assert tool.dispatch({"name": name, "arguments": text}).outcome is Outcome.ESCALATE  # type: ignore[union-attr]
    _refused_as_malformed(tool.last_decision)
    assert ran == []


# -- arguments the mapping does not name ---------------------------------------------------------


def _policy(name: str) -> CompiledPolicy:
    return _guard(name).policy


def _named(policy: CompiledPolicy, tool: str, key: str) -> bool:
    """May ``key`` be an argument of ``tool``: read by the mapping, ignored, or passed as the intent
    field of the same name that the mapping does not fill from elsewhere."""
    tm = policy.tools[tool]
    sources = {(s if isinstance(s, str) else s["from"]).split(".")[0] for s in tm.fields.values()}
    filled = {t.split(".")[0] for t in tm.fields} - sources
    fields = INTENT_MODELS[tm.kind].model_fields
    return key in sources or key in tm.ignore or (key in fields and key != "kind" and key not in filled)


ALLOWED = [(policy, case) for policy, case in CASES
           if _guard(policy).independent().check_envelope(case).outcome is Outcome.ALLOW
           and _policy(policy).tools[case["proposal"]["name"]].kind != "read"]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ALLOWED), st.one_of(st.sampled_from(["kind", "address", "items", "total", "merchant",
                                                            "payment_method_id", "note", "Total", "total "]),
                                           st.text(min_size=1, max_size=12)), json_values)
def test_an_argument_the_mapping_does_not_name_is_refused(allowed: tuple[str, dict[str, Any]], key: str,
                                                          value: Any) -> None:
    policy, case = allowed
    name = case["proposal"]["name"]
    assume(key not in case["proposal"]["arguments"] and not _named(_policy(policy), name, key))
    changed = copy.deepcopy(case)
    changed["proposal"]["arguments"][key] = value
    decision = _guard(policy).check_envelope(changed)
    _refused_as_malformed(decision)
    assert any(f"argument `{key}`" in r.message for r in decision.reasons)


# -- adapters never drop what may be a call --------------------------------------------------------

LOOKALIKE = {"function_call": "openai_responses", "tool_use": "anthropic"}


@st.composite
def misspelled(draw: st.DrawFn, call_type: str) -> Any:
    """``call_type`` as a model or a broken serializer may spell it: any case, other separators,
    padding, a look-alike character; or no type, or a type that is not a string."""
    chars = [draw(st.sampled_from([c.lower(), c.upper()])) for c in call_type]
    spelled = "".join(chars).replace("_", draw(st.sampled_from(["_", "-", " ", "", "__"])))
    spelled = draw(st.sampled_from(["", " ", "\t", "\u200b"])) + spelled + draw(st.sampled_from(["", " ", "\n"]))
    assume(spelled != call_type)
    return draw(st.sampled_from([spelled, spelled, spelled, None, 1, ["x"], {"t": call_type}]))


@st.composite
def responses_outputs(draw: st.DrawFn) -> tuple[list[Any], int]:
    """An ``output`` list mixing real other items, real calls and mis-typed calls; and how many may be calls."""
    items: list[Any] = []
    calls = 0
    for _ in range(draw(st.integers(1, 6))):
        choice = draw(st.integers(0, 2))
        if choice == 0:
            items.append({"type": draw(st.sampled_from(["message", "reasoning", "web_search_call"])), "id": "x"})
            continue
        item: dict[str, Any] = {"call_id": "c", "name": "checkout", "arguments": "{}", "status": "completed"}
        kind = "function_call" if choice == 1 else draw(misspelled("function_call"))
        if kind is not None:
            item["type"] = kind
        items.append(item)
        calls += 1
    return items, calls


@st.composite
def anthropic_contents(draw: st.DrawFn) -> tuple[list[Any], int]:
    items: list[Any] = []
    calls = 0
    for _ in range(draw(st.integers(1, 6))):
        choice = draw(st.integers(0, 2))
        if choice == 0:
            items.append({"type": draw(st.sampled_from(["text", "thinking"])), "text": "hi"})
            continue
        block: dict[str, Any] = {"id": "t", "name": "checkout", "input": {}}
        kind = "tool_use" if choice == 1 else draw(misspelled("tool_use"))
        if kind is not None:
            block["type"] = kind
        items.append(block)
        calls += 1
    return items, calls


def _check_calls(calls: list[ToolCall], wanted: int, items: list[Any], call_type: str) -> None:
    assert len(calls) == wanted
    guard = _guard("retail")
    readable = [i for i in items if isinstance(i, dict) and i.get("type") == call_type]
    for call in calls:
        if call.problem is not None:
            # What could not be read escalates as malformed, with the reason it could not be read.
            decision = guard.check(call.proposal)
            _refused_as_malformed(decision)
            assert decision.reasons[0].message.startswith("the tool call could not be read: ")
    assert sum(c.problem is None for c in calls) == len(readable)


@settings(max_examples=200, deadline=None)
@given(responses_outputs())
def test_responses_never_drop_an_item_that_may_be_a_call(drawn: tuple[list[Any], int]) -> None:
    items, wanted = drawn
    _check_calls(openai_responses_calls({"output": items}), wanted, items, "function_call")


@settings(max_examples=200, deadline=None)
@given(anthropic_contents())
def test_anthropic_never_drops_a_block_that_may_be_a_call(drawn: tuple[list[Any], int]) -> None:
    items, wanted = drawn
    _check_calls(anthropic_calls({"role": "assistant", "content": items}), wanted, items, "tool_use")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(json_values, st.fixed_dictionaries({"type": misspelled("function")})), max_size=4),
       st.booleans())
def test_chat_completions_give_one_proposal_per_listed_call_and_for_a_legacy_call(tool_calls: list[Any],
                                                                                  legacy: bool) -> None:
    message: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": tool_calls}
    if legacy:
        message["function_call"] = {"name": "checkout", "arguments": "{}"}
    calls = openai_chat_calls(message)
    assert len(calls) == len(tool_calls) + legacy
    guard = _guard("retail")
    for call in calls[:len(tool_calls)]:
        assert guard.check(call.proposal).outcome is Outcome.ESCALATE
