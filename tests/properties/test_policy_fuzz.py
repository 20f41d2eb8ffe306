"""Loading a policy is total: random bytes and mutated shipped policies either compile or raise
:class:`PolicyError` whose every diagnostic is one located ``file:line:col: txg-...: ...`` line,
never another exception (no RecursionError, ReaderError, UnicodeError, KeyError, ...)."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from txguard import PolicyError, compile_file, compile_policy

from ..conftest import POLICIES

SHIPPED = {p.name: p.read_text(encoding="utf-8") for p in sorted(POLICIES.glob("*.yaml"))
           if not p.name.endswith(".tests.yaml")}
# Pieces that matter to YAML and to the policy language: indentation, flow, anchors, aliases, tags,
# documents, control and non-BMP characters, keys the schema knows.
PIECES = ("\n", "  ", "\t", ": ", "- ", "? ", "[", "]", "{", "}", ",", "&a ", "*a", "&b [*a, *a, *a]", "!!int ",
          "!!python/object:os.system ", "<<: ", "'", '"', "#", "%YAML 1.1\n", "---\n", "...\n", "\x07", "\x00",
          "\ufeff", "\U0001f600", "\ud800", "extends: ../x.yaml\n", "extends: retail.yaml\n", "rules: 3\n",
          "  - id: x\n    check: price_cap\n", "when: {path: intent.total, gt: 1}\n", "1e999", "-1", "null",
          "per_category: {}\n", "apiVersion: txguard/v1\n")
LOCATED = re.compile(r"^(?P<file>[^\n]+):(?P<line>[0-9]+):(?P<col>[0-9]+): txg-[a-z-]+: [^\n]+$")
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def mutated_policies(draw: st.DrawFn) -> str:
    text = SHIPPED[draw(st.sampled_from(sorted(SHIPPED)))]
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        at = draw(st.integers(min_value=0, max_value=len(text)))
        edit = draw(st.sampled_from(("insert", "delete", "replace", "duplicate")))
        if edit == "insert":
            text = text[:at] + draw(st.sampled_from(PIECES)) + text[at:]
        elif edit == "delete":
            text = text[:at] + text[at + draw(st.integers(min_value=1, max_value=40)):]
        elif edit == "replace":
            text = text[:at] + draw(st.text(max_size=8)) + text[at + 1:]
        else:
            end = text.find("\n", at)
            line = text[text.rfind("\n", 0, at) + 1:end + 1 if end >= 0 else len(text)]
            text = text[:at] + line + text[at:]
    return text


def assert_compiles_or_is_located(text: str, file: str = "fuzz.yaml") -> None:
    try:
        compile_policy(text, file, POLICIES)
    except PolicyError as exc:
        assert exc.diagnostics, "a PolicyError always says why"
        for d in exc.diagnostics:
            m = LOCATED.match(str(d))
            assert m is not None, str(d)
            assert m["file"] in (file, *(str(POLICIES / n) for n in SHIPPED))
            assert int(m["line"]) >= 1 and int(m["col"]) >= 1


@SETTINGS
@given(text=mutated_policies())
def test_a_mutated_shipped_policy_compiles_or_gives_located_errors(text: str) -> None:
    assert_compiles_or_is_located(text)


@SETTINGS
@given(data=st.binary(max_size=2000))
def test_random_bytes_give_located_errors(data: bytes) -> None:
    assert_compiles_or_is_located(data.decode("utf-8", errors="surrogateescape"))
    assert_compiles_or_is_located(data.decode("latin-1"))


@SETTINGS
@given(text=st.lists(st.sampled_from(PIECES), max_size=60).map("".join))
def test_yaml_shaped_noise_gives_located_errors(text: str) -> None:
    assert_compiles_or_is_located(text)


def test_a_non_utf8_file_is_a_located_error(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(b"apiVersion: txguard/v1\nid: \xff\n")
    try:
        compile_file(path)
    except PolicyError as exc:
        assert str(exc) == f"{path}:1:1: txg-io: the policy is not UTF-8 text"
    else:
        raise AssertionError("a non-UTF-8 policy compiled")
