"""``txguard explain``: every rule considered, with inputs, status and the values compared."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from txguard import compile_file, compile_policy
from txguard.authoring.explain import explain
from txguard.authoring.suite_load import load_suite
from txguard.cli import main

from .conftest import POLICIES, ROOT, read_cases

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
RETAIL = POLICIES / "retail.yaml"

CUSTOM = """\
apiVersion: txguard/v1
id: custom
version: "1"
tools:
  checkout: {intent: checkout}
defaults: {checkout: allow}
rules:
  - id: big-unbudgeted
    kinds: [checkout]
    outcome: clarify
    question: This is a large order. Are you sure?
    when:
      all:
        - {path: intent.total, gt: "500.00"}
        - any: [{path: request.quantity, gt: 5}, {path: intent.currency, eq: USD}]
        - not: {path: request.budget, exists: true}
"""


def _envelope(total: str = "534.84", budget: str | None = None) -> dict[str, object]:
    return {
        "proposal": {"name": "checkout", "arguments": {
            "items": [{"sku": "s1", "product_id": "p1", "title": "T", "quantity": 1, "unit_price": total}],
            "currency": "USD", "total": total, "payment_method_id": "card_1"}},
        "request": {"quantity": 1, "budget": budget},
    }


def test_when_rules_show_every_comparison() -> None:
    policy = compile_policy(CUSTOM)
    result = explain(policy, _envelope(), lambda: NOW)
    assert result.decision.outcome.value == "clarify"
    (trace,) = result.rules
    assert trace.status == "fired"
    assert [c.render() for c in trace.comparisons] == [
        "all -> true",
        '  intent.total gt "500.00": 534.84 gt "500.00" -> true',
        "  any -> true",
        "    request.quantity gt 5: 1 gt 5 -> false",
        '    intent.currency eq "USD": "USD" eq "USD" -> true',
        "  not -> true",
        "    request.budget exists true: null exists true -> false",
    ]
    # Short-circuit like the engine: after a false `all` member the rest is not evaluated.
    quiet = explain(policy, _envelope(total="20.00"), lambda: NOW).rules[0]
    assert quiet.status == "not fired" and quiet.why == "the condition is false"
    assert [c.render() for c in quiet.comparisons] == ["all -> false", '  intent.total gt "500.00": 20.00 gt "500.00" -> false']


def test_built_in_checks_show_inputs_and_skipped_preconditions() -> None:
    suite = load_suite(POLICIES / "retail.tests.yaml")
    case = next(c for c in suite.cases if c.note.startswith("a sku that is not a variant"))
    result = explain(compile_file(RETAIL), case.envelope, lambda: NOW)
    by_rule = {t.rule: t for t in result.rules}
    assert by_rule["known-sku"].status == "fired"
    assert by_rule["availability"].status == "skipped"
    assert by_rule["availability"].why == "needs `lines`, which failed (known-sku fired)"
    # The budget needs every line's catalog price: it is not judged either.
    assert by_rule["budget"].why == "needs `lines`, which failed (known-sku fired)"
    assert by_rule["platform-cap"].why == "needs `lines`, which failed (known-sku fired)"
    text = result.render()
    assert "  5. availability (availability) SKIPPED: needs `lines`, which failed (known-sku fired)" in text
    # Rules come in the engine's evaluation order.
    assert [t.rule for t in result.rules] == [r.id for r in compile_file(RETAIL).by_kind["checkout"]]


def test_trace_agrees_with_the_decision_on_every_shipped_case_and_corpus_case() -> None:
    policy = compile_file(RETAIL)
    envelopes = [c.envelope for c in load_suite(POLICIES / "retail.tests.yaml").cases]
    envelopes += [{k: c[k] for k in ("proposal", "request", "session", "facts") if k in c}
                  for c in read_cases("chat-to-buy-dev.jsonl.gz")[::5]]
    for env in envelopes:
        result = explain(policy, env, lambda: NOW)
        traced = {t.rule for t in result.rules if t.status in ("fired", "error")}
        assert traced == {r.rule for r in result.decision.reasons if not r.rule.startswith(("txguard:", "defaults."))}


def test_malformed_input_considers_no_rule() -> None:
    result = explain(compile_file(RETAIL), {"proposal": {"name": "checkout", "arguments": "{oops"}}, lambda: NOW)
    assert result.rules == () and result.decision.codes == ("malformed",)
    assert "no rule was considered" in result.render()


def test_cli_explain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "p.yaml").write_text(CUSTOM, encoding="utf-8")
    (tmp_path / "case.json").write_text(json.dumps(_envelope()), encoding="utf-8")
    assert main(["explain", "--policy", str(tmp_path / "p.yaml"), str(tmp_path / "case.json"),
                 "--clock", "2026-01-01T00:00:00Z"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("decision: clarify [checkout]\n  - big-unbudgeted [big_unbudgeted, clarify]")
    assert "  1. big-unbudgeted (when) FIRED: clarify [big_unbudgeted]: rule `big-unbudgeted` matched" in out
    assert main(["explain", "--policy", str(tmp_path / "p.yaml"), str(tmp_path / "case.json"), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["rules"][0]["comparisons"][1] == {
        "depth": 1, "text": 'intent.total gt "500.00"', "left": "534.84", "op": "gt", "right": "500.00", "result": True}
    assert main(["explain", "--policy", str(tmp_path / "missing.yaml"), str(tmp_path / "case.json")]) == 3
    assert main(["explain", "--policy", str(tmp_path / "p.yaml"), str(tmp_path / "nope.json")]) == 1
    assert main(["explain", "--policy", str(tmp_path / "p.yaml"), str(tmp_path / "case.json"), "--clock", "2026-01-01"]) == 1


def test_the_check_path_never_loads_the_tracer() -> None:
    code = (
        "import sys, txguard\n"
        f"g = txguard.Guard.from_file({str(RETAIL)!r})\n"
        "g.check({'name': 'checkout', 'arguments': {}})\n"
        "print('txguard.authoring.explain' in sys.modules)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_explain_takes_a_validated_intent_and_facts_objects_like_check() -> None:
    from datetime import datetime, timezone

    from txguard import Checkout, Facts, compile_file
    from txguard.authoring.explain import explain as explain_case

    from .helpers import RETAIL, USER, checkout_args, facts

    policy = compile_file(RETAIL)
    intent = Checkout.model_validate(checkout_args())
    result = explain_case(policy, {"proposal": intent, "session": {"authenticated_user_id": USER},
                                   "facts": Facts(facts())}, lambda: datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert result.decision.codes == ("consent",)
    assert "consent" in [t.rule for t in result.rules]


def test_explain_with_a_signed_consent_token_answers_like_the_guard(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    # The old drift: explain built its own context without the guard's consent keys and said
    # `clarify` ("the guard does not hold the key") where the guard said `allow`.
    import secrets

    from txguard import Checkout, ConsentSigner, Guard

    from .helpers import checkout_args, envelope

    key = secrets.token_bytes(32)
    signer = ConsentSigner(key, key_id="host-1")
    env = envelope(checkout_args(), confirm=False)
    env["session"]["confirmed"] = [{"token": signer.issue(Checkout.model_validate(checkout_args()))}]
    guard = Guard.from_file(RETAIL, consent_keys=[signer], clock=lambda: NOW)
    assert guard.check_envelope(env).allowed
    result = explain(compile_file(RETAIL), env, lambda: NOW, consent_keys=[signer])
    assert result.decision.outcome.value == "allow" and result.decision.reasons == ()
    assert {t.rule: t.status for t in result.rules}["consent"] == "not fired"
    # Without the key, explain says what a keyless guard says.
    keyless = explain(compile_file(RETAIL), env, lambda: NOW)
    assert keyless.decision.codes == Guard.from_file(RETAIL, clock=lambda: NOW).check_envelope(env).codes == ("consent",)
    # The CLI takes the guard's keys too.
    (tmp_path / "host-1.key").write_bytes(key)
    (tmp_path / "case.json").write_text(json.dumps(env), encoding="utf-8")
    args = ["explain", "--policy", str(RETAIL), str(tmp_path / "case.json"), "--clock", "2026-01-01T00:00:00Z"]
    assert main([*args, "--consent-key", f"host-1={tmp_path / 'host-1.key'}"]) == 0
    assert capsys.readouterr().out.startswith("decision: allow [checkout]")
    assert main([*args, "--consent-key", "host-1"]) == 1
    assert "--consent-key: `host-1` is not ID=FILE" in capsys.readouterr().err


def test_a_traced_check_records_what_it_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    # Built-in checks declare their inputs with `ctx.read(label, value)`; the traced rule loop
    # keeps them per rule (and the untraced one records nothing: `ctx.reads` is None).
    from txguard.checks.ctx import Ctx
    from txguard.checks.spec import CHECKS
    from txguard.engine.trace import Trace

    seen: list[object] = []

    def fn(ctx: Ctx, params: object) -> str | None:
        seen.append(ctx.reads)
        return "too many" if ctx.read("units", len(getattr(ctx.intent, "items"))) > 0 else None

    monkeypatch.setitem(CHECKS, "quantity", replace(CHECKS["quantity"], fn=fn))
    policy = compile_policy(CUSTOM.replace("rules:\n", "rules:\n  - {id: probe, check: quantity, code: probe, outcome: escalate}\n"))
    from txguard.engine.evaluate import evaluate

    env = _envelope()
    trace = Trace()
    traced = evaluate(policy, env["proposal"], env["request"], None, None, lambda: NOW, trace=trace)
    plain = evaluate(policy, env["proposal"], env["request"], None, None, lambda: NOW)
    assert traced.codes == plain.codes == ("probe", "big_unbudgeted")
    by_rule = {t.rule: t for t in trace.rules}
    assert by_rule["probe"].inputs == {"units": 1} and by_rule["probe"].status == "fired"
    assert by_rule["big-unbudgeted"].inputs == {}
    assert seen == [{"units": 1}, None]


def test_for_each_is_traced_as_it_runs_up_to_max_elements() -> None:
    from txguard.engine.trace import MAX_ELEMENTS

    policy = compile_policy(CUSTOM.replace("""    when:
      all:
        - {path: intent.total, gt: "500.00"}
        - any: [{path: request.quantity, gt: 5}, {path: intent.currency, eq: USD}]
        - not: {path: request.budget, exists: true}
""", """    when:
      for_each: intent.items
      as: line
      any: [{path: line.quantity, gt: 30}]
"""))
    env = _envelope()
    items = [{"sku": f"s{n}", "product_id": "p1", "title": "T", "quantity": n + 1, "unit_price": "1.00"}
             for n in range(MAX_ELEMENTS + 15)]
    env["proposal"]["arguments"].update(items=items, total=str(sum(n + 1 for n in range(len(items)))) + ".00")  # type: ignore[index]
    trace = explain(policy, env, lambda: NOW).rules[0]
    assert trace.status == "fired"
    lines = [c.render() for c in trace.comparisons]
    assert lines[0] == f"for_each intent.items as line (any, {len(items)} elements) -> true"
    assert lines[1:3] == ["  line = intent.items[0]", "    any -> false"]
    # Elements past MAX_ELEMENTS are judged (the 31st fires the rule) but not traced.
    assert sum(1 for line in lines if line.startswith("  line = ")) == MAX_ELEMENTS
    # A list that is not in the facts is a missing fact: traced, and the rule errs as the engine's does.
    missing = compile_policy(CUSTOM.split("    when:")[0] + "    when: {for_each: facts.orders, as: o, any: [{path: o.status, eq: pending}]}\n")
    result = explain(missing, _envelope(), lambda: NOW)
    (err,) = result.rules
    assert err.status == "error" and err.why == "missing_fact, escalate: `facts.orders` is not in the facts"
    assert [c.render() for c in err.comparisons] == ["for_each facts.orders: <missing>"]
    assert result.decision.codes == ("missing_fact",)
