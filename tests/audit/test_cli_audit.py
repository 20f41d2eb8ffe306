"""``txguard audit verify|show|replay|report`` and ``txguard check --audit``."""

from __future__ import annotations

import gzip
import json
import re
import sqlite3
from pathlib import Path

import pytest

from txguard.cli import main

from .conftest import POLICIES, RETAIL, envelopes


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    cases = tmp_path / "cases.jsonl.gz"
    with gzip.open(cases, "wt", encoding="utf-8") as fh:
        for i, env in enumerate(envelopes(80)):
            env["session"] = dict(env.get("session") or {}, id=f"s-{i % 4}", turn=i)
            fh.write(json.dumps(env) + "\n")
        fh.write("not json\n")
    db = tmp_path / "trail.db"
    assert main(["check", "--policy", str(RETAIL), "--cases", str(cases), "--out", str(tmp_path / "out.jsonl"),
                 "--audit", f"sqlite:{db}"]) == 0
    return db


def test_check_with_audit_records_every_decision_including_malformed_lines(trail: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "verify", str(trail)]) == 0
    assert capsys.readouterr().out.startswith("ok: 81 records, one unbroken chain")
    with sqlite3.connect(trail) as db:
        bodies = [json.loads(b) for (b,) in db.execute("SELECT body FROM txguard_audit ORDER BY seq")]
    assert bodies[-1]["decision"]["reasons"][0]["code"] == "malformed"


def test_verify_exits_4_and_names_the_broken_record(trail: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with sqlite3.connect(trail) as db:
        db.execute("UPDATE txguard_audit SET body = replace(body, '\"outcome\":\"clarify\"', '\"outcome\":\"allow\"') WHERE seq = 7")
    capsys.readouterr()
    assert main(["audit", "verify", str(trail), "--format", "json"]) == 4
    out = json.loads(capsys.readouterr().out)
    assert (out["ok"], out["position"], out["kind"]) == (False, 7, "edited")


def test_show_filters_by_session_outcome_and_time(trail: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["audit", "show", str(trail), "--session", "s-1", "--outcome", "clarify", "--format", "json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows and all(r["body"]["lineage"]["session_id"] == "s-1" and r["body"]["decision"]["outcome"] == "clarify"
                        for r in rows)
    assert main(["audit", "show", str(trail), "--since", "2999-01-01T00:00:00Z"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["audit", "show", str(trail), "--limit", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [int(line.split()[0]) for line in lines] == [79, 80, 81]


def test_replay_prints_transitions_and_changes(trail: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stricter = tmp_path / "stricter.yaml"
    text = RETAIL.read_text(encoding="utf-8").replace('max: {USD: "1000.00"}', 'max: {USD: "100.00"}')
    stricter.write_text(text.replace("taxonomy/", f"{POLICIES}/taxonomy/"), encoding="utf-8")
    capsys.readouterr()
    assert main(["audit", "replay", str(trail), "--policy", str(RETAIL), "--format", "json"]) == 0
    same = json.loads(capsys.readouterr().out)
    assert same["changed"] == 0 and same["identical"] == 81
    code = main(["audit", "replay", str(trail), "--policy", str(stricter)])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert re.search(r"allow -> escalate +\d+ +\*", out.out)
    assert "platform-cap [price_cap] fires now" in out.out


def test_report_is_a_self_contained_page(trail: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    assert main(["audit", "report", str(trail), "--html", str(page)]) == 0
    html = page.read_text(encoding="utf-8")
    assert "<svg" in html and "Recent escalations" in html and "Top firing rules" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # nothing fetched from a network
    assert "<script" not in html and "@import" not in html


def test_audit_commands_on_a_missing_trail_are_tool_errors(tmp_path: Path) -> None:
    assert main(["audit", "show", str(tmp_path / "none.db")]) == 1
    assert main(["audit", "verify", f"jsonl:{tmp_path / 'none.jsonl'}"]) == 1
    (tmp_path / "gone.jsonl.head").write_text('{"hash":"' + "ab" * 32 + '","seq":3}')
    assert main(["audit", "verify", f"jsonl:{tmp_path / 'gone.jsonl'}"]) == 4  # the data file was deleted
