"""The PostgreSQL sink: many processes on many hosts append to one linear, gap-free chain.

The chain is serialised by the database: ``txguard_audit_append(ids, bodies)`` (PL/pgSQL) locks
the single head row (``SELECT ... FOR UPDATE``), links the bodies after it (``seq`` + 1, ``prev`` =
head hash, ``hash`` = ``sha256`` of the canonical link text, computed in the server), inserts them
and moves the head, all in the caller's transaction. A second writer waits on the row lock until
the first commits, so the chain never forks and never skips a number; ``seq`` is also the primary
key, so a fork could not be committed anyway.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from .._record import GENESIS, AuditRecord
from .base import AuditEntry, AuditError, Damaged, _checked_head, _choice, _missing, _positive
from .group import _GroupSink

PG_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS txguard_audit (
  seq bigint PRIMARY KEY, id text NOT NULL UNIQUE, prev text NOT NULL, hash text NOT NULL, body text NOT NULL
);
CREATE TABLE IF NOT EXISTS txguard_audit_head (
  one int PRIMARY KEY CHECK (one = 1), seq bigint NOT NULL, hash text NOT NULL
);
INSERT INTO txguard_audit_head VALUES (1, 0, '{GENESIS}') ON CONFLICT DO NOTHING;
CREATE OR REPLACE FUNCTION txguard_audit_append(ids text[], bodies text[]) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  s bigint;
  h text;
  h2 text;
BEGIN
  SELECT seq, hash INTO s, h FROM txguard_audit_head WHERE one = 1 FOR UPDATE;
  FOR i IN 1 .. coalesce(array_length(bodies, 1), 0) LOOP
    s := s + 1;
    h2 := encode(sha256(convert_to('{{"body":' || bodies[i] || ',"prev":"' || h || '","seq":' || s::text || '}}', 'UTF8')), 'hex');
    INSERT INTO txguard_audit (seq, id, prev, hash, body) VALUES (s, ids[i], h, h2, bodies[i]);
    h := h2;
  END LOOP;
  UPDATE txguard_audit_head SET seq = s, hash = h WHERE one = 1;
  RETURN s;
END
$$;
CREATE TABLE IF NOT EXISTS txguard_audit_key (one int PRIMARY KEY CHECK (one = 1), key bytea NOT NULL);
CREATE TABLE IF NOT EXISTS txguard_audit_journals (name text PRIMARY KEY);
CREATE OR REPLACE FUNCTION txguard_audit_append_group(ids text[], bodies text[], journals text[], done text[])
RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO txguard_audit_journals (name) SELECT unnest(journals) ON CONFLICT DO NOTHING;
  DELETE FROM txguard_audit_journals WHERE name = ANY(done);
  IF coalesce(array_length(bodies, 1), 0) > 0 THEN
    RETURN txguard_audit_append(ids, bodies);
  END IF;
  RETURN NULL;
END
$$;
"""

_SCHEMA_LOCK = 0x7478_6775_6172_6401  # an advisory lock key: only schema creation takes it


class PostgresSink(_GroupSink):
    """PostgreSQL (psycopg 3).

    Options, given in the URL's query and removed before connecting:
    ``commit=each`` (default: one transaction per record, committed before ``append`` returns) or
    ``commit=group&journal=DIR`` (each record journaled to a local file first, one transaction per
    ``every`` records or ``ms`` milliseconds; a crashed writer's journal is committed by the next
    writer on the same host that opens the same journal directory, once every entry's MAC is
    checked against the key kept in ``txguard_audit_key``). Other query parameters go to libpq.
    """

    def __init__(self, url: str, *, readonly: bool = False, salt: bytes | None = None) -> None:
        try:
            import psycopg
        except ImportError:  # pragma: no cover - depends on the installation
            raise AuditError("the PostgreSQL sink needs psycopg 3: pip install 'txguard[postgres]'") from None
        base, _, query = url.partition("?")
        ours: dict[str, Any] = {}
        rest = []
        parsers: dict[str, Callable[[str], Any]] = {"commit": _choice("each", "group"), "every": _positive, "ms": _positive, "journal": str}
        for key, value in parse_qsl(query, keep_blank_values=True):
            if key in parsers:
                try:
                    ours[key] = parsers[key](value)
                except ValueError as exc:
                    raise AuditError(f"audit sink option `{key}`: {exc}") from None
            else:
                rest.append((key, value))
        conninfo = base + ("?" + urlencode(rest) if rest else "")
        self.url = base
        self._readonly = readonly
        found: Any = None
        try:
            self._db = psycopg.connect(conninfo, autocommit=True)
            if not readonly:
                with self._db.transaction():
                    self._db.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                    self._db.execute(PG_SCHEMA)
                    self._db.execute("INSERT INTO txguard_audit_key VALUES (1, %s) ON CONFLICT DO NOTHING",
                                     (os.urandom(32),))
            else:
                found = self._db.execute("SELECT to_regclass('txguard_audit') IS NOT NULL, "
                                         "to_regclass('txguard_audit_head') IS NOT NULL").fetchone()
        except psycopg.Error as exc:
            raise AuditError(f"{base}: cannot open the audit database: {str(exc).strip()[:200]}") from None
        journal = ours.get("journal")
        if readonly:
            if found is None or not any(found):
                self._db.close()
                raise AuditError(f"{base}: no audit trail in this database")
            self.mask_salt = salt
            self._closed = False
            self._journal_dir = Path(journal) if journal else None
            return
        super().__init__(commit=ours.get("commit", "each"), every=ours.get("every", 64), ms=ours.get("ms", 5),
                         journal_dir=Path(journal) if journal else None, salt=salt)

    def _commit(self, entries: Sequence[AuditEntry], journals: Sequence[str] = (), done: Sequence[str] = ()) -> None:
        if any("\n" in e.body_text or "\n" in e.id for e in entries):
            raise AuditError("a record body holds a raw newline: it is not canonical JSON")
        # One text per column, split in the server: adapting a list of long strings to text[] costs
        # the client far more. Canonical JSON never holds a raw newline (it is escaped in strings).
        ids, bodies = "\n".join(e.id for e in entries), "\n".join(e.body_text for e in entries)
        if not journals and not done:
            self._db.execute("SELECT txguard_audit_append(string_to_array(%s, E'\\n'), string_to_array(%s, E'\\n'))",
                             (ids, bodies))
            return
        self._db.execute("SELECT txguard_audit_append_group(string_to_array(%s, E'\\n'), string_to_array(%s, E'\\n'), "
                         "%s::text[], %s::text[])", (ids, bodies, list(journals), list(done)))

    def _conflict(self, exc: BaseException) -> bool:
        import psycopg

        return isinstance(exc, psycopg.errors.IntegrityError)

    def _known_ids(self, ids: Sequence[str]) -> set[str]:
        rows = self._db.execute("SELECT id FROM txguard_audit WHERE id = ANY(%s)", (list(ids),)).fetchall()
        return {str(r[0]) for r in rows}

    def _journal_key(self) -> bytes | None:
        import psycopg

        try:
            row = self._db.execute("SELECT key FROM txguard_audit_key WHERE one = 1").fetchone()
        except psycopg.Error:  # a trail written before journals carried MACs
            return None
        return bytes(row[0]) if row and row[0] is not None and len(row[0]) >= 16 else None

    def _committed_journals(self) -> set[str]:
        import psycopg

        try:
            return {str(r[0]) for r in self._db.execute("SELECT name FROM txguard_audit_journals").fetchall()}
        except psycopg.Error:
            return set()

    def records(self) -> Iterator[AuditRecord]:
        import psycopg

        n = 0
        try:
            with self._db.transaction(), self._db.cursor(name="txguard_audit_read") as cur:
                cur.itersize = 5000
                cur.execute("SELECT seq, prev, hash, body, id FROM txguard_audit ORDER BY seq")
                for seq, prev, digest, body, ident in cur:
                    n += 1
                    if not all(isinstance(v, str) for v in (prev, digest, body, ident)) or type(seq) is not int:
                        raise Damaged(f"{self.url}: row seq {seq}: a column is not of its type", "edited", n)
                    yield AuditRecord(seq, prev, digest, body, ident)
        except psycopg.Error as exc:
            raise Damaged(f"{self.url}: unreadable audit table: {str(exc).strip()[:200]}", _missing(exc), n + 1) from None

    def head(self) -> tuple[int, str] | None:
        import psycopg

        try:
            row = self._db.execute("SELECT seq, hash FROM txguard_audit_head WHERE one = 1").fetchone()
        except psycopg.Error as exc:
            raise Damaged(f"{self.url}: unreadable audit head: {str(exc).strip()[:200]}", _missing(exc)) from None
        return _checked_head(self.url, row)
