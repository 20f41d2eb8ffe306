"""A labelled corpus case may carry the instant it is decided at (``clock``)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from txguard import Guard
from txguard.authoring.corpus import read_corpus, score_corpus
from txguard.authoring.suite import SuiteError
from txguard.policy.compile import compile_policy

POLICY = """apiVersion: txguard/v1
id: p
version: 1
intents:
  book:
    consequential: false
    fields: {slot: datetime}
defaults: {book: allow}
tools:
  book: {intent: book}
rules:
  - id: slot-in-the-past
    when: {path: intent.slot, lt: now}
"""


def write(tmp_path: Path, *cases: dict[str, object]) -> Path:
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    return path


def test_each_case_is_decided_at_its_own_clock(tmp_path: Path) -> None:
    slot = {"name": "book", "arguments": {"slot": "2026-06-01T10:00:00+02:00"}}
    path = write(tmp_path,
                 {"id": "before", "clock": "2026-06-01T07:59:00Z", "proposal": slot, "expect": "allow"},
                 {"id": "after", "clock": "2026-06-01T10:00:00+02:00", "proposal": slot, "expect": "allow"},
                 {"id": "later", "clock": "2026-06-01T08:01:00Z", "proposal": slot, "expect": "escalate"})
    guard = Guard(compile_policy(POLICY, "p.yaml"), clock=lambda: datetime(2030, 1, 1, tzinfo=timezone.utc))
    report = score_corpus(guard, read_corpus(path), str(path))
    assert report.exact == 3 and report.unsafe == [] and report.blocked == []


@pytest.mark.parametrize("clock", ["2026-06-01T08:00:00", "tomorrow", 5])
def test_a_clock_without_an_offset_or_not_a_datetime_is_a_located_error(tmp_path: Path, clock: object) -> None:
    path = write(tmp_path, {"id": "x", "proposal": {"name": "book", "arguments": {}}, "expect": "allow"},
                 {"id": "y", "clock": clock, "proposal": {"name": "book", "arguments": {}}, "expect": "allow"})
    with pytest.raises(SuiteError) as info:
        list(read_corpus(path))
    assert str(info.value.diagnostics[0]).startswith(f"{path}:2:1:")
