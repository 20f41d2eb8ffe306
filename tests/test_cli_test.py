"""``txguard test``: suites, labelled corpora, coverage, JSON and JUnit output, exit codes."""

from __future__ import annotations

import gzip
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from txguard.authoring.suite_load import load_suite
from txguard.cli import main

from .conftest import CORPUS, POLICIES

SHIPPED = POLICIES / "retail.tests.yaml"


def _wrong(tmp_path: Path) -> Path:
    """The shipped suite with one deliberately wrong expectation (quantity mismatch wanted as allow)."""
    text = SHIPPED.read_text(encoding="utf-8")
    wrong = text.replace("want: {outcome: clarify, reasons: [quantity]}", "want: {outcome: allow}")
    assert wrong != text
    path = tmp_path / "wrong.tests.yaml"
    path.write_text(wrong.replace("policy: retail.yaml", f"policy: {POLICIES / 'retail.yaml'}"), encoding="utf-8")
    return path


def test_shipped_suite_passes_with_full_coverage(capsys: pytest.CaptureFixture[str]) -> None:
    n = sum(len(load_suite(path).cases) for path in sorted(POLICIES.rglob("*.tests.yaml")))  # policies/grocery/ too
    assert main(["test", str(POLICIES), "--coverage", "--fail-under", "100"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == f"{n} passed, 0 failed"
    assert "coverage retail (" in "\n".join(out) and "13/13 rules fired (100.0%)" in "\n".join(out)
    assert "  reason codes never asserted: none" in out


def test_a_wrong_expectation_fails_with_a_readable_diff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _wrong(tmp_path)
    n = len(load_suite(path).cases)
    assert main(["test", str(path), "--failures-only"]) == 2
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith(f"FAIL {path}:") and lines[0].endswith("retail case[20]: two pairs when the user asked for one")
    assert lines[1:6] == [
        '     want: {"outcome": "allow"}',
        '     got:  {"outcome": "clarify", "reasons": ["quantity"]}',
        "       - outcome: want allow, got clarify",
        "       fired:",
        "         quantity [quantity, clarify]: the cart holds 2 units; the user asked for 1",
    ]
    assert lines[-1] == f"{n - 1} passed, 1 failed"
    assert "PASS" not in out


def test_json_and_junit_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _wrong(tmp_path)
    junit = tmp_path / "out.xml"
    assert main(["test", str(path), "--format", "json", "--junit", str(junit)]) == 2
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    failed = [c for c in doc["suites"][0]["cases"] if c["status"] == "fail"]
    assert [c["diff"] for c in failed] == [["outcome: want allow, got clarify"]]
    assert failed[0]["got"] == {"outcome": "clarify", "reasons": ["quantity"]}
    assert doc["failed"] == 1 and captured.err.strip().endswith("passed, 1 failed")
    root = ET.parse(junit).getroot()
    assert root.get("failures") == "1"
    failures = root.findall(".//testcase/failure")
    assert len(failures) == 1 and failures[0].get("message") == "outcome: want allow, got clarify"


def test_coverage_names_an_unreachable_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = (POLICIES / "retail.yaml").read_text(encoding="utf-8").replace(
        "taxonomy: taxonomy/", f"taxonomy: {POLICIES}/taxonomy/") + """\
  - id: never-both
    kinds: [checkout]
    when:
      all:
        - {path: intent.total, gt: "5.00"}
        - {path: intent.total, lt: "3.00"}
"""
    (tmp_path / "retail.yaml").write_text(policy, encoding="utf-8")
    suite = tmp_path / "retail.tests.yaml"
    suite.write_text(SHIPPED.read_text(encoding="utf-8"), encoding="utf-8")
    assert main(["test", str(suite), "--coverage", "--fail-under", "100"]) == 2
    out = capsys.readouterr().out
    assert "  never fired: never-both" in out
    assert "  reason codes never asserted: never_both" in out
    assert "coverage: policy `retail` covers 92.9% of its rules, under 100%" in out
    assert main(["test", str(suite), "--coverage", "--fail-under", "90"]) == 0
    capsys.readouterr()
    # ... and lint finds the same rule without running anything.
    assert main(["lint", str(tmp_path / "retail.yaml")]) == 2
    assert capsys.readouterr().out.splitlines() == [
        f"{tmp_path / 'retail.yaml'}:{len(policy.splitlines()) - 2}:7: lint-unreachable: rule `never-both`: can never fire: "
        "`intent.total` cannot be gt 5.00 and lt 3.00 at once",
    ]


def test_labelled_corpus_confusion_matrix_and_gates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = CORPUS / "chat-to-buy-dev.jsonl.gz"
    assert main(["test", "--policy", str(POLICIES / "retail.yaml"), str(corpus)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1:5] == [
        "  expected \\ got         allow     clarify    escalate",
        "  allow                    140           0           0",
        "  clarify                    0         249           0",
        "  escalate                   0           0         221",
    ]
    assert out[-1] == "610 passed, 0 failed"
    # Relabel two unsafe cases as allow and a safe case as escalate: the gates catch both.
    with gzip.open(corpus, "rt", encoding="utf-8") as fh:
        cases = [json.loads(line) for line in fh][:40]
    gold = [c for c in cases if c["expect"] == "allow"][0]
    bad = [c for c in cases if c["expect"] == "escalate"][:2]
    for c in bad:
        c["expect"] = "allow"
    gold["expect"] = "escalate"
    relabelled = tmp_path / "relabelled.jsonl"
    relabelled.write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    assert main(["test", "--policy", str(POLICIES / "retail.yaml"), str(relabelled), "--max-unsafe", "0"]) == 2
    out = capsys.readouterr().out
    assert f"unsafe allowed (1): {gold['id']}" in out
    assert f"safe blocked (2): {bad[0]['id']}, {bad[1]['id']}" in out
    assert f"gate: {relabelled}: 2 safe cases blocked, more than --max-blocked 0" in out
    assert main(["test", "--policy", str(POLICIES / "retail.yaml"), str(relabelled),
                 "--max-unsafe", "1", "--max-blocked", "2"]) == 0
    capsys.readouterr()
    assert main(["test", "--policy", str(POLICIES / "retail.yaml"), str(relabelled),
                 "--max-unsafe", "1", "--max-blocked", "2", "--min-exact", "95"]) == 2
    assert "exact-match rate 92.50%, under --min-exact 95%" in capsys.readouterr().out


def test_exit_codes_for_invalid_policy_suite_errors_and_tool_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.yaml").write_text("apiVersion: txguard/v1\nid: bad\nversion: 1\nrules: 5\n", encoding="utf-8")
    (tmp_path / "bad.tests.yaml").write_text(
        "cases:\n  - note: n\n    proposal: {name: checkout}\n    want: {outcome: escalate}\n", encoding="utf-8")
    assert main(["test", str(tmp_path / "bad.tests.yaml")]) == 3
    assert f"{tmp_path / 'bad.yaml'}:4:8: txg-schema" in capsys.readouterr().err
    (tmp_path / "broken.tests.yaml").write_text("cases:\n  - note: n\n", encoding="utf-8")
    assert main(["test", str(tmp_path / "broken.tests.yaml")]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'broken.tests.yaml'}:2:5: txg-suite: every case needs a `proposal`" in err
    assert main(["test", str(tmp_path / "missing.tests.yaml")]) == 1
    assert main(["test", str(CORPUS / "chat-to-buy-dev.jsonl.gz")]) == 1
    assert "needs --policy" in capsys.readouterr().err
