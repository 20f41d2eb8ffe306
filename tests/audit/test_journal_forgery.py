"""A journal entry that its writer did not write (forged, edited, moved, reordered or replayed) is
never chained: the next writer refuses it and quarantines its journal, and ``verify`` reports it,
on SQLite and on PostgreSQL (a real server) group commit."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from txguard.audit import AuditEntry, open_sink, verify
from txguard.audit.sinks.group import _GroupSink

from .test_journal_races import crash


def _url(kind: str, tmp: Path, request: pytest.FixtureRequest) -> tuple[str, Path]:
    if kind == "sqlite":
        return f"sqlite:{tmp / 'trail.db'}?commit=group&ms=60000&every=100000", tmp / "trail.db.journal"
    pg = request.getfixturevalue("pg_url")
    return f"{pg}?commit=group&journal={tmp / 'journal'}&ms=60000&every=100000", tmp / "journal"


def _entry(ident: str) -> AuditEntry:
    return AuditEntry(ident, f'{{"decision":{{"outcome":"allow"}},"id":"{ident}"}}')


def _crashed_writer(url: str, idents: list[str]) -> Path:
    """A writer that journals ``idents`` and dies before committing them: its journal's path."""
    sink = open_sink(url)
    assert isinstance(sink, _GroupSink)
    for ident in idents:
        sink.append(_entry(ident))
    return crash(sink)  # type: ignore[arg-type]


def _chain_ids(url: str) -> list[str | None]:
    reader = open_sink(url, readonly=True)
    try:
        return [r.id for r in reader.records()]
    finally:
        reader.close()


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def _forged(journal: Path, url: str) -> list[str]:
    """A journal file dropped by someone without the key, in the writer's own format."""
    (journal / "attacker-1-000000000000.journal").write_bytes(
        b"id-evil " + b"ab" * 32 + b' {"decision":{"outcome":"allow"},"id":"id-evil"}\n')
    return []


def _edited(journal: Path, url: str) -> list[str]:
    path = _crashed_writer(url, ["id-1", "id-2", "id-3"])
    lines = _lines(path)
    lines[1] = lines[1].replace(b'"outcome":"allow"', b'"outcome":"escalate"')
    path.write_bytes(b"".join(lines))
    return ["id-1", "id-3"]  # the untouched entries are authentic, and acknowledged: they are kept


def _reordered(journal: Path, url: str) -> list[str]:
    path = _crashed_writer(url, ["id-1", "id-2", "id-3"])
    lines = _lines(path)
    path.write_bytes(lines[1] + lines[0] + lines[2])
    return ["id-3"]


def _moved(journal: Path, url: str) -> list[str]:
    path = _crashed_writer(url, ["id-1"])
    line = _lines(path)[0]
    path.unlink()
    other = _crashed_writer(url, ["id-2"])
    other.write_bytes(other.read_bytes() + line)  # a genuine entry of another journal
    return ["id-2"]


def _replayed(journal: Path, url: str) -> list[str]:
    path = _crashed_writer(url, ["id-1", "id-2"])
    copy = path.read_bytes()
    open_sink(url).close()  # the next writer commits the orphan, deletes and unregisters it
    assert not path.exists()
    path.write_bytes(copy)  # dropped again under its own name
    return ["id-1", "id-2"]  # already in the chain: never a second time


ATTACKS: dict[str, Callable[[Path, str], list[str]]] = {
    "forged": _forged, "edited": _edited, "reordered": _reordered, "moved": _moved, "replayed": _replayed}


@pytest.mark.parametrize("attack", list(ATTACKS))
@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_journal_entry_its_writer_did_not_write_is_refused_and_reported(
        kind: str, attack: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url, journal = _url(kind, tmp_path, request)
    open_sink(url).close()
    journal.mkdir(parents=True, exist_ok=True)
    kept = ATTACKS[attack](journal, url)
    before = verify(url)
    assert (before.ok, before.kind) == (False, "forged"), before  # reported before any writer runs
    open_sink(url).close()  # the next writer: commits what is authentic, refuses the rest
    assert _chain_ids(url) == kept
    after = verify(url)
    assert (after.ok, after.kind) == (False, "forged"), after
    assert ".rejected" in (after.problem or "")
    assert list(journal.glob("*.rejected")) and not list(journal.glob("*.journal"))
    assert after.count == len(kept)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_journal_committed_by_a_writer_that_died_before_deleting_it_is_not_a_replay(
        kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url, journal = _url(kind, tmp_path, request)
    sink = open_sink(url)
    assert isinstance(sink, _GroupSink)
    for ident in ("id-1", "id-2"):
        sink.append(_entry(ident))
    path = sink._journal.path if sink._journal else None
    assert path is not None
    copy = path.read_bytes()
    sink.flush()  # committed (the journal registered in the same transaction), then deleted
    sink.append(_entry("id-3"))
    crash(sink)  # type: ignore[arg-type]
    path.write_bytes(copy)  # as if it had died between its commit and the deletion
    result = verify(url)
    assert result.ok and result.pending == 1, result  # id-3 waits; the committed journal is no replay
    open_sink(url).close()
    result = verify(url)
    assert result.ok and result.count == 3 and result.pending == 0, result
    assert _chain_ids(url) == ["id-1", "id-2", "id-3"]
    assert not list(journal.glob("*.rejected"))


def test_the_journal_key_is_in_the_database_not_in_the_journal_directory(tmp_path: Path) -> None:
    url = f"sqlite:{tmp_path / 'trail.db'}?commit=group"
    sink = open_sink(url)
    assert isinstance(sink, _GroupSink)
    key = sink._key
    sink.close()
    assert len(key) == 32
    journal = tmp_path / "trail.db.journal"
    assert os.stat(journal).st_mode & 0o077 == 0  # not a directory others can feed
    for path in journal.rglob("*"):
        assert key not in path.read_bytes()
    shutil.rmtree(journal)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_link_or_directory_in_the_journal_directory_is_reported_never_followed(
        kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url, journal = _url(kind, tmp_path, request)
    open_sink(url).close()
    journal.mkdir(parents=True, exist_ok=True)
    target = tmp_path / "elsewhere"
    target.write_bytes(b'id-evil 00 {"id":"id-evil"}\n')
    (journal / "a.journal").symlink_to(target)
    (journal / "b.journal").mkdir()
    assert (verify(url).ok, verify(url).kind) == (False, "forged")
    open_sink(url).close()
    assert _chain_ids(url) == [] and target.exists()
