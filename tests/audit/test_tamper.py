"""Tampering with a stored trail, in every sink, is detected by ``verify`` at the right place."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from txguard import Guard
from txguard.audit import AuditRecord, MemorySink, canonical_json, open_sink, verify
from txguard.audit._record import record_hash, record_line

from .conftest import RETAIL, StepClock, envelopes

N = 12
Row = dict[str, Any]


class Store:
    """Raw read/write access to one sink's storage, bypassing the sink (what an attacker has)."""

    positional = False  # SQL: a row's place is its seq column

    def __init__(self, tmp: Path, pg_url: str | None) -> None:
        self.tmp, self.pg = tmp, pg_url

    def url(self) -> str:
        raise NotImplementedError

    def rows(self) -> list[Row]:
        raise NotImplementedError

    def store(self, rows: list[Row]) -> None:
        raise NotImplementedError


class MemoryStore(Store):
    sink: MemorySink

    def url(self) -> str:
        return "memory:"

    def rows(self) -> list[Row]:
        return [{"seq": r.seq, "prev": r.prev, "hash": r.hash, "body": r.body_text, "id": r.id} for r in self.sink.stored]

    def store(self, rows: list[Row]) -> None:
        self.sink.stored = [AuditRecord(r["seq"], r["prev"], r["hash"], r["body"], r["id"]) for r in rows]


class JsonlStore(Store):
    def url(self) -> str:
        return f"jsonl:{self.tmp / 'trail.jsonl'}"

    def rows(self) -> list[Row]:
        out = []
        for line in (self.tmp / "trail.jsonl").read_text().splitlines():
            r = AuditRecord.from_line(line)
            out.append({"seq": r.seq, "prev": r.prev, "hash": r.hash, "body": r.body_text, "id": None})
        return out

    def store(self, rows: list[Row]) -> None:
        text = "".join(record_line(r["body"], r["prev"], r["seq"], r["hash"]) + "\n" for r in rows)
        (self.tmp / "trail.jsonl").write_text(text)


class SqliteStore(Store):
    positional = True

    def url(self) -> str:
        return f"sqlite:{self.tmp / 'trail.db'}"

    def _db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.tmp / "trail.db", isolation_level=None)

    def rows(self) -> list[Row]:
        with self._db() as db:
            q = db.execute("SELECT seq, prev, hash, body, id FROM txguard_audit ORDER BY seq")
            return [dict(zip(("seq", "prev", "hash", "body", "id"), r)) for r in q]

    def store(self, rows: list[Row]) -> None:
        db = self._db()
        db.execute("DELETE FROM txguard_audit")
        db.executemany("INSERT INTO txguard_audit (seq, prev, hash, body, id) VALUES (?, ?, ?, ?, ?)",
                       [(r["seq"], r["prev"], r["hash"], r["body"], r["id"]) for r in rows])
        db.close()


class PostgresStore(Store):
    positional = True

    def url(self) -> str:
        assert self.pg is not None
        return self.pg

    def rows(self) -> list[Row]:
        import psycopg

        with psycopg.connect(self.url()) as db:
            q = db.execute("SELECT seq, prev, hash, body, id FROM txguard_audit ORDER BY seq").fetchall()
        return [dict(zip(("seq", "prev", "hash", "body", "id"), r)) for r in q]

    def store(self, rows: list[Row]) -> None:
        import psycopg

        with psycopg.connect(self.url()) as db:
            db.execute("DELETE FROM txguard_audit")
            with db.cursor() as cur:
                cur.executemany("INSERT INTO txguard_audit (seq, prev, hash, body, id) VALUES (%s, %s, %s, %s, %s)",
                                [(r["seq"], r["prev"], r["hash"], r["body"], r["id"]) for r in rows])


STORES: dict[str, type[Store]] = {"memory": MemoryStore, "jsonl": JsonlStore, "sqlite": SqliteStore,
                                   "postgresql": PostgresStore}


def _edit_body(path: Callable[[dict[str, Any]], None]) -> Callable[[list[Row], bool], None]:
    def tamper(rows: list[Row], positional: bool) -> None:
        body = json.loads(rows[4]["body"])
        path(body)
        rows[4]["body"] = canonical_json(body)

    return tamper


def _set_outcome(body: dict[str, Any]) -> None:
    body["decision"]["outcome"] = "allow" if body["decision"]["outcome"] != "allow" else "escalate"


def _set_time(body: dict[str, Any]) -> None:
    body["time"] = body["time"].replace("2026-03-01", "2026-02-28")


def _set_fact(body: dict[str, Any]) -> None:
    body["context"]["request"] = {**(body["context"]["request"] or {}), "budget": "99999.00"}


def _edit_field(field: str) -> Callable[[list[Row], bool], None]:
    def tamper(rows: list[Row], positional: bool) -> None:
        value = rows[4][field]
        rows[4][field] = (value[:-1] + ("0" if value[-1] != "0" else "1"))

    return tamper


def _delete(rows: list[Row], positional: bool) -> None:
    del rows[4]


def _insert(rows: list[Row], positional: bool) -> None:
    """A forger who knows the format: a well-formed record with a correct hash, linked after record 4."""
    body = json.loads(rows[4]["body"])
    body["id"] = "01900000-0000-7000-8000-000000000000"
    body["decision"]["outcome"] = "allow"
    text = canonical_json(body)
    seq, prev = rows[4]["seq"], rows[4]["prev"]
    forged = {"seq": seq, "prev": prev, "hash": record_hash(text, prev, seq), "body": text, "id": body["id"]}
    if positional:  # seq is the key: the forger shifts every later row up by one
        for r in rows[4:]:
            r["seq"] += 1
    rows.insert(4, forged)


def _swap(rows: list[Row], positional: bool) -> None:
    if positional:  # the rows keep their keys; their contents change places
        a, b = rows[3], rows[7]
        rows[3], rows[7] = {**b, "seq": a["seq"]}, {**a, "seq": b["seq"]}
    else:
        rows[3], rows[7] = rows[7], rows[3]


def _truncate(rows: list[Row], positional: bool) -> None:
    del rows[-3:]


TAMPERS: dict[str, tuple[Callable[[list[Row], bool], None], str, int]] = {
    # name: (tamper, the kind verify must report, the position it must name)
    "edit-outcome": (_edit_body(_set_outcome), "edited", 5),
    "edit-time": (_edit_body(_set_time), "edited", 5),
    "edit-context": (_edit_body(_set_fact), "edited", 5),
    "edit-hash": (_edit_field("hash"), "edited", 5),
    "edit-prev": (_edit_field("prev"), "edited", 5),
    "delete": (_delete, "deleted", 5),
    "insert": (_insert, "inserted", 5),
    "swap": (_swap, "reordered", 4),
    "truncate": (_truncate, "truncated tail", N - 2),
}


def _trail(kind: str, tmp: Path, request: pytest.FixtureRequest) -> Store:
    pg = request.getfixturevalue("pg_url") if kind == "postgresql" else None
    store = STORES[kind](tmp, pg)
    sink = open_sink(store.url())
    if isinstance(store, MemoryStore):
        assert isinstance(sink, MemorySink)
        store.sink = sink
    guard = Guard.from_file(RETAIL, clock=StepClock(), audit=sink)
    for env in envelopes(N):
        guard.check_envelope(env)
    sink.close()
    return store


def _verify(store: Store) -> Any:
    return verify(store.sink) if isinstance(store, MemoryStore) else verify(store.url())


@pytest.mark.parametrize("kind", list(STORES))
def test_an_untouched_trail_verifies(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    store = _trail(kind, tmp_path, request)
    result = _verify(store)
    assert result.ok, result.problem
    assert result.count == N
    assert result.head is not None and result.head[0] == N
    assert [r["seq"] for r in store.rows()] == list(range(1, N + 1))


@pytest.mark.parametrize("tamper", list(TAMPERS))
@pytest.mark.parametrize("kind", list(STORES))
def test_tampering_is_detected(kind: str, tamper: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    store = _trail(kind, tmp_path, request)
    rows = store.rows()
    fn, want_kind, want_position = TAMPERS[tamper]
    fn(rows, store.positional)
    store.store(rows)
    result = _verify(store)
    assert not result.ok
    assert (result.kind, result.position) == (want_kind, want_position), result.problem
    assert result.problem is not None and result.problem.startswith(want_kind)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_an_edited_id_column_is_detected(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    store = _trail(kind, tmp_path, request)
    rows = store.rows()
    rows[2]["id"] = "01900000-0000-7000-8000-00000000beef"
    store.store(rows)
    result = _verify(store)
    assert (result.ok, result.kind, result.position) == (False, "edited", 3)


def test_a_jsonl_line_that_is_not_a_record_is_reported(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    store = _trail("jsonl", tmp_path, request)
    path = tmp_path / "trail.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    lines[6] = lines[6].replace('{"seq":7,', '{"seq":"7",')
    path.write_text("".join(lines))
    result = verify(store.url())
    assert not result.ok and result.kind == "edited"
    assert "trail.jsonl:7" in (result.problem or "")
