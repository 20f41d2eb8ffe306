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
from txguard.audit._sinks import SqliteSink, orphan_journals


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


def test_a_crashed_writers_journal_is_still_recovered(tmp_path: Path) -> None:
    journal_dir = tmp_path / "trail.db.journal"
    journal_dir.mkdir()
    (journal_dir / "gone-1-000000000000.journal").write_text('id-a {"a":1}\nid-b {"b":2}\nid-c {"c"', encoding="utf-8")
    found = []
    for path, fd, entries in orphan_journals(journal_dir):
        os.close(fd)
        found.append((path.name, [e.id for e in entries]))
    assert found == [("gone-1-000000000000.journal", ["id-a", "id-b"])]  # the torn last line was never acknowledged
    open_sink(f"sqlite:{tmp_path / 'trail.db'}").close()  # the next writer commits the orphan
    reader = open_sink(f"sqlite:{tmp_path / 'trail.db'}", readonly=True)
    try:
        assert [r.id for r in reader.records()] == ["id-a", "id-b"]
    finally:
        reader.close()
    assert not list(journal_dir.glob("*.journal"))

