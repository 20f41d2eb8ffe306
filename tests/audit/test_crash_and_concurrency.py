"""Crash consistency (writers SIGKILLed at random points) and concurrent writers on one chain."""

from __future__ import annotations

import os
import random
import signal
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from txguard import Guard
from txguard.audit import open_sink, verify

from .conftest import RETAIL, envelopes

pytestmark = pytest.mark.system

KILLS = 100


def _fork(child: Callable[[], None], errors: Path | None = None) -> int:
    """Run ``child`` in a forked process; if it raises, its traceback goes to stderr and, with
    ``errors``, to ``errors/<pid>.txt`` so the parent can say why it failed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with helper threads alive (3.12+)
        pid = os.fork()
    if pid == 0:
        code = 0
        try:
            child()
        except BaseException:  # noqa: BLE001 - the parent sees the exit code and the traceback
            import traceback

            text = traceback.format_exc()
            sys.stderr.write(text)
            if errors is not None:
                (errors / f"{os.getpid()}.txt").write_text(text, encoding="utf-8")
            code = 1
        finally:
            os._exit(code)
    return pid


def _wait(pid: int) -> int:
    _, status = os.waitpid(pid, 0)
    return status


def _reap(pids: list[int], errors: Path) -> None:
    """Wait for every child; fail with each failed child's exit status and traceback."""
    failed = []
    for pid in pids:
        status = _wait(pid)
        if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0):
            how = (f"exit code {os.WEXITSTATUS(status)}" if os.WIFEXITED(status)
                   else f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"status {status}")
            report = errors / f"{pid}.txt"
            why = report.read_text(encoding="utf-8") if report.exists() else "(no traceback)"
            failed.append(f"child {pid}: {how}\n{why}")
    assert not failed, f"{len(failed)} of {len(pids)} writers failed:\n" + "\n".join(failed)


def _sources(url: str) -> list[tuple[str, str]]:
    sink = open_sink(url, readonly=True)
    try:
        out = []
        for rec in sink.records():
            source = rec.body["lineage"]["source"]
            out.append((source["w"], source["n"]))
        return out
    finally:
        sink.close()


@pytest.mark.parametrize("scheme", ["jsonl", "sqlite"])
def test_no_acknowledged_record_is_lost_when_writers_are_killed(scheme: str, tmp_path: Path) -> None:
    url = f"{scheme}:{tmp_path / ('trail.jsonl' if scheme == 'jsonl' else 'trail.db')}"
    policy = Guard.from_file(RETAIL).policy
    envs = envelopes(60)
    rng = random.Random(20260301)
    acknowledged: set[tuple[str, str]] = set()
    for k in range(KILLS):
        r, w = os.pipe()

        def writer(k: int = k, w: int = w, r: int = r) -> None:
            os.close(r)
            guard = Guard(policy, audit=open_sink(url))
            n = 0
            while True:
                for env in envs:
                    guard.check_envelope(env, lineage={"w": str(k), "n": str(n)})
                    os.write(w, f"{k} {n}\n".encode())  # acknowledged: check returned the decision
                    n += 1

        pid = _fork(writer)
        os.close(w)
        with os.fdopen(r, "rb") as fh:
            # Kill only after the writer has acknowledged some decisions, however slow the machine
            # is, then at a random point within the next ones: the kill lands mid-work every time.
            wanted = rng.randint(1, 12)
            head = [fh.readline() for _ in range(wanted)]
            assert all(line.endswith(b"\n") for line in head), "the writer died before it was killed"
            time.sleep(rng.uniform(0.0, 0.01))
            os.kill(pid, signal.SIGKILL)
            assert os.WIFSIGNALED(_wait(pid))
            reported = b"".join(head).decode() + fh.read().decode()
        for line in reported.split("\n")[:-1]:  # the last piece may be torn by the kill
            a, b = line.split()
            acknowledged.add((a, b))
        if k % 10 != 9:
            continue
        result = verify(url)
        # between crashes the stored chain is intact (a JSONL line torn by the kill is cut by the next writer)
        assert result.ok or (scheme == "jsonl" and result.kind == "truncated tail"), result.problem
    open_sink(url).close()  # the next writer: commits crashed writers' journals, cuts a torn line
    result = verify(url)
    assert result.ok, result.problem
    stored = _sources(url)
    assert len(stored) == len(set(stored)) == result.count  # nothing twice
    missing = acknowledged - set(stored)
    assert not missing, f"{len(missing)} acknowledged decisions have no record, e.g. {sorted(missing)[:3]}"
    if scheme == "sqlite":
        assert not list((tmp_path / "trail.db.journal").glob("*.journal"))


PROCS, EACH = 8, 2000


def _concurrent(url: str, errors: Path) -> None:
    policy = Guard.from_file(RETAIL).policy
    envs = envelopes(100)
    go_r, go_w = os.pipe()

    def writer(k: int) -> Callable[[], None]:
        def run() -> None:
            os.close(go_w)
            sink = open_sink(url)  # the openers run concurrently, as writers starting together do
            guard = Guard(policy, audit=sink)
            # Start appending together: forking from a large test process can take long enough for
            # the first writers to finish before the last one exists, and then they would not interleave.
            assert os.read(go_r, 1) == b""
            for n in range(EACH):
                decision = guard.check_envelope(envs[n % len(envs)], lineage={"w": str(k), "n": str(n)})
                assert decision.codes != ("audit_unavailable",), decision.reasons
            sink.close()

        return run

    pids = [_fork(writer(k), errors) for k in range(PROCS)]
    os.close(go_r)
    os.close(go_w)  # the writers' reads return: go
    _reap(pids, errors)
    result = verify(url)
    assert result.ok, result.problem
    assert result.count == PROCS * EACH
    assert result.head is not None and result.head[0] == PROCS * EACH
    stored = _sources(url)
    assert sorted(stored) == sorted((str(k), str(n)) for k in range(PROCS) for n in range(EACH))
    # the writers really interleaved: one linear chain, not eight runs one after another
    switches = sum(1 for a, b in zip(stored, stored[1:]) if a[0] != b[0])
    assert switches > PROCS


def test_eight_processes_append_to_one_sqlite_chain(tmp_path: Path) -> None:
    _concurrent(f"sqlite:{tmp_path / 'trail.db'}", tmp_path)


def test_eight_processes_append_to_one_postgresql_chain(pg_url: str, tmp_path: Path) -> None:
    _concurrent(f"{pg_url}?commit=group&journal={tmp_path / 'journal'}", tmp_path)


def test_postgresql_commit_each_keeps_a_linear_chain_across_processes(pg_url: str, tmp_path: Path) -> None:
    policy = Guard.from_file(RETAIL).policy
    envs = envelopes(10)

    def writer() -> None:
        sink = open_sink(pg_url)
        guard = Guard(policy, audit=sink)
        for n in range(60):
            guard.check_envelope(envs[n % len(envs)])
        sink.close()

    _reap([_fork(writer, tmp_path) for _ in range(4)], tmp_path)
    result = verify(pg_url)
    assert result.ok and result.count == 240, result.problem
