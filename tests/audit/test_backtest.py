"""``txguard audit replay`` as the risk team's gate: a divergence report and exit 2 past the limits."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from txguard import Guard
from txguard.audit import open_sink, replay
from txguard.cli import main

from .conftest import POLICIES, RETAIL, StepClock, envelopes

RANK = {"allow": 0, "clarify": 1, "escalate": 2}


def _retail_with_cap(cap: str, version: str) -> str:
    text = RETAIL.read_text(encoding="utf-8")
    assert 'max: {USD: "1000.00"}' in text and 'version: "1.0.0"' in text
    text = text.replace('max: {USD: "1000.00"}', f'max: {{USD: "{cap}"}}').replace('version: "1.0.0"', f'version: "{version}"')
    return text.replace("taxonomy/", f"{POLICIES}/taxonomy/")


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every chat-to-buy dev envelope (inputs only) decided by the shipped retail policy, in SQLite."""
    path = tmp_path_factory.mktemp("backtest") / "trail.db"
    sink = open_sink(f"sqlite:{path}?commit=each")
    guard = Guard.from_file(RETAIL, clock=StepClock(), audit=sink)
    for env in envelopes():
        guard.check_envelope(env)
    sink.close()
    return path


@pytest.fixture(scope="module")
def looser(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("policies") / "looser.yaml"
    path.write_text(_retail_with_cap("5000.00", "1.1.0"), encoding="utf-8")
    return path


def _bodies(trail: Path) -> list[dict[str, Any]]:
    sink = open_sink(f"sqlite:{trail}", readonly=True)
    try:
        return [r.body for r in sink.records()]
    finally:
        sink.close()


def _only_the_cap_escalates(body: dict[str, Any], cap: Decimal) -> bool:
    d = body["decision"]
    escalating = [r for r in d["reasons"] if r["outcome"] == "escalate"]
    return ([r["rule"] for r in escalating] == ["platform-cap"]
            and Decimal(body["intent"]["total"]) <= cap)


def test_a_looser_cap_is_counted_as_loosened_and_fails_the_gate(trail: Path, looser: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    bodies = _bodies(trail)
    expected = [b for b in bodies if _only_the_cap_escalates(b, Decimal("5000.00"))]
    assert len(expected) >= 10, "the corpus has checkouts escalated by the 1000.00 cap alone"
    capsys.readouterr()
    code = main(["audit", "replay", str(trail), "--policy", str(looser), "--format", "json", "--max-loosened", "0"])
    report = json.loads(capsys.readouterr().out)
    assert code == 2
    assert report["total"] == len(bodies)
    assert report["loosened"] == len(expected) and report["tightened"] == 0
    assert report["outcome_changed"] == len(expected)
    assert report["divergence"] == pytest.approx(len(expected) / len(bodies))
    assert report["gate"]["ok"] is False and report["gate"]["max_loosened"] == 0
    assert report["gate"]["failures"] == [f"{len(expected)} decisions became less strict, over --max-loosened 0"]
    # every changed decision: recorded escalate by the cap, now something less strict, the cap named
    changed = {c["id"]: c for c in report["changes"]}
    assert set(changed) == {b["id"] for b in expected}
    for c in changed.values():
        assert c["before"] == "escalate" and RANK[c["after"]] < RANK["escalate"] and c["direction"] == "loosened"
        assert (c["rule"], c["code"], c["why"]) == ("platform-cap", "price_cap", "no longer fires")
        assert [r["rule"] for r in c["before_reasons"] if r["outcome"] == "escalate"] == ["platform-cap"]
        assert all(r["rule"] != "platform-cap" for r in c["after_reasons"])
        assert c["before_reasons"][0]["message"]
    assert report["rules"] == [{"rule": "platform-cap", "code": "price_cap", "change": "no longer fires",
                                "count": len(expected)}]
    by_transition = {(t["before"], t["after"]): t["count"] for t in report["transitions"]}
    assert sum(n for (b, a), n in by_transition.items() if b != a) == len(expected)
    # a limit at the number of loosened decisions passes
    assert main(["audit", "replay", str(trail), "--policy", str(looser), "--max-loosened", str(len(expected))]) == 0
    assert "gate: ok" in capsys.readouterr().out


def test_max_divergence_is_the_share_of_changed_outcomes(trail: Path, looser: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["audit", "replay", str(trail), "--policy", str(looser), "--format", "json"]) == 0  # no limit, no gate
    report = json.loads(capsys.readouterr().out)
    assert "gate" not in report
    rate = report["divergence"]
    assert 0 < rate < 1
    assert main(["audit", "replay", str(trail), "--policy", str(looser), "--max-divergence", f"{rate * 0.99:.6f}"]) == 2
    out = capsys.readouterr().out
    assert re.search(r"gate failed: divergence 0\.\d{4} \(\d+ of \d+ outcomes changed\) is over --max-divergence", out)
    assert main(["audit", "replay", str(trail), "--policy", str(looser), "--max-divergence", f"{min(1.0, rate * 1.01):.6f}"]) == 0


def test_the_same_policy_diverges_nowhere_and_passes_the_strictest_gate(trail: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    code = main(["audit", "replay", str(trail), "--policy", str(RETAIL), "--format", "json",
                 "--max-divergence", "0", "--max-loosened", "0"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert (report["changed"], report["outcome_changed"], report["loosened"], report["divergence"]) == (0, 0, 0, 0.0)
    assert report["identical"] == report["total"] == len(_bodies(trail))
    assert report["gate"] == {"ok": True, "failures": [], "max_divergence": 0.0, "max_loosened": 0}
    assert report["rules"] == [] and report["changes"] == []
    assert [p["count"] for p in report["recorded_policies"]] == [report["total"]]


def test_a_stricter_policy_is_tightened_not_loosened(trail: Path, tmp_path: Path) -> None:
    stricter = tmp_path / "stricter.yaml"
    stricter.write_text(_retail_with_cap("300.00", "1.2.0"), encoding="utf-8")
    sink = open_sink(f"sqlite:{trail}", readonly=True)
    try:
        report = replay(sink.records(), Guard.from_file(stricter).policy)
    finally:
        sink.close()
    assert report.tightened > 0 and report.loosened == 0
    assert report.gate(max_loosened=0).ok
    assert not report.gate(max_divergence=0.0).ok
    assert {(r, c, w) for (r, c, w) in report.rules} == {("platform-cap", "price_cap", "fires now")}


def test_the_html_page_shows_transitions_rules_and_changed_decisions(trail: Path, looser: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "backtest.html"
    assert main(["audit", "replay", str(trail), "--policy", str(looser), "--html", str(page), "--max-loosened", "0"]) == 2
    html = page.read_text(encoding="utf-8")
    assert "Outcome transitions" in html and "Rules that no longer fire" in html
    assert re.search(r">escalate</span></td><td><span[^>]*>allow</span></td><td class=r>\d+</td>", html)
    assert "platform-cap [price_cap] no longer fires" in html
    assert "Gate failed:" in html and "is over the cap of 1000.00 USD" in html  # the recorded reason's message
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # nothing fetched from a network
    assert "<script" not in html
    assert f"wrote {page}" in capsys.readouterr().out


@pytest.mark.parametrize("flag", [["--max-divergence", "1.5"], ["--max-divergence", "nan"], ["--max-loosened", "-1"]])
def test_a_malformed_limit_is_a_tool_error(trail: Path, flag: list[str]) -> None:
    assert main(["audit", "replay", str(trail), "--policy", str(RETAIL), *flag]) == 1
