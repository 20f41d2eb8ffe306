"""A JSON Lines trail cut short, at any point, is reported by ``verify`` and refused by the next
writer; the only repair a writer makes is cutting a torn line its head proves was never acknowledged."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from txguard import Guard
from txguard.audit import AuditEntry, AuditError, JsonlSink, open_sink, verify
from txguard.audit._record import chain, record_line
from txguard.cli import main

from .conftest import RETAIL, StepClock, envelopes

N = 8


def _build(directory: Path) -> tuple[bytes, bytes]:
    sink = open_sink(f"jsonl:{directory / 'trail.jsonl'}")
    guard = Guard.from_file(RETAIL, clock=StepClock(), audit=sink)
    for env in envelopes(N):
        guard.check_envelope(env)
    sink.close()
    return (directory / "trail.jsonl").read_bytes(), (directory / "trail.jsonl.head").read_bytes()


with tempfile.TemporaryDirectory() as _d:
    TRAIL, HEAD = _build(Path(_d))
LINE_ENDS = [i + 1 for i, b in enumerate(TRAIL) if b == ord("\n")]


def _write(directory: Path, trail: bytes, head: bytes = HEAD) -> str:
    (directory / "trail.jsonl").write_bytes(trail)
    (directory / "trail.jsonl.head").write_bytes(head)
    return f"jsonl:{directory / 'trail.jsonl'}"


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.integers(0, len(TRAIL) - 1), st.sampled_from(LINE_ENDS[:-1] + [0])))
def test_a_cut_at_any_point_is_reported_and_no_writer_continues_the_trail(cut: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        url = _write(Path(d), TRAIL[:cut])
        result = verify(url)
        assert not result.ok and result.kind == "truncated tail", result
        assert main(["audit", "verify", url]) == 4
        with pytest.raises(AuditError, match="will not continue"):
            open_sink(url)
        assert (Path(d) / "trail.jsonl").read_bytes() == TRAIL[:cut]  # the evidence is left as it was
        assert (Path(d) / "trail.jsonl.head").read_bytes() == HEAD


def test_whole_records_cut_from_the_end_are_not_laundered_by_the_next_writer(tmp_path: Path) -> None:
    url = _write(tmp_path, TRAIL[:LINE_ENDS[N - 4]])  # the last three records cut, the head left alone
    with pytest.raises(AuditError, match="truncated tail: the trail ends at record 5 but its head is record 8"):
        Guard.from_file(RETAIL, audit=open_sink(url))
    result = verify(url)
    assert (result.ok, result.kind, result.position) == (False, "truncated tail", 6)


def test_a_deleted_head_file_is_reported_and_refused(tmp_path: Path) -> None:
    url = _write(tmp_path, TRAIL[:LINE_ENDS[2]])
    (tmp_path / "trail.jsonl.head").unlink()
    result = verify(url)
    assert (result.ok, result.kind) == (False, "deleted"), result
    with pytest.raises(AuditError, match="head file is missing"):
        open_sink(url)


def test_a_torn_line_the_head_proves_unacknowledged_is_the_only_repair(tmp_path: Path) -> None:
    torn = TRAIL[LINE_ENDS[-2]:LINE_ENDS[-1] - 40]
    url = _write(tmp_path, TRAIL + torn)  # a writer died while writing record 9; the head is record 8
    result = verify(url)
    assert (result.ok, result.kind, result.position) == (False, "truncated tail", N + 1)
    assert "never acknowledged" in (result.problem or "")
    open_sink(url).close()  # the next writer cuts it
    assert (tmp_path / "trail.jsonl").read_bytes() == TRAIL
    assert verify(url).ok


def _next_line(trail: bytes, head_seq: int) -> tuple[str, str]:
    """A well-formed record after the last one of ``trail`` (what a writer, or a forger, would write)."""
    last = trail.splitlines()[-1].decode()
    prev = last.split('"hash":"')[1][:64]
    ((seq, prev, digest, body),) = chain(['{"id":"x","n":1}'], head_seq, prev)
    return record_line(body, prev, seq, digest) + "\n", digest


def test_a_record_the_head_announced_is_adopted_and_an_unannounced_one_is_refused(tmp_path: Path) -> None:
    line, digest = _next_line(TRAIL, N)
    announced = HEAD.decode().replace('","seq"', f'","next":"{digest}","seq"').rstrip("\n")
    announced = announced.rstrip(" ").ljust(255) + "\n"
    url = _write(tmp_path, TRAIL + line.encode(), announced.encode())  # died between the line and the head
    result = verify(url)
    assert result.ok and result.unacknowledged == 1 and result.count == N + 1, result
    sink = open_sink(url)
    sink.append(AuditEntry("y", '{"id":"y"}'))
    sink.close()
    assert verify(url).ok and verify(url).count == N + 2
    # a record appended by someone else: the head never announced it
    url = _write(tmp_path, TRAIL + line.encode())
    result = verify(url)
    assert (result.ok, result.kind, result.position) == (False, "inserted", N + 1)
    with pytest.raises(AuditError, match="not its head"):
        open_sink(url)


def test_a_write_that_fails_leaves_no_half_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = _write(tmp_path, TRAIL)
    sink = open_sink(url)
    assert isinstance(sink, JsonlSink)
    import txguard.audit.sinks.jsonl as sinks

    real = sinks._write_all

    def full_disk(fd: int, data: bytes) -> None:
        real(fd, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sinks, "_write_all", full_disk)
    with pytest.raises(OSError):
        sink.append(AuditEntry("z", '{"id":"z"}'))
    monkeypatch.undo()
    sink.append(AuditEntry("w", '{"id":"w"}'))
    sink.close()
    result = verify(url)
    assert result.ok and result.count == N + 1, result
