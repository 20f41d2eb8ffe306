"""The guide's declared-domain reference (section 13) stays true: every `# example:` block compiles
(or fails to load with the error it names) and every row of the table under it decides as written."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

import pytest
import yaml

from txguard import Guard, compile_policy
from txguard.core.errors import PolicyError
from txguard.domain.declare import CONTAINERS, SCALARS
from txguard.policy.lint import lint

from .conftest import ROOT

GUIDE = (ROOT / "docs" / "policy-guide.md").read_text(encoding="utf-8")
SECTION = GUIDE[GUIDE.index("\n## 13. "):]
SECTION = SECTION[: SECTION.index("\n## ", 1)]
CLOCK = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
EXAMPLES = re.findall(r"```yaml\n(# example: ([^\n]*)\n.*?)```\n((?:\n\|[^\n]*)*)", SECTION, re.S)
ROW_KEYS = {"call", "session", "facts", "request", "confirmed", "decision"}


def _policy(block: str) -> str:
    """The example as a policy: a fragment gets the keys the guide says it is completed with."""
    data: dict[str, Any] = yaml.safe_load(block)
    if "apiVersion" in data:
        return block
    kinds = list(data.get("intents") or {})
    full: dict[str, Any] = {"apiVersion": "txguard/v1", "id": "example", "version": "1", "currency": "USD"}
    full.update(data)
    full.setdefault("tools", {kind: {"intent": kind} for kind in kinds})
    full.setdefault("defaults", {kind: "allow" for kind in kinds})
    full.setdefault("rules", [])
    return yaml.safe_dump(full, sort_keys=False)


def _rows(table: str) -> list[dict[str, str]]:
    lines = [line for line in table.strip().splitlines() if line.startswith("|")]
    if not lines:
        return []
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert set(header) <= ROW_KEYS and "call" in header and "decision" in header, header
    return [dict(zip(header, (c.strip() for c in line.strip("|").split("|")))) for line in lines[2:]]


def _code(cell: str) -> str:
    (inner,) = re.fullmatch(r"`(.*)`", cell).groups()  # type: ignore[union-attr]
    return inner


def _decide(guard: Guard, row: dict[str, str]) -> tuple[str, list[str]]:
    tool, args = _code(row["call"]).split(" ", 1)
    session: dict[str, Any] = json.loads(_code(row["session"])) if row.get("session") else {}
    if row.get("confirmed"):
        session["confirmed"] = [{"name": tool, "arguments": json.loads(_code(row["confirmed"]))}]
    kw: dict[str, Any] = {"session": session or None}
    for part in ("facts", "request"):
        if row.get(part):
            kw[part] = json.loads(_code(row[part]))
    decision = guard.independent().check({"name": tool, "arguments": args}, **kw)
    return decision.outcome, sorted(set(decision.codes))


def test_the_section_has_examples_with_tables() -> None:
    assert len(EXAMPLES) >= 15
    tested = [title for _, title, table in EXAMPLES if _rows(table)]
    errors = [title for _, title, _ in EXAMPLES if "(load error)" in title]
    assert len(tested) + len(errors) == len(EXAMPLES), "every example has a table of calls or is a load error"


def test_every_construct_has_an_example() -> None:
    blocks = "\n".join(block for block, _, _ in EXAMPLES)
    words = set(re.findall(r"[a-z_]+", blocks))
    for name in (*SCALARS, *CONTAINERS):
        assert name in words, name
    for key in ("optional", "default", "description", "min", "max", "unordered", "pattern", "max_length", "currency",
                "consequential", "unbound", "same_length", "builtin_kinds", "types", "facts", "key",
                "undeclared_facts", "request", "fields", "from", "constants", "required", "ignore", "for_each",
                "any", "all", "count", "sum", "distinct", "where", "of", "as", "now", "hours", "days", "duration",
                "date", "table", "in", "startswith", "ieq", "on_missing", "mul", "add", "sub"):
        assert key in words, key


@pytest.mark.parametrize(("block", "title", "table"), EXAMPLES, ids=[t for _, t, _ in EXAMPLES])
def test_each_example_decides_as_its_table_says(block: str, title: str, table: str) -> None:
    policy = _policy(block)
    if "(load error)" in title:
        (message,) = re.findall(r"^# error: (.*)$", block, re.M)
        with pytest.raises(PolicyError, match=re.escape(message)):
            compile_policy(policy, "example.yaml")
        return
    guard = Guard.from_text(policy, file="example.yaml", clock=lambda: CLOCK)
    for row in _rows(table):
        words = re.findall(r"`([a-z_]+)`", row["decision"].split(" (")[0])
        outcome, codes = _decide(guard, row)
        assert (outcome, codes) == (words[0], sorted(words[1:])), (title, row["call"])


def test_the_full_example_is_a_lint_clean_policy() -> None:
    (block,) = [b for b, title, _ in EXAMPLES if title == "a flight-booking policy"]
    assert block.splitlines()[1] == "apiVersion: txguard/v1"
    # Clean but for the one finding an `unbound` field always gets (the user never confirms it).
    assert [d.code for d in lint(compile_policy(block, "flights.yaml"))] in ([], ["lint-unbound"])


def test_the_confirmation_summary_shown_is_what_the_guard_asks() -> None:
    text = SECTION[SECTION.index("### 13.6"):SECTION.index("### 13.7")]
    (call,) = re.findall(r"Unconfirmed, the call `(.*?)` is a `clarify`", text, re.S)
    (shown,) = re.findall(r"```json\n(.*?)```", text, re.S)
    (block,) = [b for b, title, _ in EXAMPLES if title == "what consent binds"]
    tool, args = call.replace("\n", " ").split(" ", 1)
    decision = Guard.from_text(_policy(block), clock=lambda: CLOCK).check({"name": tool, "arguments": args})
    assert decision.outcome == "clarify" and decision.confirmation is not None
    assert decision.confirmation.summary == json.loads(shown)
