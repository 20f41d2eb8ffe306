"""Compile: tool mapping (nested fields, constants, required), extends (tighten only), the index."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from txguard import CompiledPolicy, Guard, Outcome, PolicyError, compile_file, compile_policy
from txguard.policy.compile import STAGES, compile_document
from txguard.policy.load import load_yaml

from .helpers import CARD, POLICIES, RETAIL, checkout_args, envelope, facts, line

HEAD = 'apiVersion: txguard/v1\nid: t\nversion: "1"\n'

BUY = HEAD + """\
tools:
  buy:
    intent: checkout
    fields:
      payment_method_id: payment.method
      items: {from: cart, fields: {sku: variant_id, unit_price: price.amount}}
      total: amount
    constants: {currency: USD}
    required: [confidence]
    ignore: [session_token]
  lookup: {intent: read}
defaults: {checkout: allow, read: allow}
"""


def buy_args(**change: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "cart": [{"variant_id": "S-COF-1", "product_id": "P-COF", "title": "Coffee Maker", "quantity": 1,
                  "price": {"amount": "120.00"}}],
        "amount": "120.00",
        "payment": {"method": CARD},
        "confidence": 0.9,
        "session_token": "opaque",
    }
    args.update(change)
    return {k: v for k, v in args.items() if v is not None}


def test_tool_mapping_with_nested_fields_constants_and_ignore() -> None:
    d = Guard.from_text(BUY).check({"name": "buy", "arguments": buy_args()})
    assert d.outcome is Outcome.ALLOW
    assert d.intent is not None
    assert d.intent.model_dump(mode="json", exclude_none=True) == {
        "kind": "checkout",
        "items": [{"sku": "S-COF-1", "product_id": "P-COF", "title": "Coffee Maker", "quantity": 1,
                   "unit_price": "120.00"}],
        "total": "120.00",
        "currency": "USD",
        "payment_method_id": CARD,
        "confidence": "0.9",
        "alternatives": [],
    }


@pytest.mark.parametrize(("change", "message"), [
    ({"currency": "EUR"}, "argument `currency` is `EUR`, but the tool fixes it to `USD`"),
    ({"confidence": None}, "required field `confidence` is missing"),
    ({"total": "1"}, "argument `total` is given twice (directly and by the mapping)"),
    ({"cart": 3}, "argument `cart` must be a list"),
    ({"cart": [1]}, "each entry of `cart` must be an object"),
    ({"coupon": "FREE"}, "argument `coupon` is not named by the mapping of tool `buy` (not a field of intent `checkout`; a policy can `ignore` it)"),
    ({"kind": "refund"}, "argument `kind` is not named by the mapping of tool `buy` (the mapping fixes the intent kind to `checkout`)"),
    ({"amount": None, "total": "1"}, "argument `total` is not named by the mapping of tool `buy` (it fills `total` from `amount`)"),
    ({"cart": [{"variant_id": "S", "product_id": "P", "title": "T", "quantity": 0, "price": {"amount": "1"}}]},
     "items[0].quantity: Input should be greater than or equal to 1; "
     "items: Tuple should have at least 1 item after validation, not 0"),
])
def test_tool_mapping_rejects_with_a_readable_message(change: dict[str, Any], message: str) -> None:
    d = Guard.from_text(BUY).check({"name": "buy", "arguments": buy_args(**change)})
    assert d.outcome is Outcome.ESCALATE
    assert [(r.code, r.message) for r in d.reasons] == [("malformed", message)]


def test_a_line_key_the_mapping_fills_from_another_key_is_refused() -> None:
    cart = buy_args()["cart"]
    for extra, message in [
        ({"sku": "S-ESP-1"}, "argument `cart[].sku` is given twice (directly and by the mapping)"),
        ({"sku": "S-COF-1", "variant_id": None},
         "argument `cart[].sku` is not named by the mapping of tool `buy` (it fills `sku` from another argument)"),
    ]:
        line = {**cart[0], **extra}
        d = Guard.from_text(BUY).check({"name": "buy", "arguments": buy_args(cart=[{k: v for k, v in line.items() if v is not None}])})
        assert [(r.code, r.message) for r in d.reasons] == [("malformed", message)]


TAU_ADDRESS = {"order_id": "#W100", "address1": "5 Pine Lane", "address2": "", "city": "Austin", "state": "TX",
               "country": "USA", "zip": "78702"}


@pytest.mark.parametrize(("arguments", "message"), [
    # The mapped flat fields replaced by a nested object the executor would read instead.
    ({"order_id": "#W100", "address": {k: v for k, v in TAU_ADDRESS.items() if k != "order_id"}},
     "argument `address` is not named by the mapping of tool `modify_pending_order_address` (it fills `address` from "
     "`address1`, `address2`, `city`, `state`, `country`, `zip`)"),
    ({**TAU_ADDRESS, "kind": "cancel_order"},
     "argument `kind` is not named by the mapping of tool `modify_pending_order_address` (the mapping fixes the intent "
     "kind to `modify_order_address`)"),
    ({**TAU_ADDRESS, "address3": "Apt 9"},
     "argument `address3` is not named by the mapping of tool `modify_pending_order_address` (not a field of intent "
     "`modify_order_address`; a policy can `ignore` it)"),
])
def test_an_argument_the_tau_mapping_does_not_name_is_refused(arguments: dict[str, Any], message: str) -> None:
    d = Guard.from_file(POLICIES / "tau-retail.yaml").check({"name": "modify_pending_order_address", "arguments": arguments})
    assert [(r.code, r.message) for r in d.reasons] == [("malformed", message)]


def test_an_ignored_argument_is_accepted_and_never_reaches_the_intent() -> None:
    d = Guard.from_text(BUY).check({"name": "buy", "arguments": buy_args()})
    assert d.allowed and d.intent is not None and "session_token" not in d.intent.model_dump()
    without = BUY.replace("    ignore: [session_token]\n", "")
    d = Guard.from_text(without).check({"name": "buy", "arguments": buy_args()})
    assert [(r.code, r.message) for r in d.reasons] == [("malformed", "argument `session_token` is not named by the "
                                                        "mapping of tool `buy` (not a field of intent `checkout`; a "
                                                        "policy can `ignore` it)")]


def test_a_constant_given_with_the_same_value_is_fine() -> None:
    assert Guard.from_text(BUY).check({"name": "buy", "arguments": buy_args(currency="USD")}).allowed


def test_read_only_tools() -> None:
    g = Guard.from_text(BUY)
    assert g.check({"name": "lookup", "arguments": None}).allowed
    assert g.check({"name": "lookup", "arguments": {"q": "coffee"}}).allowed
    assert g.check({"name": "lookup", "arguments": "[1]"}).codes == ("malformed",)


@pytest.mark.parametrize(("tool", "message"), [
    ("    fields: {itemz: x}\n",
     "f.yaml:7:21: txg-path: tools.buy.fields.itemz: `itemz` is not a field of intent `checkout` (expected one of: "
     "alternatives, confidence, currency, items, merchant, payment_method_id, shipping_address, total)"),
    ("    constants: {kind: refund}\n",
     "f.yaml:7:23: txg-path: tools.buy.constants.kind: `kind` is not a field of intent `checkout` (expected one of: "
     "alternatives, confidence, currency, items, merchant, payment_method_id, shipping_address, total)"),
    ("    required: [confidence, nope]\n",
     "f.yaml:7:28: txg-path: tools.buy.required[1]: `nope` is not a field of intent `checkout` (expected one of: "
     "alternatives, confidence, currency, items, merchant, payment_method_id, shipping_address, total)"),
    ("    fields:\n      items: {from: cart, fields: {skux: variant_id, sku: id}}\n",
     "f.yaml:8:42: txg-path: tools.buy.fields.items.fields.skux: `skux` is not a field of LineItem (expected one of: "
     "category, product_id, quantity, sku, title, unit_price)"),
    ("    ignore: [note, merchant]\n",
     "f.yaml:7:20: txg-param: tools.buy.ignore[1]: `merchant` is a field of intent `checkout`: an ignored argument "
     "must be one the decision never needs"),
    ("    fields: {total: amount}\n    ignore: [amount]\n",
     "f.yaml:8:14: txg-param: tools.buy.ignore[0]: `amount` is read by the mapping: an ignored argument "
     "must be one the decision never needs"),
])
def test_tool_mapping_typos_are_located_load_errors(tool: str, message: str) -> None:
    with pytest.raises(PolicyError) as info:
        compile_policy(HEAD + "tools:\n  buy:\n    intent: checkout\n" + tool, "f.yaml")
    assert [str(d) for d in info.value.diagnostics] == [message]


def test_duplicate_rule_ids() -> None:
    text = HEAD + "rules:\n  - {id: a, check: budget}\n  - {id: a, check: total}\n"
    with pytest.raises(PolicyError) as info:
        compile_policy(text, "f.yaml")
    assert str(info.value) == "f.yaml:6:10: txg-duplicate: rules[1](a).id: rule id `a` is already used by rules[0]"


def test_a_rule_has_check_or_when() -> None:
    text = HEAD + "rules:\n  - {id: a}\n"
    with pytest.raises(PolicyError) as info:
        compile_policy(text, "f.yaml")
    assert str(info.value) == "f.yaml:5:5: txg-schema: rules[0](a): a rule has exactly one of `check` or `when`"


def test_unknown_policy_currency_and_unreadable_taxonomy() -> None:
    text = HEAD + "currency: ABC\ncategories: {taxonomy: nope.txt, product_types: {X: 1}}\n"
    with pytest.raises(PolicyError) as info:
        compile_policy(text, "f.yaml", POLICIES)
    assert [str(d) for d in info.value.diagnostics] == [
        "f.yaml:4:11: txg-param: currency: unknown currency `'ABC'`: expected an ISO 4217 code such as `USD`",
        "f.yaml:5:24: txg-io: categories.taxonomy: cannot read taxonomy `nope.txt`: No such file or directory",
        "f.yaml:5:53: txg-param: categories.product_types.X: product_types need a `taxonomy` file",
    ]


def test_compile_file_errors() -> None:
    with pytest.raises(PolicyError) as info:
        compile_file("/nonexistent/p.yaml")
    assert str(info.value) == "/nonexistent/p.yaml:1:1: txg-io: cannot read the policy: No such file or directory"


def test_compiled_policy_index_and_identity() -> None:
    policy = compile_file(RETAIL)
    assert isinstance(policy, CompiledPolicy)
    assert (policy.id, policy.version, policy.currency) == ("retail", "1.0.0", "USD")
    assert policy.digest.startswith("sha256:")
    assert policy.ref.to_dict() == {"id": "retail", "version": "1.0.0", "digest": policy.digest}
    checkout_rules = [r.id for r in policy.by_kind["checkout"]]
    # Preconditions first, in the order of PRECONDITIONS (item_exists provides `lines`,
    # payment_method `method`), then by id.
    assert checkout_rules[:2] == ["known-sku", "payment-method"]
    assert checkout_rules[2:] == sorted(checkout_rules[2:])
    assert [r.id for r in policy.by_kind["cancel_order"]] == ["authentication", "consent"]


def test_compile_stages_run_in_order_and_are_timed() -> None:
    assert [name for name, _ in STAGES] == ["schema", "extends", "domain", "tools", "categories", "audit", "rules", "index"]
    doc, errors = load_yaml(RETAIL.read_text(), str(RETAIL))
    assert doc is not None and not errors
    timings: dict[str, float] = {}
    compile_document(doc, POLICIES, timings=timings)
    assert list(timings) == [name for name, _ in STAGES]
    assert all(t >= 0 for t in timings.values())
    # A schema error stops the compilation at its stage: nothing after it ran.
    bad, _ = load_yaml("apiVersion: txguard/v1\nid: x\nversion: 1\nrules: [{id: r, check: nope}]\n", "bad.yaml")
    assert bad is not None
    timings = {}
    with pytest.raises(PolicyError):
        compile_document(bad, POLICIES, timings=timings)
    assert timings == {}


def test_the_same_text_compiles_to_the_same_digest() -> None:
    text = RETAIL.read_text()
    assert compile_policy(text, "a.yaml", POLICIES).digest == compile_policy(text, "b.yaml", POLICIES).digest
    changed = text.replace('max: {USD: "1000.00"}', 'max: {USD: "999.99"}')
    assert changed != text
    assert compile_policy(changed, "a.yaml", POLICIES).digest != compile_policy(text, "a.yaml", POLICIES).digest


# -- extends ---------------------------------------------------------------------------------------

@pytest.fixture()
def platform(tmp_path: Path) -> Path:
    """A base policy (the shipped retail one) in its own folder, with its taxonomy beside it."""
    base = tmp_path / "platform"
    (base / "taxonomy").mkdir(parents=True)
    shutil.copy(RETAIL, base / "base.yaml")
    shutil.copy(POLICIES / "taxonomy" / "taxonomy-with-ids.en-US.txt", base / "taxonomy")
    (tmp_path / "teams").mkdir()
    return tmp_path


def child(root: Path, body: str) -> Path:
    path = root / "teams" / "child.yaml"
    path.write_text('apiVersion: txguard/v1\nid: child\nversion: "1"\nextends: ../platform/base.yaml\n' + body)
    return path


def test_extends_adds_rules_and_tightens(platform: Path) -> None:
    team = Guard.from_file(child(platform, 'rules:\n  - id: team-cap\n    check: price_cap\n'
                                          '    params: {max: {USD: "200.00"}}\n'), extends_root=platform)
    base = Guard.from_file(platform / "platform" / "base.yaml")
    assert "team-cap" in [r.id for r in team.policy.rules]
    assert {r.id for r in base.policy.rules} < {r.id for r in team.policy.rules}
    cheap = envelope(checkout_args(line()))
    dear = envelope(checkout_args(line(quantity=2)))
    assert base.check_envelope(cheap).allowed and team.check_envelope(cheap).allowed
    assert base.check_envelope(dear).allowed
    assert team.check_envelope(dear).codes == ("price_cap",)
    # The base's taxonomy is found relative to the base, not to the team's folder.
    coffee = envelope(checkout_args(line()), request={"category": 736})
    assert team.independent().check_envelope(coffee).allowed  # `cheap`'s confirmation was used above


def test_reload_and_shadow_paths_extend_under_the_guards_root(platform: Path) -> None:
    path = child(platform, 'rules:\n  - id: team-cap\n    check: price_cap\n    params: {max: {USD: "200.00"}}\n')
    team = Guard.from_file(path, extends_root=platform, shadow=path)
    assert team.shadow is not None and "team-cap" in [r.id for r in team.shadow.rules]
    assert team.reload(path).digest == team.policy.digest
    with pytest.raises(PolicyError, match="txg-extends"):
        Guard(team.policy).reload(path)  # no root given: the base is outside the child's folder


def test_extends_tightens_a_default(platform: Path) -> None:
    team = Guard.from_file(child(platform, "defaults: {checkout: clarify, refund: escalate}\n"), extends_root=platform)
    assert team.policy.defaults["checkout"] is Outcome.CLARIFY


@pytest.mark.parametrize(("body", "messages"), [
    ("defaults: {add_to_cart: allow, checkout: allow}\n", []),
    ("defaults: {cancel_order: allow}\n",
     ["child.yaml:5:26: txg-extends: defaults.cancel_order: the base policy escalates `cancel_order` (not in its "
      "defaults): a policy can only tighten its base"]),
    ("rules:\n  - {id: platform-cap, check: price_cap, params: {max: {USD: '5000'}}}\n",
     ["child.yaml:6:10: txg-extends: rules[0](platform-cap).id: rule `platform-cap` is defined by the base policy: "
      "add a rule with a new id to tighten it"]),
    ("currency: EUR\n",
     ["child.yaml:5:11: txg-extends: currency: a policy cannot change the currency of its base"]),
    ("tools:\n  checkout: {intent: checkout}\n",
     ["child.yaml:6:13: txg-extends: tools.checkout: tool `checkout` is mapped by the base policy and cannot be "
      "remapped"]),
    ("categories:\n  synonyms: {Coffee Maker: [espresso machine]}\n",
     ["child.yaml:6:13: txg-extends: categories.synonyms: the base policy's category rule reads "
      "`categories.synonyms`: a policy cannot change it"]),
])
def test_extends_cannot_loosen(platform: Path, body: str, messages: list[str]) -> None:
    path = child(platform, body)
    if not messages:
        compile_file(path, extends_root=platform)
        return
    with pytest.raises(PolicyError) as info:
        compile_file(path, extends_root=platform)
    assert [str(d).replace(str(path), "child.yaml") for d in info.value.diagnostics] == messages


def test_extends_loosening_a_default(platform: Path) -> None:
    (platform / "platform" / "base.yaml").write_text(
        RETAIL.read_text().replace("  checkout: allow\n", "  checkout: clarify\n"))
    path = child(platform, "defaults: {checkout: allow}\n")
    with pytest.raises(PolicyError) as info:
        compile_file(path, extends_root=platform)
    assert [str(d).replace(str(path), "child.yaml") for d in info.value.diagnostics] == [
        "child.yaml:5:22: txg-extends: defaults.checkout: `allow` is looser than the base policy's `clarify`: "
        "a policy can only tighten its base"]


def test_synonyms_could_let_an_espresso_machine_through(platform: Path) -> None:
    # Why the synonym rule exists: without it, this team policy would allow what its base clarifies.
    base = Guard.from_file(platform / "platform" / "base.yaml")
    espresso = envelope(checkout_args(line("S-ESP-1", "P-ESP", "Espresso Machine", 1, "899.99")),
                        request={"product_type": "Coffee Maker"})
    assert base.check_envelope(espresso).codes == ("category",)


def test_extends_errors_for_missing_cyclic_and_invalid_bases(tmp_path: Path) -> None:
    head = 'apiVersion: txguard/v1\nid: c\nversion: "1"\n'
    missing = tmp_path / "missing.yaml"
    missing.write_text(head + "extends: nowhere.yaml\n")
    with pytest.raises(PolicyError) as info:
        compile_file(missing)
    assert [d.code for d in info.value.diagnostics] == ["txg-io"]
    assert "cannot read base policy `nowhere.yaml`: No such file or directory" in str(info.value)

    cyclic = tmp_path / "cyclic.yaml"
    cyclic.write_text(head + "extends: cyclic.yaml\n")
    with pytest.raises(PolicyError) as info:
        compile_file(cyclic)
    assert str(info.value) == f"{cyclic}:4:10: txg-extends: extends: `cyclic.yaml` extends itself (a cycle)"

    bad_base = tmp_path / "bad.yaml"
    bad_base.write_text(head + "rules: 3\n")
    team = tmp_path / "team.yaml"
    team.write_text(head + "extends: bad.yaml\n")
    with pytest.raises(PolicyError) as info:
        compile_file(team)
    assert [str(d) for d in info.value.diagnostics] == [
        f"{bad_base}:4:8: txg-schema: rules: expected a list, got `3`",
        f"{team}:4:10: txg-extends: extends: base policy `bad.yaml` does not load",
    ]


def test_facts_helper_is_a_deep_copy() -> None:
    f = facts()
    f["users"].clear()
    assert facts()["users"]


def test_rules_of_a_base_policy_keep_their_own_location(tmp_path: Path) -> None:
    child = tmp_path / "team.yaml"
    child.write_text(
        "apiVersion: txguard/v1\nid: team\nversion: 1\n"
        f"extends: {RETAIL}\n"
        "rules:\n  - id: big-gift\n    kinds: [checkout]\n    when: {path: intent.total, gt: \"500\"}\n",
        encoding="utf-8",
    )
    policy = compile_file(child, extends_root=RETAIL.parent)
    where = {r.id: r.location for r in policy.rules}
    assert where["big-gift"] == (str(child), 6, 5)
    lines = RETAIL.read_text(encoding="utf-8").splitlines()
    file, line, col = where["platform-cap"]
    assert file == str(RETAIL) and lines[line - 1][col - 1:] == "id: platform-cap"


# -- extends reads only policy files under the allowed root ------------------------------------------

SECRET = "hunter2-do-not-print"


@pytest.fixture()
def secrets(tmp_path: Path) -> Path:
    """A policy folder with a secret beside it, above it and inside it (as non-policy files)."""
    folder = tmp_path / "policies"
    (folder / "team").mkdir(parents=True)
    shutil.copy(RETAIL, folder / "base.yaml")
    shutil.copytree(POLICIES / "taxonomy", folder / "taxonomy")
    for name in (".env", "secrets.yaml", "notes.txt", ".hidden.yaml"):
        (folder / name).write_text(f"DB_PASSWORD: {SECRET}\n", encoding="utf-8")
    (tmp_path / "outside.yaml").write_text(f"password: {SECRET}\n", encoding="utf-8")
    (folder / "team" / "link.yaml").symlink_to(tmp_path / "outside.yaml")
    return folder


@pytest.mark.parametrize(("where", "name", "why"), [
    (".", "../outside.yaml", "is outside"),
    (".", "{outside}", "is outside"),
    ("team", "../../outside.yaml", "is outside"),
    ("team", "link.yaml", "is outside"),  # a symbolic link is followed to where the file really is
    (".", ".env", "is not a policy file"),
    (".", "notes.txt", "is not a policy file"),
    (".", ".hidden.yaml", "is not a policy file"),
    (".", "secrets.yaml", "is not a txguard policy"),
    ("team", "../base.yaml", "is outside"),  # the base is above the team's folder: not allowed by default
])
def test_extends_reads_only_policy_files_under_the_root_and_never_shows_them(
        secrets: Path, where: str, name: str, why: str) -> None:
    name = name.format(outside=secrets.parent / "outside.yaml")
    path = secrets / where / "child.yaml"
    path.write_text(f'apiVersion: txguard/v1\nid: c\nversion: "1"\nextends: {name}\n', encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        compile_file(path)
    assert SECRET not in str(info.value)
    assert [d.code for d in info.value.diagnostics] == ["txg-extends"]
    assert str(info.value).startswith(f"{path}:4:10: txg-extends: extends: `{name}` {why}")


def test_an_allowed_root_lets_a_team_extend_a_base_above_its_folder(secrets: Path) -> None:
    path = secrets / "team" / "child.yaml"
    path.write_text('apiVersion: txguard/v1\nid: c\nversion: "1"\nextends: ../base.yaml\n', encoding="utf-8")
    assert compile_file(path, extends_root=secrets).id == "c"
    assert Guard.from_file(path, extends_root=secrets).policy.id == "c"
    # The root bounds the whole chain: the base's own `extends` is held to it too.
    (secrets / "base.yaml").write_text(RETAIL.read_text(encoding="utf-8") + "extends: ../outside.yaml\n",
                                       encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        compile_file(path, extends_root=secrets)
    assert "is outside" in str(info.value) and SECRET not in str(info.value)
