"""Two ``txguard serve`` processes (one of them with two workers) on one PostgreSQL: concurrent
requests to both give one linear audit chain that verifies, and budgets and single use hold."""

from __future__ import annotations

import threading
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from txguard.audit import open_sink, verify

from ..conftest import POLICIES
from ..helpers import checkout_args, envelope
from .conftest import Server, serve
from .test_service import metric_samples

pytestmark = pytest.mark.system

CARTS = 12  # 12 distinct confirmed 120.00 USD carts of one user, each sent to both services at once
BUDGET = Decimal("700.00")  # retail-session.yaml: user-daily


def cart(i: int) -> dict[str, Any]:
    env = envelope(checkout_args(confidence=0.9 + i / 1000))  # distinct intents, so distinct confirmations
    env["session"]["id"] = f"conv-{i}"
    return env


def test_two_services_share_one_chain_one_budget_and_single_use(tmp_path: Path, pg_url: str) -> None:
    args = ["--policy", str(POLICIES / "retail-session.yaml"), "--audit", pg_url, "--sessions", pg_url]
    with serve([*args, "--workers", "2"], tmp_path / "a.log") as a, serve(args, tmp_path / "b.log") as b:
        results: list[tuple[int, str, dict[str, Any]]] = []
        lock = threading.Lock()
        start = threading.Barrier(4)

        def drive(server: Server, name: str, order: list[int]) -> None:
            start.wait()
            for i in order:
                r = server.client.post("/v1/check", json=cart(i))
                assert r.status_code == 200, r.text
                with lock:
                    results.append((i, name, r.json()))

        plan = [(a, "a", list(range(0, CARTS, 2))), (a, "a", list(range(1, CARTS, 2))),
                (b, "b", list(range(1, CARTS, 2))), (b, "b", list(range(0, CARTS, 2)))]
        threads = [threading.Thread(target=drive, args=p) for p in plan]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert len(results) == 2 * CARTS
        a_metrics = a.client.get("/metrics").text

    allowed = [(i, d) for i, _, d in results if d["outcome"] == "allow"]
    spent = sum(Decimal("120.00") for _ in allowed)
    assert spent <= BUDGET and len(allowed) == 5  # the budget was used up to the last cart that fits
    assert max(Counter(i for i, _ in allowed).values()) == 1, "a single-use confirmation was used twice"
    codes = Counter(c for _, _, d in results for c in (r["code"] for r in d["reasons"]))
    assert set(codes) <= {"budget_exceeded", "confirmation_used"} and codes["budget_exceeded"] > 0
    # /metrics of the two-worker service counts both workers' decisions
    counted = sum(v for _, v in metric_samples(a_metrics, "txguard_decisions_total"))
    assert counted == sum(1 for _, name, _ in results if name == "a")

    sink = open_sink(pg_url, readonly=True)
    try:
        check = verify(sink)
        records = list(sink.records())
    finally:
        sink.close()
    assert check.ok, check
    assert [r.seq for r in records] == list(range(1, 2 * CARTS + 1))  # one linear chain, no fork, no gap
    assert sorted(r.body["id"] for r in records) == sorted(d["decision_id"] for _, _, d in results)
    recorded = Counter(r.body["decision"]["outcome"] for r in records)
    assert recorded == Counter(d["outcome"] for _, _, d in results)
