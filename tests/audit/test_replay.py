"""Replay re-decides recorded proposals; under the recorded policy nothing changes."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from txguard import Checkout, Guard, LineItem, compile_policy
from txguard.audit import MemorySink, replay
from txguard.audit._replay import redecide

from ..conftest import read_cases
from .conftest import POLICIES, RETAIL, StepClock, envelopes


def _stricter(cap: str) -> str:
    text = RETAIL.read_text(encoding="utf-8")
    assert 'max: {USD: "1000.00"}' in text
    return text.replace('max: {USD: "1000.00"}', f'max: {{USD: "{cap}"}}').replace('version: "1.0.0"', 'version: "1.1.0"')


def _trail() -> MemorySink:
    sink = MemorySink()
    guard = Guard.from_file(RETAIL, clock=StepClock(), audit=sink)
    for env in envelopes():
        guard.check_envelope(env)
    tau = read_cases("tau-retail-dev.jsonl.gz")[:200]
    for case in tau:
        guard.check_envelope({k: case[k] for k in ("proposal", "request", "session", "facts") if k in case})
    # an already-typed intent, and a corrupted argument string
    guard.check(Checkout(items=(LineItem(sku="1", product_id="p1", title="Mug", quantity=1, unit_price=Decimal("5.00")),), currency="USD",
                         total=Decimal("5.00"), payment_method_id="pm", confidence=Decimal("0.9")))
    guard.check({"name": "checkout", "arguments": '{"items": [{"sku": "1", "quantity": 1'})
    return sink


def test_replay_under_the_recorded_policy_reproduces_every_decision_exactly() -> None:
    sink = _trail()
    policy = Guard.from_file(RETAIL).policy
    for rec in sink.records():
        assert redecide(policy, rec.body) == rec.body["decision"], rec.seq
    report = replay(sink.records(), policy)
    assert report.total == len(sink) and report.identical == len(sink) and not report.changes
    assert all(before == after for before, after in report.transitions)


def test_replay_under_a_stricter_cap_names_the_rule_for_every_change() -> None:
    sink = _trail()
    stricter = compile_policy(_stricter("300.00"), str(POLICIES / "stricter.yaml"), POLICIES)
    report = replay(sink.records(), stricter)
    over = {
        rec.seq for rec in sink.records()
        if rec.body["decision"]["kind"] == "checkout" and rec.body["decision"]["outcome"] != "escalate"
        and rec.body["intent"] is not None and Decimal(rec.body["intent"]["total"]) > Decimal("300.00")
    }
    assert over, "the corpus has checkouts over 300.00"
    changed = {c.seq for c in report.changes}
    assert over <= changed  # every checkout over the new cap that was not escalated now is
    for change in report.changes:
        assert (change.after, change.rule, change.code, change.why) == ("escalate", "platform-cap", "price_cap", "fires now")
    assert sum(n for (b, a), n in report.transitions.items() if b != a) == len(over)
    assert report.identical + len(report.changes) == report.total
    data = report.to_dict()
    assert data["changed"] == len(changed) and data["policy"]["version"] == "1.1.0"
    json.dumps(data)


def test_replay_of_a_looser_policy_says_which_rule_no_longer_fires(tmp_path: Path) -> None:
    strict = compile_policy(_stricter("300.00"), str(POLICIES / "stricter.yaml"), POLICIES)
    sink = MemorySink()
    guard = Guard(strict, clock=StepClock(), audit=sink)
    for env in envelopes(200):
        guard.check_envelope(env)
    report = replay(sink.records(), Guard.from_file(RETAIL).policy)
    assert report.changes
    assert all(c.rule == "platform-cap" and c.why == "no longer fires" and c.before == "escalate" for c in report.changes)
