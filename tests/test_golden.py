"""Decisions, reasons and audit bodies are unchanged: both corpora, the session policy and every
policy suite are decided again and compared with the records in ``tests/golden/`` (see its README)."""

from __future__ import annotations

import importlib.util
import json
from typing import Any

import pytest

from .golden.record import NAMES, ROOT, differences, path_of, read, record


@pytest.mark.parametrize("name", NAMES)
def test_decisions_match_the_golden_records(name: str) -> None:
    assert path_of(name).is_file(), f"no golden file for `{name}`: python scripts/record_golden.py {name}"
    recorded = read(name)
    assert recorded, f"the golden file of `{name}` is empty"
    found = list(differences(name, recorded, record(name)))
    assert not found, "\n".join([*found, "if the change is meant to change decisions: python scripts/record_golden.py "
                                 "(and say why in the commit message; tests/golden/README.md)"])


def _with(record: dict[str, Any], section: str, key: str, value: Any) -> dict[str, Any]:
    audit = dict(record["audit"])
    audit[section] = {**audit[section], key: value}
    return {**record, "audit": audit}


def test_a_changed_decision_is_reported_before_a_change_elsewhere_in_the_audit_body() -> None:
    recorded = read("chat-to-buy-dev")[:3]
    ids = [r["id"] for r in recorded]
    now = list(recorded)
    now[0] = _with(now[0], "policy", "digest", "sha256:other")  # a policy edit changes every body
    assert list(differences("g", recorded, now)) == [
        f"g: 1 of 3 records differ (0 in the decision, the others only elsewhere in the audit body); the first is "
        f"case `{ids[0]}`, field `audit.policy.digest`: golden {json.dumps(recorded[0]['audit']['policy']['digest'])}, "
        f'now "sha256:other"',
        f"changed records: `{ids[0]}`",
    ]
    now[2] = _with(now[2], "decision", "route", "x")
    assert list(differences("g", recorded, now)) == [
        f"g: 2 of 3 records differ (1 in the decision, the others only elsewhere in the audit body); the first is "
        f"case `{ids[2]}`, field `audit.decision.route`: golden {json.dumps(recorded[2]['route'])}, now \"x\"",
        f"changed decisions: `{ids[2]}`",
    ]


def test_a_missing_or_reordered_case_is_reported() -> None:
    recorded = read("chat-to-buy-dev")[:3]
    ids = [r["id"] for r in recorded]
    assert list(differences("g", recorded, [recorded[0], recorded[2]])) == [f"g: record 1 is case `{ids[1]}` in the golden file but `{ids[2]}` now"]
    assert list(differences("g", recorded, recorded[:2])) == ["g: 3 records in the golden file, 2 now"]
    assert list(differences("g", recorded, list(recorded))) == []


def test_the_recording_script_checks_without_writing(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("record_golden", ROOT / "scripts" / "record_golden.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    before = path_of("suites").read_bytes()
    assert script.main(["--check", "suites"]) == 0
    assert capsys.readouterr().out == f"suites: {len(read('suites'))} records, unchanged\n"
    assert path_of("suites").read_bytes() == before
    with pytest.raises(SystemExit):
        script.main(["no-such-file"])
    assert capsys.readouterr().err.endswith("\nrecord_golden.py: error: unknown golden file `no-such-file` (expected one of "
                                            "chat-to-buy-dev, tau-retail-dev, chat-to-buy-dev.retail-session, suites)\n")
