"""The txguard command line: validate, check (one case and --cases), schema; exit codes."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from txguard import policy_schema
from txguard.cli import main

from .helpers import ROOT, RETAIL, checkout_args, envelope, line


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_ok(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "validate", str(RETAIL))
    assert (code, out, err) == (0, "", "1 valid, 0 invalid\n")


def test_validate_invalid_prints_every_error_sorted_and_exits_3(capsys: pytest.CaptureFixture[str],
                                                                 tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text('apiVersion: txguard/v1\nid: t\nversion: "1"\nrules:\n  - id: b\n    check: budget\n'
                   "    outcome: allow\n  - id: a\n    check: nope\n")
    dup = tmp_path / "dup.yaml"
    dup.write_text("a: 1\na: 2\n")
    code, out, err = run(capsys, "validate", str(RETAIL), str(dup), str(bad))
    assert code == 3
    assert out.splitlines() == [
        f'{bad}:7:14: txg-schema: rules[0](b).outcome: expected one of `clarify`, `escalate`, got `"allow"`',
        f"{bad}:9:12: txg-schema: rules[1](a).check: expected one of `ambiguity`, `authentication`, `availability`, "
        "`balance`, `budget`, `catalog_price`, `category`, `consent`, `item_exists`, `noop`, `order_exists`, "
        "`order_status`, `ownership`, `payment_method`, `price_cap`, `quantity`, `refund_destination`, "
        '`same_product`, `total`, got `"nope"`',
        f"{dup}:2:1: txg-yaml: duplicate key `a`",
    ]
    assert err == "1 valid, 2 invalid\n"


def test_validate_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("")
    code, out, _ = run(capsys, "validate", "--format", "json", str(RETAIL), str(bad))
    assert code == 3
    result = json.loads(out)["policies"]
    assert result[0]["valid"] is True and result[0]["id"] == "retail" and result[0]["rules"] == 13
    assert result[1] == {"file": str(bad), "valid": False, "omitted": 0,
                         "errors": [f"{bad}:1:1: txg-yaml: the file is empty: expected a policy mapping"]}


def test_check_one_case(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    case = tmp_path / "case.json"
    case.write_text(json.dumps(envelope(checkout_args(line(quantity=2)), confirm=False, request={"quantity": 1})))
    code, out, _ = run(capsys, "check", "--policy", str(RETAIL), str(case))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "clarify  [checkout]"
    assert "  - consent [consent, clarify]: the user has not confirmed this checkout" in lines
    assert "  - quantity [quantity, clarify]: the cart holds 2 units; the user asked for 1" in lines
    assert "      2 x Coffee Maker (S-COF-1) at 120.00 USD" in lines
    assert "      total 240.00 USD, paid with credit_card_1" in lines

    code, out, _ = run(capsys, "check", "--policy", str(RETAIL), "--format", "json", str(case))
    assert code == 0
    decision = json.loads(out)
    assert {"outcome", "reasons", "questions", "confirmation", "route", "policy", "elapsed_us"} <= set(decision)
    assert decision["outcome"] == "clarify"
    assert [r["code"] for r in decision["reasons"]] == ["consent", "quantity"]
    assert set(decision["reasons"][0]) >= {"rule", "code", "message"}
    assert decision["policy"]["id"] == "retail" and decision["policy"]["digest"].startswith("sha256:")
    assert decision["confirmation"]["total"] == "240.00"


@pytest.mark.parametrize(("text", "where", "why"), [
    ('{"proposal": {"name": "checkout", "argu', "1:35", "Unterminated string"),
    ('\n\n  nope', "3:3", "Expecting value"),
    ('{"proposal": {"name": "checkout"}, "proposal": {"name": "cancel"}}', "1:1", "duplicate key `proposal`"),
])
def test_check_a_case_file_that_is_not_json_is_a_located_tool_error(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, where: str, why: str) -> None:
    case = tmp_path / "case.json"
    case.write_text(text, encoding="utf-8")
    code, out, err = run(capsys, "check", "--policy", str(RETAIL), "--format", "json", str(case))
    # No decision was made on the case: exit 1 (README's exit-code table), never 0.
    assert (code, out) == (1, "")
    assert err.startswith(f"{case}:{where}: malformed case: {why}")
    assert err.count("\n") == 1


def test_check_cases_decides_every_line_in_order(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    good = {"id": "good", **envelope(checkout_args()), "expect": "escalate", "violates": ["x"]}
    dear = {"id": "dear", **envelope(checkout_args(line("S-LAP-1", "P-LAP", "Laptop", 1, "1299.00")))}
    ask = {"id": "ask", **envelope(checkout_args(), confirm=False)}
    lines = [json.dumps(good), '{"id": "broken", "proposal": {', "", json.dumps(dear), "[1, 2]", json.dumps(ask)]
    cases = tmp_path / "cases.jsonl.gz"
    with gzip.open(cases, "wt", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    out_file = tmp_path / "pred.jsonl"
    code, out, err = run(capsys, "check", "--policy", str(RETAIL), "--cases", str(cases), "--out", str(out_file))
    assert code == 0 and out == ""
    rows = [json.loads(x) for x in out_file.read_text().splitlines()]
    # The labels (`expect`, `violates`) are never read; the malformed lines are decided, not skipped.
    assert [(r["id"], r["outcome"]) for r in rows] == [
        ("good", "allow"), (None, "escalate"), ("dear", "escalate"), (None, "escalate"), ("ask", "clarify")]
    assert rows[1]["line"] == 2 and rows[3]["line"] == 5
    assert [r["code"] for r in rows[1]["reasons"]] == ["malformed"]
    assert rows[1]["reasons"][0]["message"].startswith(f"{cases}:2: malformed line: ")
    assert rows[3]["reasons"][0]["message"] == f"{cases}:5: malformed line: not a JSON object"
    assert [r["code"] for r in rows[2]["reasons"]] == ["price_cap"]
    assert set(rows[0]) == {"id", "outcome", "reasons"}
    err_lines = err.splitlines()
    assert err_lines[0].startswith(f"{cases}:2: malformed line: ")
    assert err_lines[1] == f"{cases}:5: malformed line: not a JSON object"
    assert err_lines[-1].startswith("5 cases: 1 allow, 1 clarify, 3 escalate; 2 malformed lines; ")
    assert err_lines[-1].endswith(" decisions/s")


def test_check_cases_to_stdout(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    cases = tmp_path / "cases.jsonl"
    cases.write_text(json.dumps({"id": "a", **envelope(checkout_args())}) + "\n")
    code, out, _ = run(capsys, "check", "--policy", str(RETAIL), "--cases", str(cases))
    assert code == 0
    assert json.loads(out) == {"id": "a", "outcome": "allow", "reasons": []}


@pytest.mark.parametrize("argv", [
    ["check", "--policy", str(RETAIL)],
    ["check", "--policy", str(RETAIL), "a.json", "--cases", "b.jsonl"],
    ["check", "--policy", str(RETAIL), "/nonexistent/case.json"],
    ["check", "--policy", str(RETAIL), "--cases", "/nonexistent/cases.jsonl"],
    ["nonsense"],
    [],
])
def test_tool_errors_exit_1(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    assert main(argv) == 1
    capsys.readouterr()


def test_check_with_an_invalid_policy_exits_3(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: [\n")
    code, _, err = run(capsys, "check", "--policy", str(bad), "--cases", "whatever.jsonl")
    assert code == 3
    assert err.startswith(f"{bad}:2:1: txg-yaml: ")


def test_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "schema")
    assert code == 0 and json.loads(out) == json.loads(json.dumps(policy_schema()))
    code, out, _ = run(capsys, "schema", "intent")
    assert code == 0 and json.loads(out)["discriminator"]["propertyName"] == "kind"


def test_version_and_module_entry_point() -> None:
    proc = subprocess.run([sys.executable, "-m", "txguard.cli", "--version"], capture_output=True, text=True,
                          cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": ""}, check=False)
    assert proc.returncode == 0
    assert proc.stdout.strip().startswith("txguard ")




def _corrupted_gzip(path: Path, lines: int = 400) -> Path:
    good = json.dumps({"id": "c", **envelope(checkout_args())}) + "\n"
    data = bytearray(gzip.compress((good * lines).encode("utf-8")))
    data[40:80] = bytes(40)  # inside the deflate stream: the reader fails part-way
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("argv", [
    lambda p: ["check", "--policy", str(RETAIL), "--cases", str(p)],
    lambda p: ["test", "--policy", str(RETAIL), str(p)],
    lambda p: ["check", "--policy", str(RETAIL), str(p)],
    lambda p: ["explain", "--policy", str(RETAIL), str(p)],
])
@pytest.mark.parametrize("damage", ["corrupted", "truncated", "not_gzip"])
def test_a_damaged_gzip_input_is_a_located_tool_error_not_a_traceback(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: Any, damage: str) -> None:
    path = tmp_path / "cases.jsonl.gz"
    if damage == "corrupted":
        _corrupted_gzip(path)
    elif damage == "truncated":
        path.write_bytes(gzip.compress(b'{"proposal": {"name": "checkout"}}\n' * 50)[:60])
    else:
        path.write_bytes(b"plain text, not gzip\n")
    code, out, err = run(capsys, *argv(path))
    assert code == 1
    assert "Traceback" not in err
    assert str(path) in err
    assert any(word in err for word in ("decompress", "end-of-stream", "gzip", "cannot read"))


def test_text_output_escapes_a_lone_surrogate_instead_of_crashing(capsys: pytest.CaptureFixture[str],
                                                                  tmp_path: Path) -> None:
    case = tmp_path / "case.json"
    # `\ud800` in the JSON text is a lone surrogate in the decoded tool name, echoed in the reason.
    case.write_text('{"proposal": {"name": "check\\ud800out", "arguments": {}}}', encoding="utf-8")
    for command in ("check", "explain"):
        code = subprocess.run([sys.executable, "-m", "txguard.cli", command, "--policy", str(RETAIL), str(case)],
                              capture_output=True, env={**os.environ, "PYTHONIOENCODING": "utf-8"}, check=False)
        assert code.returncode == 0, code.stderr.decode("utf-8", "replace")
        assert b"tool `check\\ud800out` is not mapped" in code.stdout
        assert b"Traceback" not in code.stderr


def test_text_output_on_an_ascii_terminal(tmp_path: Path) -> None:
    case = tmp_path / "case.json"
    case.write_text('{"proposal": {"name": "caf\u00e9\u2019s", "arguments": {}}}', encoding="utf-8")
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "LANG": "C", "LC_ALL": "C"}
    code = subprocess.run([sys.executable, "-m", "txguard.cli", "check", "--policy", str(RETAIL), str(case)],
                          capture_output=True, env=env, check=False)
    assert code.returncode == 0, code.stderr
    assert b"tool `caf\\xe9\\u2019s` is not mapped" in code.stdout


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_damage_to_a_gzip_corpus_is_decided_or_reported_never_raised(tmp_path: Path, data: st.DataObject) -> None:
    labelled = json.dumps({"id": "c", "expect": "allow", **envelope(checkout_args())}) + "\n"
    raw = bytearray(gzip.compress((labelled * 20).encode("utf-8")))
    for _ in range(data.draw(st.integers(0, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    raw = raw[:data.draw(st.integers(0, len(raw)))]
    path = tmp_path / "damaged.jsonl.gz"
    path.write_bytes(bytes(raw))
    for argv, codes in ((["check", "--policy", str(RETAIL), "--cases", str(path), "--out", str(tmp_path / "o.jsonl")], {0, 1}),
                        (["test", "--policy", str(RETAIL), str(path)], {0, 1, 2})):
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            code = main(argv)
        assert code in codes, err.getvalue()
        if code == 1:
            assert str(path) in err.getvalue()


def test_each_subcommand_help_line_is_its_module_help() -> None:
    from txguard.cli import COMMANDS, command_module

    for name, (_, help_line) in COMMANDS.items():
        module = command_module(name)
        assert module.HELP == help_line, name
        assert callable(module.register) and callable(module.run)


_IMPORTED = """
import sys
from txguard.cli import main
code = main(sys.argv[1:])
heavy = ("pydantic", "jsonschema", "orjson", "yaml")
print("IMPORTED", code, sorted(m for m in sys.modules
                               if m.startswith("txguard.cli.") or m.split(".")[0] in heavy))
"""


def _imported(*argv: str) -> tuple[str, list[str]]:
    proc = subprocess.run([sys.executable, "-c", _IMPORTED, *argv], capture_output=True, text=True,
                          check=True, cwd=ROOT)
    out, _, last = proc.stdout.rpartition("IMPORTED ")
    code, _, modules = last.partition(" ")
    assert code == "0"
    return out, eval(modules)  # noqa: S307 - the repr of a list of module names printed above


def test_help_lists_every_subcommand_without_importing_any() -> None:
    from txguard.cli import COMMANDS

    out, modules = _imported("--help")
    assert modules == []
    listed = " ".join(out.split())  # argparse wraps the help lines
    for name, (_, help_line) in COMMANDS.items():
        assert f"{name} {help_line}" in listed, name


def _subcommands(modules: list[str]) -> list[str]:
    """The subcommand modules among ``modules`` (``cli/_common.py`` is a shared helper, not one)."""
    return [m for m in modules if m.startswith("txguard.cli.") and not m.startswith("txguard.cli._")]


def test_a_subcommand_imports_only_itself() -> None:
    _, modules = _imported("validate", str(RETAIL))
    assert _subcommands(modules) == ["txguard.cli.validate"]
    _, modules = _imported("schema")
    assert _subcommands(modules) == ["txguard.cli.schema"]


def test_a_subcommand_help_still_shows_its_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        from txguard.cli import build_parser

        build_parser(["validate", "--help"]).parse_args(["validate", "--help"])
    assert exc.value.code == 0
    assert "--format {text,json}" in capsys.readouterr().out
