"""Group-commit journals under concurrent openers: a writer that opens the trail recovers only the
journals of writers that are gone, never a journal its live owner is retiring at that moment."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from txguard.audit import AuditEntry, open_sink, verify
from txguard.audit.sinks import SqliteSink
from txguard.audit.sinks.journal import orphan_journals, read_journal


def _before_first_trylock(monkeypatch: pytest.MonkeyPatch, action: Callable[[], None]) -> list[int]:
    """Run ``action`` just before the first non-blocking ``flock`` (a recoverer's try), as if the
    recoverer had been preempted between ``open()`` and ``flock()`` of a journal it found."""
    real = fcntl.flock
    calls: list[int] = []

    def flock(fd: Any, op: int) -> None:
        if op == fcntl.LOCK_EX | fcntl.LOCK_NB and not calls:
            calls.append(fd)
            action()
        real(fd, op)

    monkeypatch.setattr(fcntl, "flock", flock)
    return calls


def test_a_writer_opening_while_another_retires_its_journal_neither_fails_nor_recommits(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:{tmp_path / 'trail.db'}?commit=group&ms=60000&every=100000"
    first = open_sink(url)
    assert isinstance(first, SqliteSink)
    for n in range(5):
        first.append(AuditEntry(f"id-{n}", f'{{"id":"id-{n}","n":{n}}}'))
    # The first writer commits its group and retires that journal right after the second writer
    # has opened it and before it tries the lock. The lock is then free, but the journal is committed
    # and gone: the second writer must skip it (it used to lock it, then fail to unlink it).
    calls = _before_first_trylock(monkeypatch, first.flush)
    second = open_sink(url)
    monkeypatch.undo()
    assert calls, "the second writer found no journal to try"
    for n in range(5, 8):
        second.append(AuditEntry(f"id-{n}", f'{{"id":"id-{n}","n":{n}}}'))
    second.close()
    first.close()
    result = verify(f"sqlite:{tmp_path / 'trail.db'}")
    assert result.ok, result.problem
    assert result.count == 8  # each record once: the committed journal was not committed again
    assert not list((tmp_path / "trail.db.journal").glob("*.journal"))


def crash(sink: SqliteSink) -> Path:
    """Stop a group-commit writer as a SIGKILL would: its journal stays, unlocked and uncommitted."""
    sink._stop.set()
    with sink._lock:
        sink._closed = True
        journal = sink._journal
        assert journal is not None
        os.close(journal.fd)
    sink._db.close()
    return journal.path


def test_a_crashed_writers_journal_is_still_recovered(tmp_path: Path) -> None:
    url = f"sqlite:{tmp_path / 'trail.db'}?commit=group&ms=60000&every=100000"
    writer = open_sink(url)
    assert isinstance(writer, SqliteSink)
    for ident in ("id-a", "id-b"):
        writer.append(AuditEntry(ident, f'{{"id":"{ident}"}}'))
    path = crash(writer)
    with open(path, "ab") as fh:
        fh.write(b'id-c 00 {"c"')  # the line being written when the writer died: never acknowledged
    found = []
    for orphan, fd, data in orphan_journals(path.parent):
        os.close(fd)
        found.append((orphan.name, [e.id for e in read_journal(orphan.stem, data, writer._key)[0]]))
    assert found == [(path.name, ["id-a", "id-b"])]  # the torn last line was never acknowledged
    assert verify(f"sqlite:{tmp_path / 'trail.db'}").pending == 2
    open_sink(url).close()  # the next writer commits the orphan
    reader = open_sink(f"sqlite:{tmp_path / 'trail.db'}", readonly=True)
    try:
        assert [r.id for r in reader.records()] == ["id-a", "id-b"]
    finally:
        reader.close()
    assert not list(path.parent.glob("*.journal"))
    result = verify(f"sqlite:{tmp_path / 'trail.db'}")
    assert result.ok and result.count == 2 and result.pending == 0, result
