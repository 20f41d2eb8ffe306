"""benchmarks/peers.py decides like the guard: its agreement check, without the timing.

Every contender of the peers benchmark (the hand-written baseline, txguard on the pre-validated
intent, and each peer engine whose package is installed: the optional ``bench`` extra) must give
the guard's outcome and reason codes on every case, at 13 and at 100 rules. Here on 20 real
cases spread over the dev corpus; the benchmark checks all 610 before it times anything.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import peers  # noqa: E402


@pytest.fixture(scope="module")
def cases() -> list[dict[str, Any]]:
    every = sorted(peers.load_cases(), key=lambda c: c["id"])
    return every[:: len(every) // 20][:20]


def test_the_sample_has_every_outcome(cases: list[dict[str, Any]]) -> None:
    calls, _info = peers.build(cases, peers=[], sizes=(peers.RETAIL_RULES,))
    guard_outcomes = {fn(*args).outcome.value for fn, args in (c for c in calls[f"txguard raw @{peers.RETAIL_RULES}"] if c)}
    assert guard_outcomes == {"allow", "clarify", "escalate"}


def test_every_installed_peer_decides_like_the_guard(cases: list[dict[str, Any]]) -> None:
    installed = peers.load_peers(quiet=True)
    calls, info = peers.build(cases, installed)
    assert info["peers"] == [name for name, _m in installed]
    expected = ["plain", "txguard raw", "txguard intent"] + [f"{n}{k}" for n, _m in installed for k in ("+adapter", " engine")]
    for size in peers.SIZES:
        assert [name.rsplit(" @", 1)[0] for name in calls if name.endswith(f"@{size}")] == expected
        assert all(len(calls[f"{row} @{size}"]) == len(cases) for row in expected)


def test_a_peer_that_decides_otherwise_stops_the_benchmark(cases: list[dict[str, Any]]) -> None:
    def build(plain: Any, extras: Any) -> tuple[Any, Any, Any]:
        def allow_all(*_args: Any) -> tuple[str, list[str]]:
            return "allow", []
        return allow_all, allow_all, lambda derived: derived

    with pytest.raises(peers.Disagreement, match=r"^yes\+adapter @13 decides .* as \('allow', \[\]\), the guard \(13 rules\) as \('(clarify|escalate)'"):
        peers.build(cases, [("yes", SimpleNamespace(build=build))], sizes=(peers.RETAIL_RULES,))


def test_the_large_rows_hold_100_rules() -> None:
    extras = peers.extra_rules(peers.TOTAL_RULES - peers.RETAIL_RULES)
    assert len(peers.txguard_policy(extras).rules) == peers.TOTAL_RULES
