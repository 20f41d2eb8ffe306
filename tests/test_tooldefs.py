"""Tool definitions: each tool's argument schema says exactly what the guard accepts.

The two properties that matter: every real corpus tool call the guard maps validates against its
tool's schema, and an argument object generated from a schema is accepted by the tool mapping
(``ToolMap.build``) unless it breaks one of the cross-field rules the module documents as not
expressible in JSON Schema.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from txguard import CompiledPolicy, Guard, Outcome, compile_file, compile_policy
from txguard.cli import main
from txguard.core.context import Proposal
from txguard.policy.tooldefs import (
    FORMATS,
    ToolDefinitionError,
    argument_schemas,
    strict_compatible,
    tool_definitions,
)
from txguard.policy.tools import ProposalError

from .conftest import read_cases
from .helpers import CARD, POLICIES, ROOT
from .json_schema_strategy import from_schema

HEAD = 'apiVersion: txguard/v1\nid: t\nversion: "1"\n'

# Every mapping feature: a dotted source, a list `from` with nested element renames, a constant
# (the currency, so the money pattern is exact), a required optional field, an ignored argument.
BUY = HEAD + """\
tools:
  buy:
    intent: checkout
    description: Pay for the cart in US dollars.
    fields:
      payment_method_id: payment.method
      items: {from: cart, fields: {sku: variant_id, unit_price: price.amount}}
      total: amount
    constants: {currency: USD}
    required: [confidence]
    ignore: [session_token]
  move:
    intent: modify_order_address
    fields: {address.address1: street, address.city: town.name, address.state: town.state,
             address.country: country, address.zip: zip}
  swap:
    intent: exchange_items
    fields: {new_item_ids: replacements}
  refund_eur:
    intent: refund
    constants: {currency: JPY, reason: goodwill}
  add_eur:
    intent: add_to_cart
    fields: {items: {from: lines}}
    constants: {currency: EUR}
  ship_to_us:
    intent: checkout
    constants: {shipping_address.country: US}
  pay:                      # docs/policy-guide.md's example, and an ignored nested argument
    intent: checkout
    fields: {total: amount, payment_method_id: payment.method}
    ignore: [trace_id, payment.trace]
  lookup: {intent: read}
defaults: {checkout: allow, read: allow}
"""

SHIPPED = [POLICIES / "retail.yaml", POLICIES / "tau-retail.yaml", POLICIES / "retail-session.yaml",
           ROOT / "txguard" / "data" / "retail.yaml"]


@lru_cache(maxsize=None)
def _policy(name: str) -> CompiledPolicy:
    return compile_policy(BUY, file="buy.yaml") if name == "buy" else compile_file(name)


POLICY_NAMES = [str(p) for p in SHIPPED] + ["buy"]
TOOLS = [(p, t) for p in POLICY_NAMES for t in _policy(p).tools]


@lru_cache(maxsize=None)
def _schemas(name: str) -> dict[str, dict[str, Any]]:
    schemas = argument_schemas(_policy(name))
    for schema in schemas.values():
        jsonschema.Draft202012Validator.check_schema(schema)
    return schemas


def _validator(name: str, tool: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(_schemas(name)[tool])


# -- (a) every real tool call the guard maps validates ---------------------------------------------

def _corpus_calls() -> list[tuple[str, Any]]:
    calls = []
    for corpus in ("chat-to-buy-dev.jsonl.gz", "tau-retail-dev.jsonl.gz"):
        for case in read_cases(corpus):
            calls.append((case["proposal"]["name"], case["proposal"].get("arguments")))
            for confirmed in (case.get("session") or {}).get("confirmed") or ():
                if isinstance(confirmed, dict) and "name" in confirmed:
                    calls.append((confirmed["name"], confirmed.get("arguments")))
    return calls


CORPUS_CALLS = _corpus_calls()

# Refusals no JSON Schema of the arguments alone can foresee (see the module docstring).
CROSS_FIELD = {
    "exponent": re.compile(r"has more decimals than [A-Z]{3} allows"),
    "pairs": re.compile(r"item_ids has \d+ entries but new_item_ids has \d+"),
}


@pytest.mark.parametrize("name", POLICY_NAMES[:4])
def test_every_corpus_call_the_guard_maps_validates_against_its_tool_schema(name: str) -> None:
    policy = _policy(name)
    mapped = schema_refused = 0
    for tool, arguments in CORPUS_CALLS:
        if tool not in policy.tools:
            continue
        proposal = Proposal(name=tool, arguments=arguments)
        try:
            toolmap, args = policy.tool_arguments(proposal)
            toolmap.build(args)
        except ProposalError as exc:
            if exc.code == "malformed" and isinstance(arguments, (dict, str)):
                # The converse, where the schema can say it: a refused call does not validate.
                try:
                    parsed = policy.tool_arguments(proposal)[1]
                except ProposalError:
                    continue  # not a JSON object at all: no schema is asked
                if _validator(name, tool).is_valid(dict(parsed)):
                    assert any(p.search(exc.message) for p in CROSS_FIELD.values()), (tool, exc.message)
                else:
                    schema_refused += 1
            continue
        mapped += 1
        errors = [e.message for e in _validator(name, tool).iter_errors(dict(args))]
        assert errors == [], (tool, args, errors)
    assert mapped >= 500, name  # both corpora hold hundreds of calls of each policy's tools
    if "checkout" in policy.tools:
        assert schema_refused >= 1, name  # chat-to-buy's malformed variants: the schema refuses them too


# -- (b) what the schema admits, the mapping accepts ------------------------------------------------

def _allowed_refusals(name: str, tool: str) -> list[re.Pattern[str]]:
    """The documented cross-field rules that can refuse an argument object valid for this tool."""
    toolmap = _policy(name).tools[tool]
    allowed = []
    if "currency" not in toolmap.constants and toolmap.kind in ("checkout", "add_to_cart", "refund"):
        allowed.append(CROSS_FIELD["exponent"])
    if toolmap.kind in ("modify_order_items", "exchange_items"):
        allowed.append(CROSS_FIELD["pairs"])
    return allowed


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(st.sampled_from(TOOLS).flatmap(lambda pt: st.tuples(st.just(pt), from_schema(_schemas(pt[0])[pt[1]]))))
def test_arguments_valid_against_the_schema_are_accepted_by_the_mapping(drawn: tuple[tuple[str, str], Any]) -> None:
    (name, tool), arguments = drawn
    assert _validator(name, tool).is_valid(arguments)  # the generator keeps to the schema
    try:
        _policy(name).tools[tool].build(arguments)
    except ProposalError as exc:
        assert exc.code == "malformed"
        allowed = _allowed_refusals(name, tool)
        assert any(p.search(exc.message) for p in allowed), (tool, arguments, exc.message)


# -- the inversion, seen whole ----------------------------------------------------------------------

def test_the_mapping_is_inverted_into_the_arguments_the_agent_sends() -> None:
    schema = _schemas("buy")["buy"]
    props = schema["properties"]
    assert schema["additionalProperties"] is False
    # kind is fixed by the mapping; total and payment_method_id are filled from other arguments.
    assert sorted(props) == ["alternatives", "amount", "cart", "confidence", "currency", "merchant", "payment",
                             "session_token", "shipping_address"]
    assert sorted(schema["required"]) == ["amount", "cart", "confidence", "payment"]
    assert props["payment"] == {"type": "object", "properties": {"method": {"type": "string", "minLength": 1, "maxLength": 256}},
                                "required": ["method"], "additionalProperties": False}
    assert props["currency"]["const"] == "USD" and "currency" not in schema["required"]
    assert props["amount"]["pattern"] == r"^[0-9]{1,15}(\.[0-9]{1,2})?$"  # the fixed currency's exponent
    assert props["confidence"] == {"type": "number", "minimum": 0, "maximum": 1,
                                   "description": props["confidence"]["description"]}  # required: not null
    assert props["session_token"] == {"description": "Not read by the guard: any value."}
    element = props["cart"]["items"]
    assert props["cart"]["minItems"] == 1 and element["additionalProperties"] is False
    assert sorted(element["properties"]) == ["category", "price", "product_id", "quantity", "title", "variant_id"]
    assert element["properties"]["price"]["properties"]["amount"]["pattern"] == r"^[0-9]{1,15}(\.[0-9]{1,2})?$"
    assert sorted(element["required"]) == ["price", "product_id", "quantity", "title", "variant_id"]
    # The ids of the money strings are not the currency's: no internal marker leaks.
    assert "x-txguard" not in json.dumps(_schemas("buy"))


def test_an_ignored_argument_may_sit_beside_a_nested_source() -> None:
    schema = _schemas("buy")["pay"]
    assert schema["properties"]["trace_id"] == {"description": "Not read by the guard: any value."}
    payment = schema["properties"]["payment"]
    assert sorted(payment["properties"]) == ["method", "trace"] and payment["required"] == ["method"]


def test_flat_and_nested_sources_of_a_nested_target() -> None:
    schema = _schemas("buy")["move"]
    assert sorted(schema["properties"]) == ["country", "order_id", "street", "town", "zip"]  # address2 unreachable
    assert sorted(schema["required"]) == ["country", "order_id", "street", "town", "zip"]
    town = schema["properties"]["town"]
    assert town["additionalProperties"] is False and sorted(town["required"]) == ["name", "state"]


def test_a_constant_of_a_zero_exponent_currency_allows_no_decimals() -> None:
    schema = _schemas("buy")["refund_eur"]
    assert schema["properties"]["amount"]["pattern"] == r"^[0-9]{1,15}$"
    assert schema["properties"]["reason"]["const"] == "goodwill"
    guard = _policy("buy").tools["refund_eur"]
    assert guard.build({"order_id": "#W1", "amount": "1500", "payment_method_id": CARD}).amount == 1500  # type: ignore[attr-defined]
    with pytest.raises(ProposalError):
        guard.build({"order_id": "#W1", "amount": "1500", "payment_method_id": CARD, "reason": "other"})
    assert not _validator("buy", "refund_eur").is_valid({"order_id": "#W1", "amount": "15.5", "payment_method_id": CARD})


def test_a_read_only_tool_accepts_any_object() -> None:
    assert _schemas("buy")["lookup"] == {"type": "object"}
    assert _schemas(str(POLICIES / "tau-retail.yaml"))["think"] == {"type": "object"}


def test_a_mapping_whose_source_is_both_a_value_and_an_object_has_no_schema(tmp_path: Path) -> None:
    text = HEAD + "tools:\n  t:\n    intent: refund\n    fields: {amount: a, order_id: a.b}\n"
    policy = compile_policy(text)
    with pytest.raises(ToolDefinitionError, match=r"tool `t`: argument `a` of `a.b` is both a value and an object"):
        argument_schemas(policy)
    # ... and the guard refuses every call of it, whichever shape `a` has.
    for a in ("5.00", {"b": "#W1"}):
        assert Guard(policy).check({"name": "t", "arguments": {"a": a, "currency": "USD",
                                                                  "payment_method_id": CARD}}).outcome is Outcome.ESCALATE
    path = tmp_path / "conflict.yaml"
    path.write_text(text)
    code, out, err = _run("tools", "--policy", str(path))
    assert (code, out) == (3, "")
    assert err == f"{path}: tool `t`: argument `a` of `a.b` is both a value and an object\n"


@pytest.mark.parametrize(("tool", "message"), [
    ("    intent: modify_order_address\n    fields: {address.address1: street}\n",
     "tool `t`: intent field `address.city` is required, but the mapping fills it from no argument: the guard refuses every call"),
    ("    intent: checkout\n    fields: {items: {from: cart, fields: {sku: variant_id, title: product_id}}}\n",
     "tool `t`: each element's field `product_id` is required, but the mapping fills it from no argument: the guard refuses every call"),
])
def test_a_required_field_no_argument_fills_has_no_schema(tool: str, message: str) -> None:
    policy = compile_policy(HEAD + "tools:\n  t:\n" + tool)
    with pytest.raises(ToolDefinitionError) as exc:
        argument_schemas(policy)
    assert str(exc.value) == message


def test_a_constant_under_an_optional_parent_makes_the_parent_required() -> None:
    policy = compile_policy(HEAD + "tools:\n  t:\n    intent: checkout\n    constants: {shipping_address.country: US}\n")
    schema = argument_schemas(policy)["t"]
    assert "shipping_address" in schema["required"]
    address = schema["properties"]["shipping_address"]
    assert address["type"] == "object" and "country" not in address["required"]
    assert address["properties"]["country"]["const"] == "US"


# -- formats ----------------------------------------------------------------------------------------

def test_each_format_has_its_shape() -> None:
    policy = _policy("buy")
    schemas = argument_schemas(policy)
    openai, anthropic, mcp = (tool_definitions(policy, f) for f in FORMATS)
    assert [d["function"]["name"] for d in openai] == [d["name"] for d in anthropic] == [d["name"] for d in mcp] == list(schemas)
    for o, a, m in zip(openai, anthropic, mcp):
        name = a["name"]
        assert set(o) == {"type", "function"} and o["type"] == "function"
        assert set(o["function"]) == {"name", "description", "parameters", "strict"}
        assert o["function"]["parameters"] == a["input_schema"] == m["inputSchema"] == schemas[name]
        assert o["function"]["strict"] is strict_compatible(schemas[name])
        assert set(a) == {"name", "description", "input_schema"} and set(m) == {"name", "description", "inputSchema"}
        assert o["function"]["description"] == a["description"] == m["description"]
    described = {d["name"]: d["description"] for d in anthropic}
    assert described["buy"] == "Pay for the cart in US dollars."  # the policy's own description
    assert "intent `modify_order_address`" in described["move"] and described["move"].startswith("Change the shipping address")
    assert "read-only" in described["lookup"]
    with pytest.raises(ValueError, match="unknown tool format `gemini`"):
        tool_definitions(policy, "gemini")  # type: ignore[arg-type]
    assert [d["name"] for d in tool_definitions(policy, "mcp", ["swap", "buy"])] == ["swap", "buy"]


def test_strict_is_claimed_only_when_the_schema_meets_strict_mode() -> None:
    closed: dict[str, Any] = {"type": "object", "additionalProperties": False, "required": ["a", "b"],
              "properties": {"a": {"type": "string", "pattern": "^x$"},
                             "b": {"anyOf": [{"type": "array", "items": {"type": "integer", "minimum": 0}}, {"type": "null"}]}}}
    assert strict_compatible(closed)
    assert not strict_compatible({**closed, "required": ["a"]})  # an optional property
    assert not strict_compatible({**closed, "additionalProperties": True})
    assert not strict_compatible({**closed, "properties": {**closed["properties"], "b": {"type": "string", "maxLength": 3}}})
    assert not strict_compatible({**closed, "properties": {**closed["properties"], "b": {}}})  # untyped
    assert not strict_compatible({"type": "object"})  # a read-only tool's open object
    # The shipped tools have optional fields or length bounds: none is claimed strict.
    for d in tool_definitions(_policy(str(POLICIES / "tau-retail.yaml")), "openai"):
        assert d["function"]["strict"] is False


# -- CLI --------------------------------------------------------------------------------------------

def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def test_cli_tools_prints_the_definitions() -> None:
    tau = str(POLICIES / "tau-retail.yaml")
    for fmt in FORMATS:
        code, out, err = _run("tools", "--policy", tau, "--format", fmt)
        assert (code, err) == (0, "")
        assert json.loads(out) == tool_definitions(_policy(tau), fmt)
    code, out, _ = _run("tools", "--policy", tau, "--tool", "cancel_pending_order", "--tool", "think")
    assert [d["function"]["name"] for d in json.loads(out)] == ["cancel_pending_order", "think"]
    code, out, err = _run("tools", "--policy", tau, "--tool", "buy")
    assert (code, out) == (1, "") and err.startswith("txguard tools: tool `buy` is not mapped by policy `tau-retail`")


def test_cli_schema_with_a_policy_prints_each_tool_argument_schema() -> None:
    retail = str(POLICIES / "retail.yaml")
    code, out, err = _run("schema", "--policy", retail)
    assert (code, err) == (0, "")
    assert json.loads(out) == argument_schemas(_policy(retail))
    code, out, _ = _run("schema")
    assert code == 0 and json.loads(out)["$id"].endswith("policy-v1.json")
    code, out, _ = _run("schema", "intent")
    assert code == 0 and "Checkout" in json.loads(out)["$defs"]
    code, out, err = _run("schema", "policy", "--policy", retail)
    assert (code, out) == (1, "") and "not both" in err
    code, out, err = _run("schema", "intent", "--policy", retail)  # the policy's kinds: the shipped ten
    assert (code, err) == (0, "") and sorted(json.loads(out)) == sorted(_policy(retail).domain.kinds)
    assert json.loads(out)["checkout"]["properties"]["kind"] == {"const": "checkout", "type": "string"}


def test_cli_reports_an_invalid_policy_with_its_location(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(HEAD + "tools:\n  t: {intent: refund, fields: {amout: a}}\n")
    for argv in (("tools", "--policy", str(path)), ("schema", "--policy", str(path))):
        code, out, err = _run(*argv)
        assert (code, out) == (3, "")
        assert err.startswith(f"{path}:5:") and "txg-path" in err and "`amout` is not a field of intent `refund`" in err
