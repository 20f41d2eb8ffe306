"""The guide's "Expressions" examples run: each rule, added to the guide's policy with the guide's
tables, fires (or not) on the guide's cart as its comment says."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

import pytest
import yaml

from txguard import Guard
from txguard.policy.ir import EXPRESSIONS

from .conftest import POLICIES, ROOT

GUIDE = (ROOT / "docs" / "policy-guide.md").read_text(encoding="utf-8")
SECTION = GUIDE.split("### Expressions", 1)[1].split("\n## ", 1)[0]
EXAMPLES = re.findall(r"```yaml\n(# expression: (.*?)\n.*?)```", SECTION, re.S)


def _policy(rule: dict[str, Any]) -> str:
    (shop,) = [b for b in re.findall(r"```yaml\n(.*?)```", GUIDE, re.S) if b.startswith("apiVersion: txguard/v1\nid:")]
    data = yaml.safe_load(shop)
    (tables,) = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(tables:.*?)```", SECTION, re.S)]
    data.update(tables)
    data["rules"] = [rule]
    return yaml.safe_dump(data, sort_keys=False)


def _cart() -> dict[str, Any]:
    (text,) = re.findall(r"```json\n(.*?)```", SECTION, re.S)
    cart: dict[str, Any] = json.loads(text)
    return cart


def test_there_is_an_example_of_every_arithmetic_aggregate_and_temporal_form() -> None:
    named = " ".join(title for _, title in EXAMPLES)
    for form in ("add", "sub", "mul", "div", "round", "count", "sum", "min", "max", "distinct", "table", "now",
                 "datetime", "date", "duration", "money", "decimal", "startswith", "ieq"):
        assert form in named, form
    assert set(EXPRESSIONS) - {"path", "lit", "weeks", "days", "hours", "minutes", "seconds"} <= set(named.replace(",", " ").split())


@pytest.mark.parametrize(("block", "title"), EXAMPLES, ids=[t for _, t in EXAMPLES])
def test_each_expression_example_decides_as_its_comment_says(block: str, title: str) -> None:
    (rule,) = yaml.safe_load(block)
    guard = Guard.from_text(_policy(rule), file=str(POLICIES / "shop.yaml"), base_dir=POLICIES,
                            clock=lambda: datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc))
    decision = guard.check_envelope(_cart())
    want = () if "(does not fire" in title else (rule.get("code", rule["id"].replace("-", "_")),)
    assert "(fires" in title or "(does not fire" in title
    assert decision.codes == want, (title, decision.reasons)
