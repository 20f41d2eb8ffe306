"""``txguard serve`` as a real process, driven over HTTP: decisions, problem details, reload, metrics."""

from __future__ import annotations

import json
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from txguard import Guard
from txguard.audit import open_sink, verify

from ..audit.conftest import envelopes
from ..conftest import POLICIES, ROOT
from ..sessions.helpers import BASE
from .conftest import serve

pytestmark = pytest.mark.system

CASES = 60
STRICT = BASE.replace('gt: "5000.00"', 'gt: "50.00"').replace('version: "1"', 'version: "2"')
def kettle(sku: str = "111") -> dict[str, Any]:
    """A checkout the user confirmed; confirmations are single use, so each allow needs its own sku."""
    proposal = {"name": "checkout", "arguments": {
        "items": [{"sku": sku, "product_id": "p1", "title": "Kettle", "quantity": 1, "unit_price": "100.00"}],
        "currency": "USD", "total": "100.00", "payment_method_id": "card_1", "merchant": "shop"}}
    return {"proposal": proposal, "session": {"authenticated_user_id": "alice", "confirmed": [proposal]}}


KETTLE = kettle()


def _decided(data: dict[str, Any]) -> dict[str, Any]:
    """What was decided: everything but the timing and the id."""
    return {k: v for k, v in data.items() if k not in ("elapsed_us", "decision_id")}


def metric_samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [(s.labels, s.value) for f in text_string_to_metric_families(text) for s in f.samples if s.name == name]


def test_decisions_equal_the_librarys_and_every_one_is_audited_and_counted(tmp_path: Path) -> None:
    cases = envelopes(CASES)
    guard = Guard.from_file(POLICIES / "retail.yaml")
    expected = [guard.check_envelope(env).to_dict() for env in cases]
    audit = tmp_path / "audit.db"
    with serve(["--policy", str(POLICIES / "retail.yaml"), "--audit", f"sqlite:{audit}"], tmp_path / "log") as srv:
        single = [srv.client.post("/v1/check", json=env) for env in cases[: CASES // 2]]
        assert all(r.status_code == 200 and r.headers["content-type"] == "application/json" for r in single)
        batch = srv.client.post("/v1/check/batch", json={"cases": cases[CASES // 2:]})
        assert batch.status_code == 200
        got = [r.json() for r in single] + batch.json()["decisions"]
        assert [_decided(g) for g in got] == [_decided(e) for e in expected]
        assert srv.client.get("/v1/policy").json() == {"id": guard.policy.id, "version": guard.policy.version,
                                                       "digest": guard.policy.digest}
        metrics = srv.client.get("/metrics").text
        served_openapi = srv.client.get("/openapi.json").json()
    counted = Counter()
    for labels, value in metric_samples(metrics, "txguard_decisions_total"):
        assert labels["policy_digest"] == guard.policy.digest
        counted[labels["outcome"]] += int(value)
    assert counted == Counter(e["outcome"] for e in expected)
    assert len(counted) == 3  # the slice has all three outcomes
    assert sum(v for _, v in metric_samples(metrics, "txguard_audit_append_seconds_count")) == CASES
    sink = open_sink(f"sqlite:{audit}", readonly=True)
    try:
        assert verify(sink).ok
        records = list(sink.records())
    finally:
        sink.close()
    assert [r.body["id"] for r in records] == [g["decision_id"] for g in got]
    assert [r.body["policy"]["digest"] for r in records] == [guard.policy.digest] * CASES
    assert served_openapi == json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))


def test_bad_requests_get_problem_details_and_odd_bodies_escalate(tmp_path: Path) -> None:
    with serve(["--policy", str(POLICIES / "retail.yaml"), "--max-body", "4096"], tmp_path / "log") as srv:
        c = srv.client

        def problem(r: Any, status: int, kind: str) -> dict[str, Any]:
            assert r.status_code == status, r.text
            assert r.headers["content-type"] == "application/problem+json"
            body = r.json()
            assert body["type"] == f"urn:txguard:problem:{kind}" and body["status"] == status and body["title"]
            assert "Traceback" not in r.text
            return body

        problem(c.post("/v1/check", content=b"{not json", headers={"content-type": "application/json"}), 400, "malformed-json")
        problem(c.post("/v1/check", content=b"\xff\xfe", headers={"content-type": "application/json"}), 400, "malformed-json")
        body = problem(c.post("/v1/check", json={"proposal": {"name": "x", "arguments": "a" * 5000}}), 413, "body-too-large")
        assert body["limit"] == 4096

        def chunks() -> Any:  # no content-length: the limit holds on the stream too
            for _ in range(10):
                yield b" " * 1000

        problem(c.post("/v1/check", content=chunks(), headers={"content-type": "application/json"}), 413, "body-too-large")
        problem(c.post("/v1/check", content=b"{}", headers={"content-type": "text/plain"}), 415, "unsupported-media-type")
        problem(c.get("/v1/nothing"), 404, "not-found")
        problem(c.get("/v1/check"), 405, "method-not-allowed")
        problem(c.post("/v1/check/batch", json={"cases": {}}), 422, "invalid-request")
        problem(c.post("/v1/check", json={"proposal": {}, "lineage": {"a": 1}}), 422, "invalid-request")
        for odd in ([1, 2], "checkout", None, {"proposal": {"name": "checkout", "arguments": "{corrupted"}}):
            r = c.post("/v1/check", content=json.dumps(odd).encode(), headers={"content-type": "application/json"})
            assert r.status_code == 200 and r.json()["outcome"] == "escalate", odd
        assert c.get("/healthz").json() == {"status": "ok"}


def test_reload_swaps_refuses_an_invalid_policy_and_answers_sighup(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(BASE, encoding="utf-8")
    with serve(["--policy", str(path)], tmp_path / "log") as srv:
        c = srv.client
        first = c.get("/v1/policy").json()
        assert c.post("/v1/check", json=KETTLE).json()["outcome"] == "allow"

        path.write_text(STRICT, encoding="utf-8")
        r = c.post("/v1/policy/reload")
        assert r.status_code == 200 and r.json()["changed"] is True and r.json()["previous"] == first
        second = c.get("/v1/policy").json()
        assert second["version"] == "2" and second != first
        d = c.post("/v1/check", json=KETTLE).json()
        assert d["outcome"] == "escalate" and d["policy"] == second

        path.write_text(BASE.replace("check: consent", "check: no_such_check"), encoding="utf-8")
        r = c.post("/v1/policy/reload")
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
        body = r.json()
        assert body["type"] == "urn:txguard:problem:policy-invalid" and body["policy"] == second
        assert body["diagnostics"] and all(line.startswith(f"{path}:") for line in body["diagnostics"])
        assert c.get("/v1/policy").json() == second
        assert c.post("/v1/check", json=KETTLE).json()["policy"] == second

        path.write_text(BASE, encoding="utf-8")
        srv.proc.send_signal(signal.SIGHUP)
        srv.wait_until(lambda: c.get("/v1/policy").json() == first, within=30)
        assert c.post("/v1/check", json=kettle("112")).json()["outcome"] == "allow"
        reloads = {labels["result"]: v for labels, v in metric_samples(c.get("/metrics").text, "txguard_reloads_total")}
    assert reloads == {"ok": 2, "error": 1}
    assert "reload of" in srv.output() and "refused" in srv.output()


def test_watch_reloads_when_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(BASE, encoding="utf-8")
    with serve(["--policy", str(path), "--watch", "0.2"], tmp_path / "log") as srv:
        first = srv.client.get("/v1/policy").json()
        path.write_text(STRICT, encoding="utf-8")
        srv.wait_until(lambda: srv.client.get("/v1/policy").json() != first, within=30)
        assert srv.client.get("/v1/policy").json()["version"] == "2"


def test_an_invalid_policy_does_not_start(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = tmp_path / "bad.yaml"
    path.write_text("apiVersion: txguard/v1\n", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "txguard.cli", "serve", "--policy", str(path), "--port", "1"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 3 and str(path) in out.stderr


def test_with_two_workers_sighup_and_post_reload_every_worker_in_place(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(BASE, encoding="utf-8")
    with serve(["--policy", str(path), "--workers", "2"], tmp_path / "log") as srv:
        c = srv.client
        fresh = {"connection": "close"}  # a new connection each time, so the kernel spreads them over the workers
        srv.wait_until(lambda: len({c.get("/readyz", headers=fresh).json()["worker"] for _ in range(10)}) >= 2,
                       within=60)  # both workers serve

        def reloads() -> dict[str, float]:
            return {labels["result"]: v for labels, v in metric_samples(c.get("/metrics").text, "txguard_reloads_total")}

        def settle(want_ok: float) -> None:
            srv.wait_until(lambda: reloads().get("ok", 0) >= want_ok, within=30, what=reloads)

        path.write_text(STRICT, encoding="utf-8")
        srv.proc.send_signal(signal.SIGHUP)
        settle(2)  # each worker reloaded itself (a restarted worker would count no reload at all)
        assert {c.get("/v1/policy", headers=fresh).json()["version"] for _ in range(20)} == {"2"}
        path.write_text(BASE, encoding="utf-8")
        assert c.post("/v1/policy/reload").status_code == 200
        settle(5)  # the POSTed worker, then every worker again through the supervisor
        assert {c.get("/v1/policy", headers=fresh).json()["version"] for _ in range(20)} == {"1"}
        assert reloads() == {"ok": 5, "error": 0}


def test_a_shadow_policy_decides_alongside_and_changes_nothing(tmp_path: Path) -> None:
    live, candidate, audit = tmp_path / "live.yaml", tmp_path / "candidate.yaml", tmp_path / "audit.db"
    live.write_text(BASE, encoding="utf-8")
    candidate.write_text(STRICT, encoding="utf-8")
    with serve(["--policy", str(live), "--shadow", str(candidate), "--audit", f"sqlite:{audit}"], tmp_path / "log") as srv:
        d = srv.client.post("/v1/check", json=KETTLE).json()
        metrics = srv.client.get("/metrics").text
    assert d["outcome"] == "allow" and d["policy"]["version"] == "1"
    div = metric_samples(metrics, "txguard_shadow_divergences_total")
    assert [(labels["outcome"], labels["shadow_outcome"], v) for labels, v in div] == [("allow", "escalate", 1.0)]
    sink = open_sink(f"sqlite:{audit}", readonly=True)
    try:
        (record,) = list(sink.records())
    finally:
        sink.close()
    assert record.body["id"] == d["decision_id"]
    assert record.body["shadow"]["observational"] is True and record.body["shadow"]["decision"]["outcome"] == "escalate"
