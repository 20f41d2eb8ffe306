"""Field paths: parsing, type-checking against the intent/context/facts schemas, evaluation."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from txguard import PolicyError, compile_policy
from txguard.core.paths import (
    MISSING,
    Any_,
    PathSyntaxError,
    Step,
    check_mask_path,
    check_path,
    compile_path,
    dotted_steps,
    mask_steps,
    parse_path,
    parse_steps,
    render_steps,
    root_types,
)


def test_parse_steps() -> None:
    p = parse_path("facts.orders[intent.order_id].items[0]['price']")
    assert p.root == "facts"
    assert [s.op for s in p.steps] == ["attr", "ref", "attr", "index", "key"]
    assert p.steps[1].ref is not None and p.steps[1].ref.text == "intent.order_id"
    assert p.steps[3] == Step("index", 0)
    assert p.steps[4] == Step("key", "price")
    assert parse_path('facts.users["a b"]').steps[1] == Step("key", "a b")
    assert parse_path("intent.items[-1]").steps[1] == Step("index", -1)


@pytest.mark.parametrize(("text", "message"), [
    ("intent.", "expected a field name after `.` in path `intent.`"),
    ("intent..x", "expected a field name after `.` in path `intent..x`"),
    ("intent[", "unclosed `[` in path `intent[`"),
    ("intent.items[0", "expected `]` in path `intent.items[0`"),
    ("1abc", "path `1abc` must start with a name such as `intent`"),
    ("", "path `` must start with a name such as `intent`"),
    ("a b", "unexpected `b` in path `a b`"),
    ("intent $", "unexpected ` $` in path `intent $`"),
])
def test_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(PathSyntaxError) as info:
        parse_path(text)
    assert str(info.value) == message


CHECKOUT = root_types(["checkout"])


@pytest.mark.parametrize(("text", "want"), [
    ("intent.items[0].sku", str),
    ("intent.items[0].quantity", int),
    ("facts.orders[intent.payment_method_id].status", str),
    ("facts.products[intent.items[0].product_id].variants[intent.items[0].sku].price", Decimal),
    ("facts.products['x'].variants['y'].available", bool),
    ("facts.users[session.authenticated_user_id].payment_methods['p'].extra_info.anything.at.all", Any_),
])
def test_valid_paths_have_a_type(text: str, want: Any) -> None:
    types, problems = check_path(parse_path(text), CHECKOUT)
    assert problems == []
    assert types == [want]


@pytest.mark.parametrize(("text", "problem"), [
    ("intent.itemz", "path `intent.itemz`: `itemz` is not a field of Checkout (expected one of: alternatives, "
     "confidence, currency, items, kind, merchant, payment_method_id, shipping_address, total) (in Checkout)"),
    ("intent.items.sku", "path `intent.items.sku`: a list takes an index `[0]` here (in Checkout)"),
    ("intent.total.x", "path `intent.total.x`: cannot go further into a Decimal value (in Checkout)"),
    ("facts.orders.x", "path `facts.orders.x`: a mapping of records takes a lookup `[key]` here"),
    ("facts.order['x']", "path `facts.order['x']`: `order` is not a field here (expected one of: orders, products, users)"),
    ("nope.x", "`nope` is not a root (expected one of: facts, intent, request, session)"),
    ("request.budgett", "path `request.budgett`: `budgett` is not a field of Request (expected one of: budget, "
     "category, currency, options, product_type, quantity, text)"),
])
def test_typos_are_load_errors(text: str, problem: str) -> None:
    types, problems = check_path(parse_path(text), CHECKOUT)
    assert types == []
    assert problems == [problem]


def test_a_path_must_exist_in_every_kind_the_rule_applies_to() -> None:
    types, problems = check_path(parse_path("intent.order_id"), root_types(["cancel_order", "checkout"]))
    assert types == [str]
    assert len(problems) == 1 and "(in Checkout)" in problems[0]
    assert check_path(parse_path("intent.order_id"), root_types(["cancel_order", "refund"]))[1] == []


def test_a_reference_inside_brackets_is_checked_too() -> None:
    _, problems = check_path(parse_path("facts.orders[intent.ordr].status"), root_types(["cancel_order"]))
    assert len(problems) == 1 and problems[0].startswith("path `intent.ordr`: `ordr` is not a field of CancelOrder")


def test_bound_names_are_roots() -> None:
    roots = root_types(["checkout"], {"line": CHECKOUT["intent"][0].model_fields["items"].annotation})
    assert check_path(parse_path("line[0].sku"), roots)[1] == []


ENV = {
    "intent": {"order_id": "#1", "n": Decimal(2)},
    "facts": {"orders": {"#1": {"items": [{"price": 1}, {"price": 2}]}, "2": {"status": "x"}}},
}


@pytest.mark.parametrize(("text", "want"), [
    ("facts.orders[intent.order_id].items[-1].price", 2),
    ("facts.orders[intent.order_id].items[0]['price']", 1),
    ("facts.orders[intent.order_id].items[2].price", MISSING),
    ("facts.orders['#2'].items", MISSING),
    ("facts.orders[intent.missing].status", MISSING),
    # A Decimal used as a key is looked up by its text.
    ("facts.orders[intent.n].status", "x"),
    ("facts.orders[intent.order_id].items.price", MISSING),
    ("request.text", MISSING),
])
def test_evaluation_never_raises_and_gives_missing(text: str, want: Any) -> None:
    assert compile_path(parse_path(text))(ENV) == want


def test_missing_is_falsy_and_named() -> None:
    assert not MISSING
    assert repr(MISSING) == "MISSING"


# -- data paths: suite set/unset, tool mappings, audit masks --------------------------------------

def test_data_paths_parse_and_render() -> None:
    assert parse_steps("facts.orders['#W1'].items[0].price") == ("facts", "orders", "#W1", "items", 0, "price")
    assert parse_steps("facts.orders.#W1.status") == ("facts", "orders", "#W1", "status")
    assert parse_steps('proposal.arguments["a.b"][-1]') == ("proposal", "arguments", "a.b", -1)
    assert parse_steps("") == ()
    assert render_steps(("facts", "orders", "#W1", "items", 0)) == "facts.orders.#W1.items[0]"
    assert render_steps(("facts", "items", 0), brackets=False) == "facts.items.0"
    with pytest.raises(PathSyntaxError, match=r"cannot parse `\.a` in path `\.a`"):
        parse_steps(".a")
    with pytest.raises(PathSyntaxError, match=r"cannot parse `\.\.b` in path `a\.\.b`"):
        parse_steps("a..b")
    with pytest.raises(PathSyntaxError, match="must start with one of: proposal, request"):
        parse_steps("intent.total", ("proposal", "request"))


def test_tool_mapping_paths_are_dotted_names_only() -> None:
    assert dotted_steps("address.city") == ("address", "city")
    assert dotted_steps("total") == ("total",)
    for bad in ("items[0]", "a..b", "", "a['b']", "a."):
        with pytest.raises(PathSyntaxError):
            dotted_steps(bad)


def test_mask_paths_are_type_checked() -> None:
    assert mask_steps("intent.items[0].sku") == mask_steps("intent.items.0.sku") == ("intent", "items", "0", "sku")
    for ok in ("facts.users.*.email", "request.text", "session.authenticated_user_id", "proposal.anything.at.all",
               "intent.shipping_address.city", "facts.orders.*.items.*.price", "lineage.source.x", "intent.arguments.x"):
        assert check_mask_path(ok) is None, ok
    assert check_mask_path("request.txt") == (
        "mask path `request.txt`: nothing can exist at `request.txt` in any intent kind, context or facts record")
    assert check_mask_path("facts.users.*.emial") == (
        "mask path `facts.users.*.emial`: nothing can exist at `facts.users.*.emial` in any intent kind, context or "
        "facts record")
    assert check_mask_path("intent.items.sku") is not None  # a list takes an index or `*`
    assert check_mask_path("facts") == (
        "mask path `facts` names a whole section: name a field under it, such as `facts.<field>`")
    assert check_mask_path("ctx.x") == (
        "path `ctx.x` must start with one of: proposal, intent, request, session, facts, lineage")


def test_a_tool_mapping_source_that_is_not_a_dotted_path_is_a_located_load_error() -> None:
    text = ('apiVersion: txguard/v1\nid: t\nversion: "1"\ntools:\n  buy:\n    intent: checkout\n'
            "    fields: {total: 'cart[0].total', currency: cart.currency}\n")
    with pytest.raises(PolicyError) as info:
        compile_policy(text, "f.yaml")
    assert [str(d) for d in info.value.diagnostics] == [
        "f.yaml:7:21: txg-path: tools.buy.fields.total: path `cart[0].total` must be names separated by `.` "
        "(such as `address.city`)"]
