"""Group commit (SQLite, PostgreSQL): one transaction per ``every`` records or ``ms`` milliseconds,
each record journaled (:mod:`.journal`) before ``append`` returns."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .base import AuditEntry, AuditError, Damaged, _close_at_exit, _start_timer
from .journal import _Journal, orphan_journals, read_journal

_ID = re.compile(r"[^\s\x00-\x1f\x7f\ud800-\udfff]{1,200}")  # no space or control: a journal line is `ID MAC BODY`


def check_entry(entry: AuditEntry) -> bytes:
    """Refuse, alone and before it is acknowledged, an entry that could not join the chain: an id
    that is not 1-200 characters of text without spaces or control characters, a body that is not
    one line of a JSON object's UTF-8 text. Returns the body's UTF-8 bytes."""
    if type(entry.id) is not str or _ID.fullmatch(entry.id) is None:
        raise AuditError(f"audit record refused: its decision id {str(entry.id)[:60]!r} is not 1-200 characters "
                         "without spaces or control characters")
    body = entry.body_text
    if type(body) is not str or not body.startswith("{") or not body.endswith("}") or "\n" in body:
        raise AuditError(f"audit record of decision `{entry.id}` refused: its body is not one line of canonical JSON")
    try:
        return body.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise AuditError(f"audit record of decision `{entry.id}` refused: its body is not UTF-8 text ({exc.reason} "
                         f"at {exc.start})") from None


class _GroupSink:
    """Group commit: one transaction per ``every`` records or ``ms`` milliseconds.

    With ``commit=group`` each entry goes to this process's journal (``write(2)``, with its MAC)
    before ``append`` returns, so an acknowledged record survives a crash of the process; a
    background thread commits the pending entries as one transaction, which also registers the
    journals they came from (``txguard_audit_journals``), then deletes those journals (each group
    starts a new journal file) and unregisters them in its next transaction. With ``commit=each``
    ``append`` commits its own transaction.
    """

    exact_head = True
    max_pending = 100_000
    _readonly = False  # a reader (verify, show) opened the trail: closing only disconnects
    _db: Any  # the database connection of the concrete sink
    _journal_dir: Path | None = None
    _key: bytes = b""

    def __init__(self, *, commit: str, every: int, ms: int, journal_dir: Path | None, salt: bytes | None) -> None:
        self.mask_salt = salt
        self._every, self._ms = every, ms
        self._lock = threading.Lock()
        self._commit_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pending: list[AuditEntry] = []
        self._unsettled: set[str] = set()  # ids appended and not committed yet (pending or being committed)
        self.refused: list[tuple[AuditEntry, str]] = []
        """Acknowledged entries the database refused at commit (their id was already in the trail),
        each with why; the others of their group were committed. ``flush`` reports each once."""
        self._unreported = 0
        self._retired: list[_Journal] = []
        self._done: list[str] = []  # journals deleted after their commit, to unregister in the next one
        self._oldest = 0.0
        self._closed = False
        self._error: BaseException | None = None
        self._journal_dir = journal_dir
        self._journal: _Journal | None = None
        if commit == "group":
            if journal_dir is None:
                raise AuditError("`commit=group` needs a journal directory (option `journal=DIR`)")
            self._key = self._journal_key() or b""
            if not self._key:
                raise AuditError("the audit database holds no journal key")
            self._recover(journal_dir)
            self._journal = _Journal(journal_dir, self._key)
            _start_timer(self, ms)
        _close_at_exit(self)

    def _commit(self, entries: Sequence[AuditEntry], journals: Sequence[str] = (), done: Sequence[str] = ()) -> None:
        """One transaction: chain ``entries``, register ``journals`` as committed, unregister ``done``."""
        raise NotImplementedError

    def _known_ids(self, ids: Sequence[str]) -> set[str]:
        raise NotImplementedError

    def _journal_key(self) -> bytes | None:
        """The key of journal MACs, kept in the database (never in the journal directory)."""
        raise NotImplementedError

    def _committed_journals(self) -> set[str]:
        """Journals whose entries are committed but which may not be deleted yet."""
        raise NotImplementedError

    def _conflict(self, exc: BaseException) -> bool:
        """Whether ``exc`` is the database refusing a row (a decision id already in the trail)."""
        return False

    def _recover(self, directory: Path) -> None:
        """Commit what crashed writers acknowledged: the authenticated entries of their journals.

        A journal with an entry that is not authentic (forged, edited, moved, reordered) or already
        in the chain although the journal was never committed (replayed) is renamed
        ``NAME.rejected``: its refused entries are never chained, and ``verify`` reports the file.
        """
        committed = self._committed_journals()
        for path, fd, data in orphan_journals(directory):
            try:
                name = path.stem
                if name in committed:  # its writer committed it and died before deleting it
                    path.unlink(missing_ok=True)
                    self._done.append(name)
                    continue
                entries, refused = read_journal(name, data, self._key)
                known = self._known_ids([e.id for e in entries]) if entries else set()
                todo = [e for e in entries if e.id not in known]
                if todo:
                    lost = self._commit_group(todo, [name], ())
                    self.refused.extend(lost)
                    self._unreported += len(lost)
                    self._done.append(name)
                if refused or known:
                    path.rename(path.with_suffix(".rejected"))
                else:
                    path.unlink(missing_ok=True)
            finally:
                os.close(fd)

    def journal_state(self, known: set[str]) -> int:
        """For ``verify``: the number of authenticated entries waiting in journals to be committed.

        Raises :class:`Damaged` (``forged``) for a quarantined journal, an entry that is not
        authentic, or an entry of an uncommitted journal that is already in the chain (replayed).
        """
        directory = self._journal_dir
        if directory is None or not directory.is_dir():
            return 0
        for path in sorted(directory.glob("*.rejected")):
            raise Damaged(f"{path}: a journal with forged, edited, reordered or replayed entries was refused by "
                          "the writer that found it: nothing of it was chained; it is kept for inspection", "forged")
        committed = self._committed_journals()
        key = self._journal_key()
        pending = 0
        for path in sorted(directory.glob("*.journal")):
            if path.is_symlink() or (path.exists() and not path.is_file()):
                raise Damaged(f"{path}: not a journal file (a link or a directory): no writer made it", "forged")
            try:
                data = path.read_bytes()
            except FileNotFoundError:  # committed and deleted meanwhile
                continue
            entries, refused = read_journal(path.stem, data, key)
            if refused:
                raise Damaged(f"{path}: {refused[0]}", "forged")
            if path.stem in committed:
                continue
            for e in entries:
                if e.id in known:
                    raise Damaged(f"{path}: decision `{e.id[:40]}` is already in the chain but this journal was never "
                                  "committed: a replayed entry", "forged")
            pending += len(entries)
        return pending

    def append(self, entry: AuditEntry) -> None:
        data = check_entry(entry)
        if self._journal is None:
            with self._commit_lock:
                if self._closed:
                    raise AuditError("the audit sink is closed")
                try:
                    self._commit([entry])
                except Exception as exc:
                    if self._conflict(exc):
                        raise AuditError(f"audit record of decision `{entry.id}` refused: that decision id is already "
                                         "in the audit trail") from exc
                    raise
            return
        with self._lock:
            if self._closed:
                raise AuditError("the audit sink is closed")
            if len(self._pending) >= self.max_pending:
                raise AuditError(f"{len(self._pending)} records wait for a commit that keeps failing: {self._error}")
            if entry.id in self._unsettled:
                raise AuditError(f"audit record of decision `{entry.id}` refused: a record of that decision id is "
                                 "already waiting to be committed")
            self._journal.write(entry, data)
            self._pending.append(entry)
            self._unsettled.add(entry.id)
            n = len(self._pending)
            if n == 1:
                self._oldest = time.monotonic()
        if n >= self._every:
            self._wake.set()
            if n >= 8 * self._every:  # the committer is behind: the writer waits for it
                self._flush(raise_errors=False)

    def _flush(self, raise_errors: bool = True) -> None:
        with self._commit_lock:
            with self._lock:
                if not self._pending or self._journal is None:
                    return
                batch, self._pending = self._pending, []
                self._retired.append(self._journal)
                assert self._journal_dir is not None
                self._journal = _Journal(self._journal_dir, self._key)
            done = list(self._done)
            try:
                refused = self._commit_group(batch, [j.name for j in self._retired], done)
            except Exception as exc:  # the batch stays journaled and pending; the next flush retries
                with self._lock:
                    self._pending = batch + self._pending
                    self._error = exc
                if raise_errors:
                    raise AuditError(f"the audit commit failed: {exc}") from exc
                return
            self._error = None
            with self._lock:
                self._unsettled.difference_update(e.id for e in batch)
                self.refused.extend(refused)
                self._unreported += len(refused)
            del self._done[:len(done)]
            for journal in self._retired:
                journal.close()
                self._done.append(journal.name)
            self._retired = []

    def _commit_group(self, batch: list[AuditEntry], journals: Sequence[str],
                      done: Sequence[str]) -> list[tuple[AuditEntry, str]]:
        """Commit ``batch``; if the database refuses some of its rows (their decision id is already in
        the trail, e.g. written by another process), commit the others and return the refused ones
        with why. Any other failure raises (the whole group is retried)."""
        refused: list[tuple[AuditEntry, str]] = []
        for _ in range(3):  # another writer may commit one of these ids between the look-up and the retry
            try:
                self._commit(batch, journals, done)
                return refused
            except Exception as exc:
                if not self._conflict(exc):
                    raise
                known = self._known_ids([e.id for e in batch])
                seen: set[str] = set()
                keep: list[AuditEntry] = []
                for e in batch:
                    if e.id in known or e.id in seen:
                        refused.append((e, f"decision `{e.id}`: a record of that decision id is already in the trail"))
                    else:
                        keep.append(e)
                        seen.add(e.id)
                if len(keep) == len(batch):
                    raise
                batch = keep
        self._commit(batch, journals, done)
        return refused

    def _report(self) -> None:
        with self._lock:
            n, self._unreported = self._unreported, 0
        if n:
            shown = "; ".join(why for _, why in self.refused[-n:][:5])
            raise AuditError(f"{n} acknowledged audit record(s) refused at commit, the others committed: {shown} "
                             "(kept in `sink.refused`)")

    def _tick(self) -> None:
        self._wake.clear()
        with self._lock:
            due = bool(self._pending) and (len(self._pending) >= self._every
                                           or time.monotonic() - self._oldest >= self._ms / 1000)
        if due:
            self._flush(raise_errors=False)

    def flush(self) -> None:
        if not self._closed:
            self._flush()
            self._report()

    def close(self) -> None:
        if self._closed:
            return
        if self._readonly:
            self._closed = True
            self._disconnect()
            return
        self._stop.set()
        self._wake.set()
        self._flush()
        try:
            self._report()
        finally:
            self._close_now()

    def _close_now(self) -> None:
        with self._commit_lock, self._lock:
            if self._closed:
                return
            if self._journal is not None:
                self._journal.close()
            if self._done:
                try:
                    self._commit([], (), self._done)
                except Exception:  # noqa: BLE001 - a stale registration only names a deleted file
                    pass
            self._closed = True
            self._disconnect()

    def _disconnect(self) -> None:
        self._db.close()
