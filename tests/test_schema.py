"""The policy JSON Schema and its located, one-line error messages (exact text)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from txguard import PolicyError, compile_policy, intent_schema, policy_schema
from txguard.core.errors import MAX_DIAGNOSTICS

HEAD = 'apiVersion: txguard/v1\nid: t\nversion: "1"\n'


def errors_of(text: str) -> list[str]:
    with pytest.raises(PolicyError) as info:
        compile_policy(text, "f.yaml")
    return [str(d) for d in info.value.diagnostics]


CHECKS = "`ambiguity`, `authentication`, `availability`, `balance`, `budget`, `catalog_price`, `category`, " \
    "`consent`, `item_exists`, `noop`, `order_exists`, `order_status`, `ownership`, `payment_method`, " \
    "`price_cap`, `quantity`, `refund_destination`, `same_product`, `total`"


@pytest.mark.parametrize(("text", "want"), [
    # The float 12.5 is neither a decimal string nor an integer.
    (HEAD + "defaults:\n  checkout: allow\nrules:\n  - id: cap\n    check: price_cap\n    params: {max: {USD: 12.5}}\n",
     'f.yaml:9:25: txg-schema: rules[0](cap).params.max.USD: expected a decimal amount such as `"12.50"`, got `12.5`'),
    (HEAD + 'rules:\n  - id: cap\n    check: price_cap\n    params:\n      max: {USD: "12,50"}\n',
     'f.yaml:8:18: txg-schema: rules[0](cap).params.max.USD: expected a decimal amount such as `"12.50"`, got `"12,50"`'),
    (HEAD + "rules:\n  - id: cap\n    check: price_cap\n    params: {max: {USD: -1}}\n",
     "f.yaml:7:25: txg-schema: rules[0](cap).params.max.USD: expected a number at least 0, got `-1`"),
    ("apiVersion: txguard/v1\nid: t\n", "f.yaml:1:1: txg-schema: (document): missing required key `version`"),
    (HEAD + "rules:\n  - id: x\n    check: nope\n",
     f'f.yaml:6:12: txg-schema: rules[0](x).check: expected one of {CHECKS}, got `"nope"`'),
    (HEAD + "rules:\n  - id: x\n    check: budget\n    outcome: allow\n",
     'f.yaml:7:14: txg-schema: rules[0](x).outcome: expected one of `clarify`, `escalate`, got `"allow"`'),
    (HEAD + "rules:\n  - id: x\n    check: budget\n    param: {}\n",
     "f.yaml:7:12: txg-schema: rules[0](x).param: unknown key `param` (expected one of: check, code, description, "
     "id, kinds, message, outcome, params, question, route, when)"),
    (HEAD + "rules:\n  - id: x\n    when: {path: intent.total, gt: 5, foo: 1}\n",
     "f.yaml:6:44: txg-schema: rules[0](x).when.foo: unknown key `foo` (expected one of: all, any, as, default, endswith, eq, "
     "exists, for_each, ge, gt, ieq, in, ine, le, lt, ne, not, not_in, on_missing, path, startswith, value)"),
    (HEAD + "rules:\n  - id: x\n    check: ambiguity\n    params: {min_confidence: 1.5}\n",
     "f.yaml:7:30: txg-schema: rules[0](x).params.min_confidence: expected a number at most 1, got `1.5`"),
    (HEAD + "rules: {}\n", "f.yaml:4:8: txg-schema: rules: expected a list, got `{}`"),
    (HEAD + "rules:\n  - check: budget\n", "f.yaml:5:5: txg-schema: rules[0]: missing required key `id`"),
    (HEAD + "tools:\n  co:\n    intent: checkout\n    fields: {items: {frm: x}}\n",
     "f.yaml:7:27: txg-schema: tools.co.fields.items.frm: unknown key `frm` (expected one of: fields, from)"),
    (HEAD + "rules:\n  - id: x\n    check: budget\n    params: {limit: 1}\n",
     "f.yaml:7:21: txg-schema: rules[0](x).params.limit: unknown key `limit` (no keys are allowed here)"),
])
def test_exact_error_text(text: str, want: str) -> None:
    assert errors_of(text) == [want]


def test_all_errors_are_collected_and_sorted_by_location() -> None:
    text = HEAD + 'tools:\n  co: {intent: checkout}\ndefaults:\n  checkout: maybe\nrules:\n  - check: budget\n  - id: "bad id"\n    check: budget\n'
    assert errors_of(text) == [
        'f.yaml:7:13: txg-schema: defaults.checkout: expected one of `allow`, `clarify`, `escalate`, got `"maybe"`',
        "f.yaml:9:5: txg-schema: rules[0]: missing required key `id`",
        'f.yaml:10:9: txg-schema: rules[1](bad id).id: expected a value matching `^[A-Za-z0-9][A-Za-z0-9._:-]*$`, '
        'got `"bad id"`',
    ]


def test_a_tool_mapped_to_a_kind_the_policy_does_not_have_is_a_located_error() -> None:
    # Intent kinds are the policy's own (declared, or the shipped ones): checked when the domain is known.
    text = HEAD + 'tools:\n  co: {intent: buy}\n'
    assert errors_of(text) == [
        "f.yaml:5:16: txg-param: tools.co.intent: `buy` is not an intent kind of this policy (expected one of: "
        "add_to_cart, cancel_order, checkout, exchange_items, modify_order_address, modify_order_items, "
        "modify_order_payment, modify_user_address, refund, return_items, read)"]


def test_errors_are_one_line_each() -> None:
    text = HEAD + "description: |\n  two\n  lines\nrules:\n  - id: x\n    check: budget\n    code: \"a\\nb\"\n"
    for line in errors_of(text):
        assert "\n" not in line


def test_the_number_of_errors_is_capped() -> None:
    rules = "".join(f"  - id: r{i}\n    check: budget\n    outcome: allow\n" for i in range(MAX_DIAGNOSTICS + 7))
    with pytest.raises(PolicyError) as info:
        compile_policy(HEAD + "rules:\n" + rules, "f.yaml")
    assert len(info.value.diagnostics) == MAX_DIAGNOSTICS
    assert info.value.omitted == 7
    assert str(info.value).splitlines()[-1] == "... and 7 more"


def test_policy_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = policy_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_the_shipped_schema_file_is_the_generated_one() -> None:
    # Editors read the file (yaml-language-server); it must accept exactly what txguard accepts.
    shipped = Path(__file__).resolve().parent.parent / "txguard" / "schema" / "policy-v1.json"
    assert json.loads(shipped.read_text(encoding="utf-8")) == json.loads(json.dumps(policy_schema()))


def test_the_retail_policy_is_valid_against_the_published_schema() -> None:
    import yaml

    data = yaml.safe_load((Path(__file__).resolve().parent.parent / "policies" / "retail.yaml").read_text())
    jsonschema.Draft202012Validator(policy_schema()).validate(data)


def test_intent_schema_is_the_discriminated_union() -> None:
    schema = intent_schema()
    assert schema["discriminator"]["propertyName"] == "kind"
    assert "checkout" in schema["discriminator"]["mapping"]
    assert "Checkout" in schema["$defs"]
