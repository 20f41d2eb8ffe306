"""One bad record never fails the group it was committed with: it is refused alone, with a clear
error, and the others are written (SQLite group commit; ``commit=each`` and the append checks too)."""

from __future__ import annotations

from pathlib import Path

import pytest

from txguard import Guard, Outcome
from txguard.audit import AuditEntry, AuditError, open_sink, verify

from .conftest import RETAIL, envelopes

def _entry(ident: str, n: int = 0) -> AuditEntry:
    return AuditEntry(ident, f'{{"id":"{ident}","n":{n},"v":1}}')


def _entries(prefix: str, n: int) -> list[AuditEntry]:
    return [_entry(f"{prefix}-{i}", i) for i in range(n)]


def _ids(url: str) -> list[str]:
    sink = open_sink(url)
    try:
        return [r.id or "" for r in sink.records()]
    finally:
        sink.close()


def test_an_id_already_in_the_trail_is_refused_alone_and_the_others_are_committed(tmp_path: Path) -> None:
    url = f"sqlite:{tmp_path}/a.db?every=1000&ms=60000"
    first = open_sink(url)
    first.append(_entry("dup", 0))
    first.close()
    sink = open_sink(url)
    group = [*_entries("a", 3), _entry("dup", 9), *_entries("b", 2)]
    for e in group:
        sink.append(e)  # acknowledged: the duplicate is only found by the database at commit
    with pytest.raises(AuditError, match=r"1 acknowledged audit record\(s\) refused at commit, the others committed: "
                                         r"decision `dup`: a record of that decision id is already in the trail"):
        sink.flush()
    assert [e.id for e, _ in sink.refused] == ["dup"]  # type: ignore[attr-defined]
    sink.append(_entry("after", 7))
    sink.flush()  # reported once; the trail goes on
    sink.close()
    assert _ids(url) == ["dup", "a-0", "a-1", "a-2", "b-0", "b-1", "after"]
    assert verify(url).ok


@pytest.mark.parametrize(("entry", "why"), [
    (_entry("has space", 1), "is not 1-200 characters without spaces or control characters"),
    (_entry("", 1), "is not 1-200 characters"),
    (AuditEntry(None, "{}"), "is not 1-200 characters"),  # type: ignore[arg-type]
    (AuditEntry("tab\there", "{}"), "without spaces or control characters"),
    (AuditEntry("lone\udc80", "{}"), "without spaces or control characters"),
    (AuditEntry("nl", '{"a":\n1}'), "its body is not one line of canonical JSON"),
    (AuditEntry("list", "[1]"), "its body is not one line of canonical JSON"),
    (AuditEntry("surrogate", '{"a":"\ud800"}'), "its body is not UTF-8 text"),
])
@pytest.mark.parametrize("commit", ["group", "each"])
def test_a_malformed_entry_is_refused_at_append_and_the_others_are_written(
        tmp_path: Path, entry: AuditEntry, why: str, commit: str) -> None:
    url = f"sqlite:{tmp_path}/a.db?commit={commit}"
    sink = open_sink(url)
    sink.append(_entry("before", 0))
    with pytest.raises(AuditError, match=why):
        sink.append(entry)
    sink.append(_entry("after", 2))
    sink.close()
    assert _ids(url) == ["before", "after"]
    assert verify(url).ok


def test_a_second_record_of_a_waiting_id_is_refused_at_append(tmp_path: Path) -> None:
    url = f"sqlite:{tmp_path}/a.db?every=1000&ms=60000"
    sink = open_sink(url)
    sink.append(_entry("x", 0))
    with pytest.raises(AuditError, match="a record of that decision id is already waiting to be committed"):
        sink.append(_entry("x", 1))
    sink.append(_entry("y", 2))
    sink.close()
    assert _ids(url) == ["x", "y"]


def test_commit_each_refuses_an_id_already_in_the_trail_with_a_clear_error(tmp_path: Path) -> None:
    url = f"sqlite:{tmp_path}/a.db?commit=each"
    sink = open_sink(url)
    sink.append(_entry("x", 0))
    with pytest.raises(AuditError, match="decision `x` refused: that decision id is already in the audit trail"):
        sink.append(_entry("x", 1))
    sink.append(_entry("y", 2))
    sink.close()
    assert _ids(url) == ["x", "y"]


def test_the_guard_escalates_only_the_decision_whose_record_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:{tmp_path}/a.db?every=1000&ms=60000"
    sink = open_sink(url)
    guard = Guard.from_file(RETAIL, audit=sink)
    env = envelopes(1)[0]
    args = (env["proposal"], env.get("request"), env.get("session"), env.get("facts"))
    ident = "0192a0b0-0000-7000-8000-000000000001"
    first = guard.decide(guard.case(*args, record_id=ident))
    again = guard.decide(guard.case(*args, record_id=ident))  # another case under the same id
    other = guard.independent().decide(guard.case(*args))  # a fresh ledger: the confirmation is unused there
    assert all(r.code != "audit_unavailable" for r in first.reasons)
    assert again.outcome is Outcome.ESCALATE and again.reasons[0].code == "audit_unavailable"
    assert "already waiting to be committed" in again.reasons[0].message
    assert other.outcome is first.outcome
    sink.close()
    assert len(_ids(url)) == 2 and verify(url).ok


def test_postgresql_group_commit_refuses_an_id_already_in_the_trail_alone(pg_url: str, tmp_path: Path) -> None:
    url = f"{pg_url}?commit=group&journal={tmp_path}/journal&every=1000&ms=60000"
    first = open_sink(url)
    first.append(_entry("dup", 0))
    first.close()
    sink = open_sink(url)
    for e in [*_entries("a", 2), _entry("dup", 9), *_entries("b", 1)]:
        sink.append(e)
    with pytest.raises(AuditError, match="decision `dup`: a record of that decision id is already in the trail"):
        sink.flush()
    sink.close()
    assert _ids(url) == ["dup", "a-0", "a-1", "b-0"]
    assert verify(url).ok
