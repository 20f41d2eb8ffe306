"""`for_each` conditions: one condition, or a list of conditions, applied to each element."""

from __future__ import annotations

from typing import Any

import pytest

from txguard import Guard, PolicyError

POLICY = """\
apiVersion: txguard/v1
id: fe
version: 1
tools: {checkout: {intent: checkout}}
defaults: {checkout: allow}
rules:
  - id: bulk-line
    kinds: [checkout]
    when: {for_each: intent.items, as: line, any: {path: line.quantity, gt: 10}}
    outcome: clarify
  - id: all-lines-cheap-gift
    kinds: [checkout]
    when:
      for_each: intent.items
      as: line
      all: [{path: line.unit_price, lt: "5"}, {path: line.title, eq: gift}]
"""


def _checkout(*lines: tuple[int, str, str]) -> dict[str, Any]:
    items = [{"sku": f"s{i}", "product_id": "p", "title": t, "quantity": q, "unit_price": p}
             for i, (q, p, t) in enumerate(lines)]
    return {"name": "checkout", "arguments": {"items": items, "total": "0", "currency": "USD", "payment_method_id": "pm"}}


@pytest.mark.parametrize(
    ("lines", "codes"),
    [
        ([(1, "9", "mug")], ()),
        ([(1, "9", "mug"), (11, "9", "mug")], ("bulk_line",)),
        ([(1, "2", "gift"), (2, "3", "gift")], ("all_lines_cheap_gift",)),
        ([(1, "2", "gift"), (2, "3", "mug")], ()),
    ],
)
def test_for_each_any_and_all(lines: list[tuple[int, str, str]], codes: tuple[str, ...]) -> None:
    decision = Guard.from_text(POLICY).check(_checkout(*lines))
    assert decision.codes == codes


def test_plain_all_needs_a_list() -> None:
    text = POLICY.replace("when: {for_each: intent.items, as: line, any: {path: line.quantity, gt: 10}}",
                          "when: {any: {path: intent.total, gt: 10}}")
    with pytest.raises(PolicyError) as err:
        Guard.from_text(text, file="p.yaml")
    assert str(err.value) == (
        "p.yaml:9:17: txg-path: rules[0](bulk-line).when.any: "
        "`any` takes a list of conditions (a single condition only with `for_each`)"
    )


def test_element_paths_are_type_checked() -> None:
    text = POLICY.replace("line.quantity", "line.qty")
    with pytest.raises(PolicyError) as err:
        Guard.from_text(text, file="p.yaml")
    assert "`qty` is not a field of LineItem" in str(err.value)
