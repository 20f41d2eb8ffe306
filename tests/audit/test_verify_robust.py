"""``verify`` returns a verdict for whatever a trail holds, and ``txguard audit verify`` exits 4 with a
located message for every tamper, never a traceback."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from txguard import Guard
from txguard.audit import AuditEntry, AuditError, VerifyResult, open_sink, verify
from txguard.cli import main

from .conftest import RETAIL, StepClock, envelopes

N = 6


def _trail(url: str) -> None:
    sink = open_sink(url)
    guard = Guard.from_file(RETAIL, clock=StepClock(), audit=sink)
    for env in envelopes(N):
        guard.check_envelope(env)
    sink.close()


with tempfile.TemporaryDirectory() as _d:
    _trail(f"jsonl:{_d}/t.jsonl")
    JSONL, JSONL_HEAD = Path(f"{_d}/t.jsonl").read_bytes(), Path(f"{_d}/t.jsonl.head").read_bytes()
    _trail(f"sqlite:{_d}/t.db?commit=each")
    with sqlite3.connect(f"{_d}/t.db") as _db:
        ROWS = _db.execute("SELECT seq, id, prev, hash, body FROM txguard_audit ORDER BY seq").fetchall()


def _cli(url: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["audit", "verify", url])
    return code, capsys.readouterr().out


@pytest.mark.parametrize("head", [b"[1,2]", b"null", b"1e400", b'{"seq": -1, "hash": "x"}', b'{"seq":1}', b"\xff\xfe",
                                  b'{"hash":"' + b"0" * 64 + b'","seq":99999999999999999999}'])
def test_a_head_file_that_is_not_a_head_is_a_located_tamper(head: bytes, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "t.jsonl").write_bytes(JSONL)
    (tmp_path / "t.jsonl.head").write_bytes(head)
    result = verify(f"jsonl:{tmp_path / 't.jsonl'}")
    assert (result.ok, result.kind) == (False, "edited"), result
    code, out = _cli(f"jsonl:{tmp_path / 't.jsonl'}", capsys)
    assert code == 4 and "t.jsonl.head: edited: the head file is not a chain head" in out


def test_a_non_utf8_byte_in_a_record_is_located(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = JSONL.splitlines(keepends=True)
    lines[2] = lines[2].replace(b"Sunglasses", b"Sungl\xffsses", 1) if b"Sunglasses" in lines[2] else lines[2][:60] + b"\xff" + lines[2][61:]
    (tmp_path / "t.jsonl").write_bytes(b"".join(lines))
    (tmp_path / "t.jsonl.head").write_bytes(JSONL_HEAD)
    result = verify(f"jsonl:{tmp_path / 't.jsonl'}")
    assert (result.ok, result.kind, result.position) == (False, "edited", 3), result
    code, out = _cli(f"jsonl:{tmp_path / 't.jsonl'}", capsys)
    assert code == 4 and "t.jsonl:3: edited: the line is not UTF-8" in out


def _sqlite(tmp: Path) -> Path:
    path = tmp / "t.db"
    with sqlite3.connect(path) as db:
        db.executescript("CREATE TABLE txguard_audit (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, prev TEXT NOT NULL,"
                         " hash TEXT NOT NULL, body TEXT NOT NULL);"
                         "CREATE TABLE txguard_audit_head (one INTEGER PRIMARY KEY CHECK (one = 1), seq INTEGER NOT NULL,"
                         " hash TEXT NOT NULL);")
        db.executemany("INSERT INTO txguard_audit VALUES (?, ?, ?, ?, ?)", ROWS)
        db.execute("INSERT INTO txguard_audit_head VALUES (1, ?, ?)", (ROWS[-1][0], ROWS[-1][3]))
    return path


@pytest.mark.parametrize("edit, kind", [
    ("UPDATE txguard_audit_head SET seq = 'abc'", "edited"),
    ("UPDATE txguard_audit_head SET seq = -1", "edited"),
    ("UPDATE txguard_audit_head SET hash = x'ff'", "edited"),
    ("DELETE FROM txguard_audit_head", "deleted"),
    ("DROP TABLE txguard_audit_head", "deleted"),
    ("UPDATE txguard_audit SET body = x'7bff7d' WHERE seq = 2", "edited"),
    ("UPDATE txguard_audit SET body = CAST(x'7bff7d' AS TEXT) WHERE seq = 2", "edited"),
    ("UPDATE txguard_audit SET prev = 7 WHERE seq = 3", "edited"),
    ("DELETE FROM txguard_audit WHERE seq > 4", "truncated tail"),
])
def test_a_damaged_sqlite_trail_is_a_located_tamper(edit: str, kind: str, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = _sqlite(tmp_path)
    with sqlite3.connect(path) as db:
        db.execute(edit)
    result = verify(f"sqlite:{path}")
    assert (result.ok, result.kind) == (False, kind), result
    code, out = _cli(f"sqlite:{path}", capsys)
    assert code == 4 and out.startswith(f"sqlite:{path}: ")


def test_a_sqlite_file_that_is_not_a_database_is_a_tamper(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "t.db").write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)
    result = verify(f"sqlite:{tmp_path / 't.db'}")
    assert (result.ok, result.kind) == (False, "unreadable"), result
    assert _cli(f"sqlite:{tmp_path / 't.db'}", capsys)[0] == 4


@pytest.mark.parametrize("edit, kind", [
    ("DROP TABLE txguard_audit_head", "deleted"),
    ("DELETE FROM txguard_audit WHERE seq > 3; DELETE FROM txguard_audit_head", "deleted"),
    ("DELETE FROM txguard_audit WHERE seq > 3", "truncated tail"),
    ("INSERT INTO txguard_audit SELECT seq + 100, id || 'x', prev, hash, body FROM txguard_audit WHERE seq = 1", "inserted"),
])
def test_a_damaged_postgresql_trail_is_a_located_tamper(edit: str, kind: str, pg_url: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    import psycopg

    _trail(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as db:
        db.execute(edit)  # type: ignore[arg-type]
    result = verify(pg_url)
    assert (result.ok, result.kind) == (False, kind), result
    assert _cli(pg_url, capsys)[0] == 4


def test_verify_reports_records_still_pending_in_journals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:{tmp_path / 't.db'}?commit=group&ms=60000&every=100000"
    sink = open_sink(url)
    for n in range(3):
        sink.append(AuditEntry(f"id-{n}", f'{{"id":"id-{n}"}}'))
    result = verify(f"sqlite:{tmp_path / 't.db'}")
    assert (result.ok, result.count, result.pending) == (True, 0, 3), result
    code, out = _cli(f"sqlite:{tmp_path / 't.db'}", capsys)
    assert code == 0 and "3 acknowledged record(s) not yet committed" in out
    sink.close()
    result = verify(f"sqlite:{tmp_path / 't.db'}")
    assert (result.ok, result.count, result.pending) == (True, 3, 0), result


# -- fuzz --------------------------------------------------------------------------------------------

EDITS = st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=4)


def _apply(data: bytes, edits: list[tuple[float, int]]) -> bytes:
    out = bytearray(data)
    for where, byte in edits:
        out[int(where * len(out))] = byte
    return bytes(out)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EDITS, st.booleans(), st.booleans(), st.integers(0, 40))
def test_fuzz_byte_corruption_of_a_jsonl_trail_and_its_head_gets_a_verdict(
        edits: list[tuple[float, int]], trail: bool, head: bool, cut: int) -> None:
    data = _apply(JSONL, edits) if trail else JSONL
    head_data = _apply(JSONL_HEAD, edits) if head or not trail else JSONL_HEAD
    data = data[:len(data) - cut]
    changed = data != JSONL or head_data != JSONL_HEAD
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "t.jsonl").write_bytes(data)
        (Path(d) / "t.jsonl.head").write_bytes(head_data)
        result = verify(f"jsonl:{d}/t.jsonl")
        assert isinstance(result, VerifyResult)
        assert result.ok is not changed, result
        assert main(["audit", "verify", "--format", "json", f"jsonl:{d}/t.jsonl"]) == (4 if changed else 0)


VALUES = st.one_of(st.none(), st.integers(-2, 2**63 - 1), st.floats(allow_nan=False), st.binary(max_size=8),
                   st.text(max_size=8), st.sampled_from(["", "0" * 64, "{}", "[]", "{\"id\":1}"]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, N), st.sampled_from(["seq", "id", "prev", "hash", "body"]), VALUES),
                min_size=1, max_size=3))
def test_fuzz_random_edits_to_sqlite_rows_get_a_verdict(edits: list[tuple[int, str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = _sqlite(Path(d))
        changed = False
        with sqlite3.connect(path) as db:
            for row, column, value in edits:
                table, where = ("txguard_audit_head", "one = 1") if row == N else ("txguard_audit", f"seq = {row + 1}")
                if table == "txguard_audit_head" and column not in ("seq", "hash"):
                    column = "hash"
                try:
                    before = db.execute(f"SELECT {column}, typeof({column}) FROM {table} WHERE {where}").fetchone()
                    db.execute(f"UPDATE {table} SET {column} = ? WHERE {where}", (value,))
                    after = db.execute(f"SELECT {column}, typeof({column}) FROM {table} WHERE {where}").fetchone()
                except sqlite3.Error:
                    continue
                changed = changed or before != after
        result = verify(f"sqlite:{path}")
        assert isinstance(result, VerifyResult)
        if changed:
            assert not result.ok, (edits, result)
        assert main(["audit", "verify", "--format", "json", f"sqlite:{path}"]) == (0 if result.ok else 4)


@pytest.mark.parametrize("which", ["trail", "head"])
def test_a_trail_or_head_that_is_not_a_regular_file_is_refused_without_blocking(tmp_path: Path, which: str) -> None:
    # A FIFO blocks open() until a writer comes: verify and writers must refuse it, not wait.
    trail = tmp_path / "trail.jsonl"
    if which == "head":
        trail.write_text("", encoding="utf-8")
    os.mkfifo(trail if which == "trail" else Path(f"{trail}.head"))
    cli = "import sys; from txguard.cli import main; sys.exit(main(sys.argv[1:]))"
    run = subprocess.run([sys.executable, "-c", cli, "audit", "verify", f"jsonl:{trail}"], capture_output=True,
                         text=True, timeout=60, check=False)
    assert run.returncode == 1, run.stderr
    assert "not a regular file" in run.stderr and "Traceback" not in run.stderr
    with pytest.raises(AuditError, match="not a regular file"):
        open_sink(f"jsonl:{trail}")
