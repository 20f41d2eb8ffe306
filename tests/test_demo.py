"""`txguard demo`: the seed's stories, decided by the guard, from the shipped data alone."""

from __future__ import annotations

import json
import os
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from txguard import Guard
from txguard.cli import main

ROOT = Path(__file__).resolve().parent.parent
CATALOG = json.loads((ROOT / "examples" / "catalog" / "catalog.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("demo") / "out.json"
    trail = out.parent / "audit.sqlite"
    code = subprocess.run(
        [sys.executable, "-m", "txguard.cli", "demo", "--format", "json", "--audit", str(trail)],
        cwd=out.parent, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, check=False,
    )
    assert code.returncode == 0, code.stderr
    data: dict[str, Any] = json.loads(code.stdout)
    return data


def decisions(played: dict[str, Any], key: str) -> list[dict[str, Any]]:
    (scenario,) = [s for s in played["scenarios"] if s["key"] == key]
    return [step for step in scenario["steps"] if "decision" in step]


def test_shipped_copies_match_their_sources() -> None:
    script = runpy.run_path(str(ROOT / "examples" / "catalog" / "build_catalog.py"))
    for source, copy in script["COPIES"].items():
        assert copy.read_bytes() == source.read_bytes(), (
            f"{copy.relative_to(ROOT)} differs from {source.relative_to(ROOT)}: "
            "run `python examples/catalog/build_catalog.py`")


def test_catalog_is_the_tau2_bench_retail_products_with_its_licence() -> None:
    assert len(CATALOG["products"]) == 50
    assert sorted(CATALOG["users"]) == ["chen_smith_8425", "omar_silva_7446"]
    licence = (ROOT / "examples" / "catalog" / "LICENSE-tau2-bench").read_text(encoding="utf-8")
    assert licence.startswith("MIT License") and "Sierra Research" in licence


def test_demo_uses_the_repository_policy(played: dict[str, Any]) -> None:
    assert played["policy"] == Guard.from_file(ROOT / "policies" / "retail.yaml").policy.ref.to_dict()


def test_every_decision_shown_is_the_guards_own(played: dict[str, Any]) -> None:
    guard = Guard.from_file(ROOT / "policies" / "retail.yaml")
    steps = [step for scenario in played["scenarios"] for step in scenario["steps"] if "decision" in step]
    assert len(steps) >= len(played["scenarios"])
    for step in steps:
        again = guard.check(step["proposal"], request=step["request"], session=step["session"], facts=CATALOG).to_dict()
        again.pop("elapsed_us")
        assert step["decision"] == again
        assert step["ran"] == (again["outcome"] == "allow")
    assert played["orders"] == sum(step["ran"] for step in steps)


def test_coffee_maker_answered_with_an_espresso_machine_is_stopped(played: dict[str, Any]) -> None:
    (step,) = decisions(played, "coffee-maker")
    assert step["decision"]["outcome"] != "allow" and not step["ran"]
    assert {"category", "budget"} <= {r["code"] for r in step["decision"]["reasons"]}


def test_good_deal_answered_with_an_expensive_model_asks_first(played: dict[str, Any]) -> None:
    (step,) = decisions(played, "good-deal")
    assert step["decision"]["outcome"] == "clarify" and not step["ran"]
    assert "budget" in [q["code"] for q in step["decision"]["questions"]]


def test_payment_without_consent_then_round_trip(played: dict[str, Any]) -> None:
    first, retry = decisions(played, "no-consent")
    assert first["decision"]["outcome"] == "clarify" and not first["ran"]
    confirmation = first["decision"]["confirmation"]
    assert confirmation is not None and confirmation["total"] == "270.91"
    (scenario,) = [s for s in played["scenarios"] if s["key"] == "no-consent"]
    assert {"confirmed": confirmation["digest"]} in scenario["steps"]
    assert retry["session"]["confirmed"] == [{"digest": confirmation["digest"]}]
    assert retry["decision"]["outcome"] == "allow" and retry["ran"]


def test_cart_changed_after_consent_needs_a_new_confirmation(played: dict[str, Any]) -> None:
    (step,) = decisions(played, "cart-changed")
    assert step["session"]["confirmed"], "the scenario starts from a confirmed cart"
    assert step["decision"]["outcome"] == "clarify" and not step["ran"]
    assert "consent" in [r["code"] for r in step["decision"]["reasons"]]
    assert step["decision"]["confirmation"]["lines"][0]["quantity"] == 2


def test_hallucinated_price_escalates(played: dict[str, Any]) -> None:
    (step,) = decisions(played, "hallucinated-price")
    assert step["decision"]["outcome"] == "escalate" and not step["ran"]
    assert "catalog_mismatch" in [r["code"] for r in step["decision"]["reasons"]]


def test_corrupted_output_is_refused(played: dict[str, Any]) -> None:
    (step,) = decisions(played, "corrupted-output")
    assert isinstance(step["proposal"]["arguments"], str)
    assert [r["code"] for r in step["decision"]["reasons"]] == ["malformed"]
    assert step["decision"]["route"] == "refuse" and not step["ran"]


def test_correct_purchase_goes_straight_through(played: dict[str, Any]) -> None:
    (step,) = decisions(played, "straight-through")
    assert step["decision"]["outcome"] == "allow" and step["ran"]
    assert step["result"].startswith("order #TXG-")


def test_every_provider_shape_is_played(played: dict[str, Any]) -> None:
    sources = {step["source"] for s in played["scenarios"] for step in s["steps"] if "source" in step}
    assert sources == {"openai_chat", "openai_responses", "anthropic", "mcp"}


def test_audit_trail(played: dict[str, Any]) -> None:
    audit = played["audit"]
    count = sum(1 for s in played["scenarios"] for step in s["steps"] if "decision" in step)
    assert audit["verified"] is True and audit["records"] == count
    assert Path(audit["path"]).is_file()
    # The trail is a real one: the CLI's own verifier agrees, record for record.
    from txguard.audit import verify

    result = verify(f"sqlite:{audit['path']}")
    assert result.ok and result.count == count


def test_text_output_tells_each_story(played: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    text = capsys.readouterr().out
    assert "\x1b[" not in text  # no colour when not a terminal
    for number, scenario in enumerate(played["scenarios"], 1):
        assert f"{number}. {scenario['title']}" in text
        for step in scenario["steps"]:
            if "user" in step:
                assert step["user"] in text
    shown = re.findall(r"^  guard +(ALLOW|CLARIFY|ESCALATE)", text, flags=re.M)
    wanted = [step["decision"]["outcome"].upper() for s in played["scenarios"] for step in s["steps"] if "decision" in step]
    assert shown == wanted
    assert text.count("place_order ran:") == played["orders"]
    assert "Please confirm this checkout:" in text
    assert re.search(r"^summary: 7 scenarios, \d+ decisions", text, flags=re.M)
    assert "audit trail (temporary, removed on exit; --audit PATH keeps one): " in text


def test_bad_inputs_give_the_documented_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: txguard/v1\nid: x\n", encoding="utf-8")
    assert main(["demo", "--policy", str(bad)]) == 3
    assert main(["demo", "--catalog", str(tmp_path / "missing.json")]) == 1
    capsys.readouterr()


def test_demo_runs_from_a_plain_install_outside_the_repository(tmp_path: Path) -> None:
    """`pip install . && txguard demo`: the package alone carries the policy and the catalog."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "txguard", src / "txguard", ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(src)],
                   check=True, capture_output=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(target)
    run = subprocess.run([sys.executable, "-c", "import sys; from txguard.cli import main; sys.exit(main(['demo']))"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert str(target) in subprocess.run(
        [sys.executable, "-c", "import txguard; print(txguard.__file__)"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout
    assert "summary: 7 scenarios" in run.stdout


@pytest.mark.parametrize("terminal", [
    {"PYTHONIOENCODING": "ascii"},
    {"LANG": "C", "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0", "PYTHONIOENCODING": ""},
    {"PYTHONIOENCODING": "latin-1"},
])
def test_demo_runs_on_a_terminal_that_is_not_utf8_and_leaves_no_temporary_directory(
        tmp_path: Path, terminal: dict[str, str]) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(scratch), **terminal}
    run = subprocess.run([sys.executable, "-m", "txguard.cli", "demo"], cwd=tmp_path, env=env,
                         capture_output=True, check=False)
    assert run.returncode == 0, run.stderr.decode("utf-8", "replace")
    text = run.stdout.decode("ascii" if terminal.get("PYTHONIOENCODING") != "latin-1" else "latin-1")
    assert re.search(r"^summary: 7 scenarios, \d+ decisions", text, flags=re.M)
    # The corrupted model output is shown, escaped where the terminal cannot print it.
    assert "\\ufffd" in text or "\ufffd" in text
    assert "hash chain verified" in text
    # The temporary trail is gone with its directory: nothing is left behind per run.
    assert list(scratch.iterdir()) == []


def test_demo_keeps_the_trail_given_with_audit(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    trail = tmp_path / "kept.sqlite"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(scratch)}
    run = subprocess.run([sys.executable, "-m", "txguard.cli", "demo", "--audit", str(trail)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert f"audit trail ({trail}): " in run.stdout and trail.is_file()
    assert list(scratch.iterdir()) == []
