"""The guard writes exactly one record per decision, before returning it, or answers escalate."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from txguard import ENGINE_CODES, Guard, Outcome, PolicyError, compile_policy
from txguard.audit import AuditEntry, AuditError, AuditRecord, MemorySink, open_sink, verify
from txguard.audit._record import recorded

from .conftest import POLICIES, RETAIL, StepClock, envelopes


class BrokenSink(MemorySink):
    def append(self, entry: AuditEntry) -> None:
        raise OSError(28, "No space left on device")



def test_one_record_per_decision_written_before_the_decision_is_returned() -> None:
    sink = MemorySink()
    clock = StepClock()
    guard = Guard.from_file(RETAIL, clock=clock, audit=sink)
    for i, env in enumerate(envelopes(40), 1):
        decision = guard.check_envelope(env)
        assert len(sink) == i  # the record is there when the decision comes back
        body = sink.stored[-1].body
        assert body["decision"]["outcome"] == decision.outcome.value
        assert [r["code"] for r in body["decision"]["reasons"]] == list(decision.codes)
        assert body["time"] == clock.now.isoformat()  # the guard's clock, read once per decision
        assert body["policy"] == decision.policy.to_dict()
        assert body["proposal"] == env["proposal"]
        assert body["context"]["facts"] == env.get("facts")
    assert verify(sink).ok


def test_the_decision_id_is_a_uuid7_and_ids_sort_by_time() -> None:
    sink = MemorySink()
    guard = Guard.from_file(RETAIL, audit=sink)
    for env in envelopes(30):
        guard.check_envelope(env)
    ids = [r.body["id"] for r in sink.stored]
    assert all(uuid.UUID(i).version == 7 for i in ids)
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_lineage_holds_the_session_and_the_host_source() -> None:
    sink = MemorySink()
    guard = Guard.from_file(RETAIL, audit=sink)
    env = envelopes(1)[0]
    session = {**env["session"], "id": "s-42", "turn": 3}
    guard.check(env["proposal"], env.get("request"), session, env.get("facts"),
                lineage={"source": "search:espresso", "model": "agent-v2"})
    lineage = sink.stored[0].body["lineage"]
    assert lineage == {"session_id": "s-42", "turn": 3, "source": {"source": "search:espresso", "model": "agent-v2"}}


def test_a_record_that_cannot_be_written_turns_the_decision_into_escalate() -> None:
    env = envelopes(1)[0]
    assert Guard.from_file(RETAIL).check_envelope(env).outcome is Outcome.ALLOW
    decision = Guard.from_file(RETAIL, audit=BrokenSink()).check_envelope(env)
    assert decision.outcome is Outcome.ESCALATE
    assert decision.codes == ("audit_unavailable",)
    assert decision.route == "human"
    assert "No space left on device" in decision.reasons[0].message
    assert "audit_unavailable" in ENGINE_CODES


def test_a_closed_sink_is_unavailable(tmp_path: Path) -> None:
    sink = open_sink(f"jsonl:{tmp_path / 'a.jsonl'}")
    guard = Guard.from_file(RETAIL, audit=sink)
    env = envelopes(1)[0]
    assert guard.check_envelope(env).outcome is Outcome.ALLOW
    sink.close()
    assert guard.check_envelope(env).codes == ("audit_unavailable",)
    assert verify(f"jsonl:{tmp_path / 'a.jsonl'}").count == 1


def test_a_second_jsonl_writer_is_refused(tmp_path: Path) -> None:
    first = open_sink(f"jsonl:{tmp_path / 'a.jsonl'}")
    with pytest.raises(AuditError, match="another process is writing"):
        open_sink(f"jsonl:{tmp_path / 'a.jsonl'}")
    first.close()


@pytest.mark.parametrize("url", ["memory:nope", "sqlite:", "jsonl:x.jsonl?fsync=sometimes", "ftp://x", "jsonl:x?every=0"])
def test_bad_sink_urls_are_clear_errors(url: str) -> None:
    with pytest.raises(AuditError):
        open_sink(url)


def test_inputs_json_cannot_hold_as_they_are_are_escaped_not_dropped() -> None:
    sink = MemorySink()
    guard = Guard.from_file(RETAIL, audit=sink)
    env = envelopes(1)[0]
    facts = json.loads(json.dumps(env["facts"]))
    facts["users"]["odd-user"] = {1: "a key that is not a string"}
    decision = guard.check(env["proposal"], env.get("request"), env.get("session"), facts)
    body = sink.stored[0].body
    assert body["decision"]["outcome"] == decision.outcome.value
    assert "unrecordable" not in body and body["escaped"] is True
    assert body["context"]["facts"]["users"]["odd-user"] == {"$txguard": "map", "items": [[1, "a key that is not a string"]]}
    assert recorded(body)["context"]["facts"] == facts
    assert verify(sink).ok


MASKED_POLICY = """
audit:
  mask:
    - session.authenticated_user_id
    - facts.users.*.email
    - request.text
    - proposal.arguments.payment_method_id
"""


def _masked_guard(sink: MemorySink) -> Guard:
    text = RETAIL.read_text(encoding="utf-8") + MASKED_POLICY
    return Guard(compile_policy(text, str(POLICIES / "masked.yaml"), POLICIES), audit=sink)


def test_a_mask_path_naming_nothing_is_a_located_load_error() -> None:
    text = RETAIL.read_text(encoding="utf-8") + MASKED_POLICY.replace("request.text", "request.txt")
    line = text.splitlines().index("    - request.txt") + 1
    with pytest.raises(PolicyError) as info:
        compile_policy(text, "masked.yaml", POLICIES)
    assert str(info.value) == (
        f"masked.yaml:{line}:7: txg-path: audit.mask[2]: mask path `request.txt`: nothing can exist at "
        "`request.txt` in any intent kind, context or facts record")


def test_masked_paths_are_replaced_by_salted_digests_before_hashing() -> None:
    salt = b"host-secret"
    sink = MemorySink(salt=salt)
    guard = _masked_guard(sink)
    env = envelopes(1)[0]
    user = env["session"]["authenticated_user_id"]
    email = env["facts"]["users"][user]["email"]
    guard.check_envelope(env)
    rec = sink.stored[0]
    assert user not in json.dumps(rec.body["context"]["session"])
    assert email not in rec.body_text and env["request"]["text"] not in rec.body_text
    expected = "masked:sha256:" + hashlib.sha256(salt + json.dumps(email, ensure_ascii=False).encode()).hexdigest()
    assert rec.body["context"]["facts"]["users"][user]["email"] == expected
    assert rec.body["masked"] == sorted([
        "session.authenticated_user_id", f"facts.users.{user}.email", "request.text", "proposal.arguments.payment_method_id",
    ])
    assert re.fullmatch(r"[0-9a-f]{16}", rec.body["salt"])
    # the raw-text digest is of the proposal as the agent emitted it, before masking
    raw = json.dumps(env["proposal"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert rec.body["proposal_digest"] == "sha256:" + hashlib.sha256(raw.encode()).hexdigest()
    assert verify(sink).ok
    # the host's data is not modified by masking
    assert env["facts"]["users"][user]["email"] == email


def test_the_same_value_masks_to_the_same_digest_within_a_trail() -> None:
    sink = MemorySink(salt=b"s")
    guard = _masked_guard(sink)
    env = envelopes(1)[0]
    guard.check_envelope(env)
    guard.check_envelope(env)
    a, b = (r.body["context"]["session"]["authenticated_user_id"] for r in sink.stored)
    assert a == b and a.startswith("masked:sha256:")


def _independent_hash(line: str) -> tuple[str, str]:
    """docs/audit-format.md, implemented from the text alone: the body is the line's tail, verbatim."""
    data = json.loads(line)
    prefix = f'{{"seq":{data["seq"]},"prev":"{data["prev"]}","hash":"{data["hash"]}","body":'
    assert line.startswith(prefix) and line.endswith("}")
    body_text = line[len(prefix):-1]
    assert json.loads(body_text) == data["body"]
    link = f'{{"body":{body_text},"prev":"{data["prev"]}","seq":{data["seq"]}}}'
    return hashlib.sha256(link.encode("utf-8")).hexdigest(), data["hash"]


def test_the_documented_hash_can_be_recomputed_from_a_stored_line(tmp_path: Path) -> None:
    url = f"jsonl:{tmp_path / 'a.jsonl'}"
    sink = open_sink(url)
    guard = Guard.from_file(RETAIL, audit=sink)
    for env in envelopes(20):
        guard.check_envelope(env)
    sink.close()
    lines = (tmp_path / "a.jsonl").read_text().splitlines()
    prev = "0" * 64
    for n, line in enumerate(lines, 1):
        computed, stored = _independent_hash(line)
        assert computed == stored
        assert json.loads(line)["prev"] == prev and json.loads(line)["seq"] == n
        body = json.loads(line)["body"]
        assert line.endswith(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "}")
        prev = stored
    head = json.loads((tmp_path / "a.jsonl.head").read_text())
    assert head == {"seq": 20, "hash": prev}


def test_a_torn_final_line_is_cut_when_the_writer_reopens(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    sink = open_sink(f"jsonl:{path}")
    guard = Guard.from_file(RETAIL, audit=sink)
    for env in envelopes(5):
        guard.check_envelope(env)
    sink.close()
    with open(path, "a") as fh:
        fh.write('{"body":{"id":"half')
    assert verify(f"jsonl:{path}").kind == "truncated tail"
    sink = open_sink(f"jsonl:{path}")
    Guard.from_file(RETAIL, audit=sink).check_envelope(envelopes(1)[0])
    sink.close()
    result = verify(f"jsonl:{path}")
    assert result.ok and result.count == 6


def _records(url: str) -> Iterator[AuditRecord]:
    sink = open_sink(url, readonly=True)
    try:
        yield from sink.records()
    finally:
        sink.close()


@pytest.mark.parametrize("mode", ["commit=group&every=8&ms=2", "commit=each", "commit=group&sync=full"])
def test_sqlite_modes_keep_every_decision(mode: str, tmp_path: Path) -> None:
    url = f"sqlite:{tmp_path / 'a.db'}"
    sink = open_sink(f"{url}?{mode}")
    guard = Guard.from_file(RETAIL, clock=StepClock(), audit=sink)
    outcomes = [guard.check_envelope(env).outcome.value for env in envelopes(50)]
    sink.close()
    assert [r.body["decision"]["outcome"] for r in _records(url)] == outcomes
    assert verify(url).ok
    assert not list((tmp_path / "a.db.journal").glob("*.journal")) if "group" in mode else True


def test_times_are_recorded_with_their_offset() -> None:
    sink = MemorySink()
    when = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
    Guard.from_file(RETAIL, clock=lambda: when, audit=sink).check_envelope(envelopes(1)[0])
    assert sink.stored[0].body["time"] == "2026-05-01T12:00:00+00:00"




def _readme_snippet() -> str:
    readme = (POLICIES.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Audit trail"):]
    return section[section.index("```python\n") + len("```python\n"):section.index("```\n", section.index("```python"))]


def test_the_readme_audit_snippet_verifies_the_record_it_wrote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snippet = _readme_snippet()
    assert 'verify("sqlite:audit.db")' in snippet
    env = envelopes(1)[0]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "policies").symlink_to(POLICIES)
    scope = {"proposal": env["proposal"], "request": env.get("request"), "session": env.get("session"),
             "facts": env.get("facts")}
    exec(compile(snippet, "README.md", "exec"), scope)  # noqa: S102 - the documented code, run as written
    result = scope["result"]
    assert result.count == 1 and result.pending == 0  # the record the snippet wrote, not an empty trail


def test_without_closing_the_sink_the_snippets_verify_reports_the_record_pending(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snippet = _readme_snippet()
    lines = [line.replace('open_sink("sqlite:audit.db")', 'open_sink("sqlite:audit.db?ms=600000")')  # no timer commit
             for line in snippet.splitlines() if not line.startswith("sink.close()")]
    env = envelopes(1)[0]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "policies").symlink_to(POLICIES)
    scope: dict[str, object] = {"proposal": env["proposal"], "request": env.get("request"),
                                "session": env.get("session"), "facts": env.get("facts")}
    with pytest.raises(AssertionError):  # the snippet's own assert: an empty trail with one record pending
        exec(compile("\n".join(lines), "README.md", "exec"), scope)  # noqa: S102
    result = scope["result"]
    assert result.count == 0 and result.pending == 1  # type: ignore[attr-defined]
    scope["sink"].close()  # type: ignore[attr-defined]
