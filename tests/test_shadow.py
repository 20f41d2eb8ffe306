"""Shadow mode: a candidate policy decides alongside, is recorded and counted, and changes nothing."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from txguard import CompiledPolicy, Decision, Guard, Observer, Outcome, ShadowStats, UsageError
from txguard.audit import MemorySink, open_sink, replay, verify
from txguard.audit._build import decision_data
from txguard.cli import main

from .conftest import POLICIES, read_cases

RETAIL = POLICIES / "retail.yaml"
NOW = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)


def _with_cap(cap: str, version: str) -> str:
    text = RETAIL.read_text(encoding="utf-8")
    assert 'max: {USD: "1000.00"}' in text
    return text.replace('max: {USD: "1000.00"}', f'max: {{USD: "{cap}"}}').replace('version: "1.0.0"', f'version: "{version}"')


STRICT = Guard.from_text(_with_cap("300.00", "2.0.0-strict"), file=str(POLICIES / "strict.yaml"), base_dir=POLICIES).policy
LOOSE = Guard.from_text(_with_cap("5000.00", "2.0.0-loose"), file=str(POLICIES / "loose.yaml"), base_dir=POLICIES).policy


def envelopes(n: int, session_ids: bool = True) -> list[dict[str, Any]]:
    out = []
    for i, c in enumerate(read_cases("chat-to-buy-dev.jsonl.gz")[:n]):
        env = {k: c[k] for k in ("proposal", "request", "session", "facts") if k in c}
        if session_ids:
            env["session"] = dict(env.get("session") or {}, id=f"conv-{i}")
        out.append(env)
    return out


def _decided(data: dict[str, Any]) -> dict[str, Any]:
    """A recorded decision without its wording (a cap's message names the cap, which is no divergence)."""
    return {**data, "reasons": [{**r, "message": None} for r in data["reasons"]],
            "questions": [{**q, "text": None, "options": None} for q in data["questions"]]}


class Shadows(Observer):
    def __init__(self) -> None:
        self.seen: list[tuple[Decision, Decision, str, str]] = []

    def on_shadow(self, decision: Decision, shadow: Decision, *, policy: CompiledPolicy,
                  candidate: CompiledPolicy) -> None:
        self.seen.append((decision, shadow, policy.digest, candidate.digest))


class Broken(Observer):
    def on_shadow(self, decision: Decision, shadow: Decision, **_: Any) -> None:
        raise RuntimeError("metrics backend down")


def test_each_record_carries_the_candidate_decision_and_the_chain_verifies(tmp_path: Path) -> None:
    sink = MemorySink()
    obs = Shadows()
    guard = Guard.from_file(RETAIL, clock=lambda: NOW, audit=sink, shadow=STRICT, observers=[Broken(), obs])
    alone = Guard(STRICT, clock=lambda: NOW)
    envs = envelopes(120)
    decisions = [guard.check_envelope(e) for e in envs]
    records = list(sink.records())
    assert len(records) == len(envs) and verify(sink).ok
    diverged = 0
    for env, decision, rec in zip(envs, decisions, records, strict=True):
        body = rec.body
        assert body["decision"] == decision_data(decision)
        shadow = body["shadow"]
        assert shadow["observational"] is True and shadow["error"] is None
        assert shadow["policy"] == {"id": STRICT.id, "version": "2.0.0-strict", "digest": STRICT.digest}
        assert shadow["decision"] == decision_data(alone.check_envelope(env))  # what the candidate decides alone
        assert shadow["diverged"] == (_decided(shadow["decision"]) != _decided(body["decision"]))
        diverged += shadow["diverged"]
    assert diverged > 0, "a 300.00 cap changes some corpus decisions"
    # observers were told each pair (the raising one before them changed nothing)
    assert [d for d, _, _, _ in obs.seen] == decisions
    assert {(p, c) for _, _, p, c in obs.seen} == {(guard.policy.digest, STRICT.digest)}
    stats = guard.shadow_stats
    assert stats.sampled == len(envs) and stats.diverged == diverged and stats.errors == 0
    assert stats.tightened == sum(1 for d, s, _, _ in obs.seen if s.outcome.rank > d.outcome.rank) > 0
    assert stats.loosened == 0
    # replay compares the primary decision only: under the recorded policy nothing changed
    assert not replay(sink.records(), guard.policy).changes


def test_the_shadow_part_is_inside_the_hash_chain(tmp_path: Path) -> None:
    path = tmp_path / "trail.jsonl"
    sink = open_sink(f"jsonl:{path}?fsync=always")
    guard = Guard.from_file(RETAIL, clock=lambda: NOW, audit=sink, shadow=LOOSE)
    for env in envelopes(20):
        guard.check_envelope(env)
    sink.close()
    assert verify(f"jsonl:{path}").ok
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    assert '"observational":true' in lines[4]
    lines[4] = lines[4].replace('"observational":true', '"observational":false')
    path.write_text("".join(lines), encoding="utf-8")
    result = verify(f"jsonl:{path}")
    assert (result.ok, result.position, result.kind) == (False, 5, "edited")


def test_audit_show_prints_the_shadow_decision(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "trail.db"
    sink = open_sink(f"sqlite:{db}?commit=each")
    guard = Guard.from_file(RETAIL, clock=lambda: NOW, audit=sink, shadow=STRICT)
    decisions = [guard.check_envelope(e) for e in envelopes(40)]
    sink.close()
    capsys.readouterr()
    assert main(["audit", "show", str(db)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(decisions) and all(" | shadow 2.0.0-strict: " in line for line in lines)
    diverged = sum(line.endswith(" diverged") for line in lines)
    assert diverged > 0
    page = tmp_path / "report.html"
    assert main(["audit", "report", str(db), "--html", str(page)]) == 0
    assert f"a shadow policy also decided {len(decisions)} of them and differed on {diverged}" in page.read_text(encoding="utf-8")


def _digest(body: dict[str, Any]) -> float:
    """The documented sample point, from the record alone: sha256(proposal_digest \\x1f session id)."""
    key = f"{body['proposal_digest']}\x1f{body['lineage']['session_id'] or ''}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / 2**64


@pytest.mark.parametrize("rate", [0.0, 0.25, 0.6, 1.0])
def test_sampling_is_deterministic_and_follows_the_documented_hash(rate: float) -> None:
    envs = envelopes(200)
    runs = []
    for _ in range(2):
        sink = MemorySink()
        guard = Guard.from_file(RETAIL, clock=lambda: NOW, audit=sink, shadow=STRICT, shadow_sample=rate)
        for env in envs:
            guard.check_envelope(env)
        bodies = [r.body for r in sink.records()]
        runs.append([("shadow" in b) for b in bodies])
        assert runs[-1] == [_digest(b) < rate for b in bodies]
        assert guard.shadow_stats.sampled == sum(runs[-1])
    assert runs[0] == runs[1]
    share = sum(runs[0]) / len(envs)
    if rate in (0.0, 1.0):
        assert share == rate
    else:
        assert abs(share - rate) < 0.1  # 200 cases: about 3 standard deviations


def test_a_lower_rate_samples_a_subset_of_a_higher_one() -> None:
    envs = envelopes(200)

    def sampled(rate: float) -> set[int]:
        sink = MemorySink()
        guard = Guard.from_file(RETAIL, clock=lambda: NOW, audit=sink, shadow=STRICT, shadow_sample=rate)
        for env in envs:
            guard.check_envelope(env)
        return {i for i, r in enumerate(sink.records()) if "shadow" in r.body}

    low, high = sampled(0.2), sampled(0.5)
    assert low and low < high


def test_a_candidate_that_raises_is_recorded_as_an_error_and_the_primary_stands(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: Any, **__: Any) -> Decision:
        raise RuntimeError("candidate exploded")

    monkeypatch.setattr("txguard._shadow.run", boom)  # the candidate's pipeline only
    sink = MemorySink()
    obs = Shadows()
    guard = Guard.from_file(RETAIL, clock=lambda: NOW, audit=sink, shadow=LOOSE, observers=[obs])
    plain = Guard.from_file(RETAIL, clock=lambda: NOW)
    envs = envelopes(30)
    for env in envs:
        assert decision_data(guard.check_envelope(env)) == decision_data(plain.check_envelope(env))
    for rec in sink.records():
        shadow = rec.body["shadow"]
        assert shadow["error"] == "RuntimeError: candidate exploded"
        assert shadow["decision"]["outcome"] == "escalate" and shadow["decision"]["reasons"][0]["code"] == "internal_error"
    assert guard.shadow_stats.errors == len(envs) == len(obs.seen)
    assert all(s.codes == ("internal_error",) for _, s, _, _ in obs.seen)
    # without an audit sink too
    bare = Guard.from_file(RETAIL, clock=lambda: NOW, shadow=LOOSE)
    primary = plain.independent().check_envelope(envs[0])  # nothing used yet, as for `bare`
    assert decision_data(bare.check_envelope(envs[0])) == decision_data(primary)
    stricter = int(primary.outcome is not Outcome.ESCALATE)  # the error escalates
    assert bare.shadow_stats == ShadowStats(sampled=1, diverged=1, loosened=0, tightened=stricter, errors=1)


def test_without_an_audit_sink_the_candidate_reads_the_same_clock_once() -> None:
    readings: list[datetime] = []

    def clock() -> datetime:
        readings.append(NOW)
        return NOW

    obs = Shadows()
    guard = Guard.from_file(RETAIL, clock=clock, shadow=STRICT, observers=[obs])
    env = envelopes(1)[0]
    decision = guard.check_envelope(env)
    assert len(readings) == 1
    assert decision_data(obs.seen[0][1]) == decision_data(Guard(STRICT, clock=lambda: NOW).check_envelope(env))
    assert decision_data(decision) == decision_data(Guard.from_file(RETAIL, clock=lambda: NOW).check_envelope(env))


def test_a_broken_clock_escalates_the_primary_and_skips_the_shadow() -> None:
    def clock() -> datetime:
        raise OSError("no time")

    for audit in (None, MemorySink()):
        guard = Guard.from_file(RETAIL, clock=clock, audit=audit, shadow=STRICT)
        decision = guard.check_envelope(envelopes(1)[0])
        assert decision.outcome is Outcome.ESCALATE and decision.codes == ("internal_error",)
        assert guard.shadow_stats.sampled == 0
        if audit is not None:
            assert "shadow" not in next(iter(audit.records())).body


def test_shadow_takes_a_path_and_the_rate_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "candidate.yaml"
    path.write_text(_with_cap("300.00", "3.0.0").replace("taxonomy/", f"{POLICIES}/taxonomy/"), encoding="utf-8")
    guard = Guard.from_file(RETAIL, shadow=path, shadow_sample=0.5)
    assert guard.shadow is not None and guard.shadow.version == "3.0.0"
    assert Guard.from_file(RETAIL).shadow is None and Guard.from_file(RETAIL).shadow_stats == ShadowStats()
    for bad in (-0.1, 1.5, float("nan"), True, "0.5"):
        with pytest.raises(UsageError, match="shadow_sample must be a number from 0 to 1"):
            Guard(guard.policy, shadow=STRICT, shadow_sample=bad)  # type: ignore[arg-type]


def test_a_record_whose_inputs_cannot_be_encoded_keeps_its_shadow_part() -> None:
    sink = MemorySink()
    guard = Guard.from_file(RETAIL, clock=lambda: NOW, audit=sink, shadow=STRICT)
    guard.check({"name": "checkout", "arguments": {"note": object()}})  # a value no JSON can hold
    body = next(iter(sink.records())).body
    assert "unrecordable" in body and body["shadow"]["observational"] is True
    assert json.dumps(body["shadow"]["decision"])
