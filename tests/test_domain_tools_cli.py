"""Every tool of txguard on a declared domain (tests/data/flights.yaml: kinds, facts and request
declared in YAML), through the command line as a user runs it: schema, tools, validate, lint, docs,
fmt, test, explain, audit replay; and session rules that name declared kinds."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from txguard import Guard, compile_file, compile_policy
from txguard.audit import MemorySink, replay
from txguard.core.errors import PolicyError
from txguard.policy.kindschema import kind_schemas
from txguard.policy.tooldefs import argument_schemas, tool_definitions

from .helpers import ROOT

DATA = ROOT / "tests" / "data"
FLIGHTS, SUITE = DATA / "flights.yaml", DATA / "flights.tests.yaml"
ARGS = {"user_id": "u1", "passenger_ids": ["p1", "p2"], "payment": [{"payment_id": "cc1", "amount": "129.99"}],
        "flights": [{"flight_no": "HAT1", "date": "2026-05-10", "cabin": "economy", "price": 129.99}],
        "bags": 2, "insurance": False}
FACTS = {"users": [{"user_id": "u1", "membership": "regular", "payment_methods": {}}],
         "reservations": {"R1": {"reservation_id": "R1", "user_id": "u1", "cabin": "economy",
                                 "created_at": "2026-05-01T08:00:00+02:00", "flights": []}}}


def cli(*argv: str, cwd: Path | None = None) -> tuple[int, str, str]:
    done = subprocess.run([sys.executable, "-m", "txguard.cli", *argv], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PYTHONIOENCODING": "utf-8"}, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, done.stdout, done.stderr


def test_schema_prints_each_declared_kind_and_each_tool() -> None:
    code, out, err = cli("schema", "intent", "--policy", str(FLIGHTS))
    assert (code, err) == (0, "")
    kinds = json.loads(out)
    assert sorted(kinds) == ["book_flight", "cancel_booking"] and kinds == kind_schemas(compile_file(FLIGHTS).domain)
    book = kinds["book_flight"]
    assert book["properties"]["bags"] == {"type": "integer", "minimum": 0, "maximum": 20}
    assert book["properties"]["flights"]["items"]["properties"]["cabin"]["enum"] == ["basic_economy", "economy", "business"]
    assert book["properties"]["note"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert "(USD)" in book["properties"]["payment"]["items"]["properties"]["amount"]["description"]  # the policy's currency
    code, out, err = cli("schema", "--policy", str(FLIGHTS))
    assert (code, err) == (0, "") and json.loads(out) == argument_schemas(compile_file(FLIGHTS))
    code, out, err = cli("schema", "policy", "--policy", str(FLIGHTS))
    assert (code, out) == (1, "") and "not both" in err


@pytest.mark.parametrize("fmt", ["openai", "anthropic", "mcp"])
def test_tools_emits_the_declared_kinds_tools_in_each_format(fmt: str) -> None:
    code, out, err = cli("tools", "--policy", str(FLIGHTS), "--format", fmt)
    assert (code, err) == (0, "")
    assert json.loads(out) == tool_definitions(compile_file(FLIGHTS), fmt)  # type: ignore[arg-type]
    assert "book_reservation" in out and "x-txguard" not in out


def test_validate_and_lint_locate_each_declared_domain_finding(tmp_path: Path) -> None:
    assert cli("validate", str(FLIGHTS))[0] == 0
    policy = tmp_path / "lint.yaml"
    text = FLIGHTS.read_text(encoding="utf-8")
    text = text.replace("facts:\n", "facts:\n  airports: {key: code, record: {code: id, city: string}}\n", 1)
    text = text.replace("  cancel_booking:\n", "  rebook:\n    fields: {reservation_id: id}\n  cancel_booking:\n", 1)
    text = text.replace("  - id: consent\n    check: consent\n", "  - id: consent\n    check: consent\n    kinds: [book_flight]\n")
    text = text.replace("    check: authentication\n", "    check: authentication\n    kinds: [book_flight, cancel_booking]\n")
    policy.write_text(text, encoding="utf-8")
    code, out, err = cli("lint", str(policy))
    assert code == 2 and err.strip() == "5 findings", out
    p = str(policy)
    assert out.splitlines() == [
        f"{p}:16:15: lint-unbound: intent `book_flight`: field `note` is unbound: the user never confirms its value, "
        "and a proposal that changes it still runs on the confirmation",
        f"{p}:18:5: lint-no-consent: intent `rebook` is consequential, but no `consent` rule applies to it: its "
        "proposals run without the user's confirmation",
        f"{p}:18:5: lint-undecided-kind: intent `rebook` has no default and no rule: every proposal of it escalates",
        f"{p}:20:5: lint-no-consent: intent `cancel_booking` is consequential, but no `consent` rule applies to it: its "
        "proposals run without the user's confirmation",
        f"{p}:24:13: lint-unused-facts: fact collection `airports` is declared, but no rule reads it",
    ]


def test_docs_lists_the_declared_kinds_with_their_fields() -> None:
    code, out, err = cli("docs", str(FLIGHTS))
    assert (code, err) == (0, "")
    assert "### `book_flight` (declared)\n\nBook flights for passengers.\n" in out
    assert "| `flights[].cabin` | one of `basic_economy`, `economy`, `business` | bound |  |" in out
    assert "| `note` | string or null | unbound |  |" in out
    assert "| `flights[].price` | money in USD | bound |  |" in out and "| `bags` | int from 0 to 20 | bound |  |" in out
    assert "| `passenger_ids` | list of id (1 to 9, any order) | bound |  |" in out
    assert "### `facts.reservations` (keyed by `reservation_id`)" in out and "## Request" in out
    assert "| `consent` | none | all |" in out and "| `authentication` | none | all |" in out  # this policy's kinds
    assert "| `price_cap` | `max` (required): {CUR: amount}<br>`per_category`: mapping | none |" in out  # commerce-only
    assert "### `checkout`" not in out  # no shipped kinds here
    code, out, _ = cli("docs", str(ROOT / "policies" / "retail.yaml"))
    assert code == 0 and "### `checkout` (shipped)" in out


def test_fmt_puts_the_declared_domain_first_and_keeps_field_order(tmp_path: Path) -> None:
    policy = tmp_path / "flights.yaml"
    text = FLIGHTS.read_text(encoding="utf-8")
    head, intents = text.split("intents:\n", 1)
    intents, rest = intents.split("facts:\n", 1)
    # the declared domain written last, and a kind's keys out of order
    shuffled = head + "facts:\n" + rest + "intents:\n" + intents.replace(
        "    unbound: [note]\n", "").replace("    fields:\n      user_id: id\n", "    unbound: [note]\n    fields:\n      user_id: id\n", 1)
    policy.write_text(shuffled, encoding="utf-8")
    assert cli("fmt", "--check", str(policy))[0] != 0
    assert cli("fmt", str(policy))[0] == 0
    assert cli("fmt", "--check", str(policy))[0] == 0
    formatted = policy.read_text(encoding="utf-8")
    order = [formatted.index(f"\n{k}:") for k in ("currency", "intents", "facts", "request", "tools", "defaults", "rules")]
    assert order == sorted(order)
    book = formatted[formatted.index("  book_flight:"):formatted.index("  cancel_booking:")]
    assert book.index("description:") < book.index("fields:") < book.index("unbound:")
    fields = [line.split(":")[0].strip() for line in book.splitlines() if line.startswith("      ")]
    assert fields == ["user_id", "passenger_ids", "flights", "payment", "bags", "insurance", "note"]  # as written
    assert compile_file(policy).digest == compile_file(FLIGHTS).digest


def test_a_suite_on_a_declared_domain_runs_with_full_coverage_and_explains(tmp_path: Path) -> None:
    code, out, err = cli("test", str(SUITE), "--coverage", "--fail-under", "100")
    assert code == 0, out + err
    assert "7 passed, 0 failed" in out + err and "5/5 rules fired (100.0%)" in out + err
    code, out, err = cli("explain", "--suite", str(SUITE), "--case", "too-many-bags")
    assert code == 0 and out.startswith("decision: clarify [book_flight]")
    assert "intent.bags gt mul(count(intent.passenger_ids), free_bags[" in out and "3 gt 2 -> true" in out
    case = tmp_path / "case.json"
    case.write_text(json.dumps({"proposal": {"name": "cancel_reservation", "arguments": {"reservation_id": "R1", "reason": "other"}},
                                "session": {"authenticated_user_id": "u1"}, "facts": FACTS}), encoding="utf-8")
    code, out, err = cli("explain", "--policy", str(FLIGHTS), str(case), "--format", "json", "--clock", "2026-05-03T12:00:00Z")
    assert code == 0, err
    explained = json.loads(out)
    assert explained["decision"]["outcome"] == "escalate"
    assert {r["code"] for r in explained["decision"]["reasons"]} == {"consent", "cancel_within_24h"}


def test_audit_replay_rebuilds_declared_intents_with_the_replayed_policy(tmp_path: Path) -> None:
    cases = tmp_path / "cases.jsonl.gz"
    with gzip.open(cases, "wt", encoding="utf-8") as fh:
        for i, bags in enumerate((1, 2, 3, 4)):
            args = dict(ARGS, bags=bags)
            session = {"id": f"s{i}", "authenticated_user_id": "u1", "confirmed": [{"name": "book_reservation", "arguments": args}]}
            fh.write(json.dumps({"proposal": {"name": "book_reservation", "arguments": args}, "session": session,
                                 "facts": FACTS}) + "\n")
    db = tmp_path / "trail.db"
    code, _, err = cli("check", "--policy", str(FLIGHTS), "--cases", str(cases), "--out", str(tmp_path / "o.jsonl"),
                       "--audit", f"sqlite:{db}")
    assert code == 0, err
    code, out, err = cli("audit", "replay", str(db), "--policy", str(FLIGHTS), "--format", "json")
    assert code == 0, err
    same = json.loads(out)
    assert (same["total"], same["identical"], same["changed"]) == (4, 4, 0)
    stricter = tmp_path / "stricter.yaml"
    stricter.write_text(FLIGHTS.read_text(encoding="utf-8").replace("regular: {basic_economy: 0, economy: 1,",
                                                                    "regular: {basic_economy: 0, economy: 0,"),
                        encoding="utf-8")
    code, out, err = cli("audit", "replay", str(db), "--policy", str(stricter), "--format", "json")
    assert code == 0, err
    changed = json.loads(out)
    assert changed["changed"] == 2  # 1 and 2 bags are now over the allowance (no free bag in economy)


def test_replay_of_a_typed_declared_intent_uses_the_policy_model() -> None:
    sink = MemorySink()
    guard = Guard.from_file(FLIGHTS, audit=sink, clock=lambda: dt.datetime(2026, 5, 1, 12, tzinfo=dt.timezone.utc))
    model = guard.policy.domain.models["book_flight"]
    intent = model.model_validate({**ARGS, "bags": 9})
    decision = guard.check(intent, session={"authenticated_user_id": "u1"}, facts=FACTS)
    assert {r.code for r in decision.reasons} >= {"bags_within_allowance"}
    report = replay(sink.records(), guard.policy)
    assert (report.total, report.identical) == (1, 1), [c.to_dict() for c in report.changes]


SESSION = "session:\n  rules:\n    - id: velocity\n      count: {where: {kind: %s}, within: 1h, at_least: 3}\n"


def test_session_rules_name_declared_kinds_checked_against_the_domain(tmp_path: Path) -> None:
    text = FLIGHTS.read_text(encoding="utf-8")
    policy = compile_policy(text + SESSION % "book_flight", str(tmp_path / "p.yaml"))
    assert policy.session.rules[0].where == (("kind", frozenset({"book_flight"})), ("type", frozenset({"decision"})))
    for wrong in ("checkout", "book_hotel"):  # a shipped kind this policy does not have; no kind at all
        with pytest.raises(PolicyError) as exc:
            compile_policy(text + SESSION % wrong, str(tmp_path / "p.yaml"))
        (d,) = exc.value.diagnostics
        line = text.count("\n") + 4
        assert (d.line, d.code) == (line, "txg-path"), str(d)
        assert d.message.endswith(f"`{wrong}` is not a possible `kind` (expected one of: book_flight, cancel_booking, read)")
    retail = ROOT / "policies" / "retail-session.yaml"
    assert compile_file(retail).session.rules  # the shipped kinds still
