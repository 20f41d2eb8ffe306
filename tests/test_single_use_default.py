"""Issue 12: single use is the default. A guard without a store keeps its own in-memory ledger of
used confirmations (consumed on allow only); a policy may make them reusable; scorers and runners
decide each case as an independent world."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from txguard import ConsentSigner, Guard, UsageError, compile_policy
from txguard.cli import main
from txguard.sessions import MemoryStore

from .helpers import RETAIL, checkout_args, envelope, line

HEAD = """apiVersion: txguard/v1
id: single
version: "1"
currency: USD
tools:
  checkout: {intent: checkout}
defaults: {checkout: allow}
rules:
  - id: consent
    check: consent
  - id: stop-word
    kinds: [checkout]
    when: {path: request.text, eq: stop}
"""


def _env(**kw: Any) -> dict[str, Any]:
    return envelope(checkout_args(line()), **kw)


def test_a_confirmation_authorises_one_allow_without_a_store() -> None:
    g = Guard(compile_policy(HEAD))
    env = _env()
    assert g.check_envelope(env).outcome.value == "allow"
    again = g.check_envelope(env)
    assert again.codes == ("confirmation_used",) and again.confirmation is not None
    assert again.questions[0].code == "confirmation_used"


@settings(max_examples=25, deadline=None)
@given(blocked=st.integers(min_value=1, max_value=4))
def test_only_an_allow_consumes_the_confirmation(blocked: int) -> None:
    g = Guard(compile_policy(HEAD))
    for _ in range(blocked):  # escalated: the confirmation is not used
        assert g.check_envelope(_env(request={"text": "stop"})).codes == ("stop_word",)
    assert g.check_envelope(_env()).outcome.value == "allow"
    assert g.check_envelope(_env()).codes == ("confirmation_used",)


def test_a_session_id_scopes_a_confirmation_without_a_nonce_and_a_token_is_global() -> None:
    signer = ConsentSigner(secrets.token_bytes(32), key_id="k")
    g = Guard(compile_policy(HEAD), consent_keys=signer)
    env = _env()
    env["session"]["id"] = "c1"
    assert g.check_envelope(env).outcome.value == "allow"
    env["session"]["id"] = "c2"
    assert g.check_envelope(env).outcome.value == "allow"  # another conversation, no nonce
    ask = g.check_envelope(_env(confirm=False))
    assert ask.confirmation is not None
    token = signer.issue(ask.confirmation)
    for i, want in enumerate(["allow", "clarify", "clarify"]):
        e = _env(confirm=False)
        e["session"]["confirmed"] = [{"token": token}]
        e["session"]["id"] = f"t{i}"
        assert g.check_envelope(e).outcome.value == want


def test_a_policy_can_make_confirmations_reusable() -> None:
    g = Guard(compile_policy(HEAD + "session:\n  single_use_confirmations: false\n"))
    assert [g.check_envelope(_env()).outcome.value for _ in range(3)] == ["allow"] * 3


def test_a_child_cannot_switch_off_single_use(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(HEAD, encoding="utf-8")
    (tmp_path / "child.yaml").write_text('apiVersion: txguard/v1\nid: child\nversion: "1"\nextends: base.yaml\n'
                                         "session:\n  single_use_confirmations: false\n", encoding="utf-8")
    child = Guard.from_file(tmp_path / "child.yaml")
    assert child.policy.session.single_use
    assert child.check_envelope(_env()).outcome.value == "allow"
    assert child.check_envelope(_env()).codes == ("confirmation_used",)


def test_independent_gives_a_fresh_ledger_and_keeps_the_rest() -> None:
    g = Guard(compile_policy(HEAD))
    assert g.check_envelope(_env()).outcome.value == "allow"
    fresh = g.independent()
    assert fresh.policy is g.policy
    assert fresh.check_envelope(_env()).outcome.value == "allow"
    assert g.check_envelope(_env()).codes == ("confirmation_used",)
    with pytest.raises(UsageError):
        Guard(compile_policy(HEAD), sessions=MemoryStore()).independent()


def test_check_cases_decides_each_line_as_its_own_world(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = tmp_path / "cases.jsonl"
    env = _env()
    cases.write_text("\n".join(json.dumps({"id": f"c{i}", **env}) for i in range(3)) + "\n", encoding="utf-8")
    assert main(["check", "--policy", str(RETAIL), "--cases", str(cases)]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert [r["outcome"] for r in rows] == ["allow"] * 3
