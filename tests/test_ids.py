"""Decision ids: UUIDv7 (RFC 9562) from the OS's randomness, strictly increasing within a process."""

from __future__ import annotations

import random
import uuid

import pytest

from txguard.core import ids
from txguard.core.ids import uuid7


def test_an_id_is_a_version_7_rfc_9562_uuid() -> None:
    u = uuid.UUID(uuid7())
    assert u.version == 7 and u.variant == uuid.RFC_4122


def test_ids_never_come_from_the_random_module(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object) -> int:
        raise AssertionError("random is not a source of ids")

    monkeypatch.setattr(random, "getrandbits", refuse)
    monkeypatch.setattr(random, "random", refuse)
    assert len({uuid7() for _ in range(100)}) == 100


def test_ids_increase_within_a_millisecond_and_past_the_counter(monkeypatch: pytest.MonkeyPatch) -> None:
    frozen = 1_700_000_000_000 * 1_000_000
    monkeypatch.setattr(ids.time, "time_ns", lambda: frozen)
    made = [uuid7() for _ in range(6000)]  # more than the 12-bit counter holds: the timestamp moves on
    assert made == sorted(made) and len(set(made)) == len(made)
    assert int(made[-1][:8] + made[-1][9:13], 16) > frozen // 1_000_000


def test_ids_increase_when_the_clock_steps_back(monkeypatch: pytest.MonkeyPatch) -> None:
    first = uuid7()
    monkeypatch.setattr(ids.time, "time_ns", lambda: 0)
    assert uuid7() > first
