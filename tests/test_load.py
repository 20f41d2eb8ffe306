"""Load: YAML text -> plain data with the line and column of every node; located YAML errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from txguard import Diagnostic, PolicyError, compile_policy
from txguard.policy.load import MAX_ALIASES, MAX_DEPTH, MAX_VALUES, load_yaml
from txguard.authoring.suite import SuiteError
from txguard.authoring.suite_load import load_suite


def test_every_node_is_located() -> None:
    doc, errors = load_yaml("a: 1\nb:\n  - x\n  - {c: 2}\n", "f.yaml")
    assert errors == []
    assert doc is not None
    assert doc.data == {"a": 1, "b": ["x", {"c": 2}]}
    assert doc.where(("a",)) == (1, 4)
    assert doc.where(("b", 0)) == (3, 5)
    assert doc.where(("b", 1, "c")) == (4, 9)
    # A path below a located node falls back to its nearest located ancestor.
    assert doc.where(("b", 1, "c", "deeper", 3)) == (4, 9)
    assert doc.where(("absent",)) == (1, 1)
    assert str(doc.diagnostic(("b", 1), "txg-schema", "boom")) == "f.yaml:4:5: txg-schema: boom"


@pytest.mark.parametrize(("text", "want"), [
    ("", "f.yaml:1:1: txg-yaml: the file is empty: expected a policy mapping"),
    ("a: [1\n", "f.yaml:2:1: txg-yaml: a `[` list is not closed by `]` (or its items are not separated by `,`)"),
    ("a: 1\n---\nb: 2\n",
     "f.yaml:2:1: txg-yaml: the file holds more than one YAML document (`---`): a file is one document"),
    # Every problem is said in plain words, never in PyYAML's (`expected <block end>, but found ...`).
    ("a:\n  b: 1\n c: 2\n", "f.yaml:3:2: txg-yaml: this line is not indented like the lines above it: "
                             "align it with its siblings (or check the line before)"),
    ("a: b: c\n", "f.yaml:1:5: txg-yaml: a `key: value` cannot start here: check this line's indentation, "
                  "or quote a value that holds `: `"),
    ("a:\n\tb: 1\n", "f.yaml:2:1: txg-yaml: a tab cannot indent YAML: indent with spaces"),
    ('a: "abc\n', "f.yaml:2:1: txg-yaml: the file ends inside a quoted string: a closing quote is missing"),
    ("a: *x\n", "f.yaml:1:4: txg-yaml: an alias `*name` refers to no anchor `&name` above it"),
    # A control character: located, not PyYAML's ReaderError.
    ("a: 1\nb: x\x07y\n", "f.yaml:2:5: txg-yaml: character U+0007 is not allowed in YAML text (a control "
                         "character): remove it or escape it in double quotes"),
    # A recursive alias: located, not a RecursionError.
    ("a: &x [1, *x]\n", "f.yaml:1:4: txg-yaml: an alias refers to the value that contains it (a recursive alias)"),
    ("a: " + "[" * 100 + "]" * 100 + "\n", "f.yaml:1:67: txg-yaml: values are nested more than 64 deep"),
])
def test_unparsable_yaml_is_one_located_error(text: str, want: str) -> None:
    doc, errors = load_yaml(text, "f.yaml")
    assert doc is None
    assert [str(e) for e in errors] == [want]


@pytest.mark.parametrize(("text", "want"), [
    ("a: 1\nb: 2\na: 3\n", "f.yaml:3:1: txg-yaml: duplicate key `a`"),
    ("base: &b {x: 1}\nc:\n  <<: *b\n", "f.yaml:3:3: txg-yaml: merge keys `<<` are not supported in policies"),
    ("? [1]\n: 2\n", "f.yaml:1:3: txg-yaml: mapping keys must be scalars"),
    ("a: !!python/object:os.system x\n",
     "f.yaml:1:4: txg-yaml: unknown tag `!!python/object:os.system`: a file holds plain YAML values"),
    # A bad explicit tag raises ValueError inside PyYAML: still a located error, never a crash.
    ("a: !!int x\n", "f.yaml:1:4: txg-yaml: `x` is not a valid `!!int` value"),
    ("a: !!float x\n", "f.yaml:1:4: txg-yaml: `x` is not a valid `!!float` value"),
    ("? !!int x\n: 1\n", "f.yaml:1:3: txg-yaml: `x` is not a valid `!!int` value"),
    ("a: !!int\nb: 1\n", "f.yaml:1:4: txg-yaml: an empty value is not a valid `!!int` value"),  # an IndexError in PyYAML
    ("a: !!binary x\n", "f.yaml:1:4: txg-yaml: `x` is not a valid `!!binary` value"),
])
def test_document_errors_are_located(text: str, want: str) -> None:
    doc, errors = load_yaml(text, "f.yaml")
    assert doc is not None
    assert [str(e) for e in errors] == [want]


def test_duplicate_keys_are_all_reported_and_never_overwrite() -> None:
    doc, errors = load_yaml("a: 1\na: 2\nb: {c: 1, c: 2}\n", "f.yaml")
    assert doc is not None
    assert doc.data == {"a": 1, "b": {"c": 1}}
    assert errors == [Diagnostic("f.yaml", 2, 1, "txg-yaml", "duplicate key `a`"),
                      Diagnostic("f.yaml", 3, 11, "txg-yaml", "duplicate key `c`")]


def test_mapping_keys_are_text() -> None:
    doc, errors = load_yaml("1: a\ntrue: b\n2020-01-01: c\n", "f.yaml")
    assert errors == [] and doc is not None
    assert doc.data == {"1": "a", "True": "b", "2020-01-01": "c"}


def test_policy_with_bad_tag_or_int_key_raises_policy_error_not_a_crash() -> None:
    head = 'apiVersion: txguard/v1\nid: t\nversion: "1"\n'
    with pytest.raises(PolicyError) as info:
        compile_policy(head + "description: !!int x\n", "f.yaml")
    assert str(info.value) == "f.yaml:4:14: txg-yaml: `x` is not a valid `!!int` value"
    with pytest.raises(PolicyError) as info:
        compile_policy(head + "1: x\nfoo: y\n", "f.yaml")
    assert [d.code for d in info.value.diagnostics] == ["txg-schema"]
    assert "unknown key `1`" in str(info.value)


def _alias_bomb(levels: int, width: int = 9) -> str:
    """The billion laughs: each level lists the previous one ``width`` times."""
    lines = ['l0: &l0 [' + ", ".join(['"lol"'] * width) + "]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_before_it_expands() -> None:
    text = _alias_bomb(9)  # 9**9 (387 million) strings from 360 bytes
    assert len(text) < 600
    doc, errors = load_yaml(text, "f.yaml")
    assert doc is None
    assert [str(e) for e in errors] == [
        f"f.yaml:{len(text.splitlines()) - 3}:5: txg-yaml: this value expands to more than {MAX_VALUES} values once "
        "its aliases are followed: the file is too large to load"]
    # A small expansion is fine: aliases are still allowed.
    doc, errors = load_yaml(_alias_bomb(3), "f.yaml")
    assert errors == [] and doc is not None and len(doc.data["l2"]) == 9


def test_aliases_and_depth_through_aliases_are_bounded() -> None:
    many = "a: &a 1\nb: [" + ", ".join(["*a"] * (MAX_ALIASES + 1)) + "]\n"
    _, errors = load_yaml(many, "f.yaml")
    assert [e.message for e in errors] == [f"more than {MAX_ALIASES} aliases (`*name`): a file may not repeat "
                                           "content this much"]
    # Each anchor nests 40 deep and holds the previous one: deep only once the aliases are followed.
    chain = ["a0: &a0 " + "[" * 40 + "1" + "]" * 40]
    chain += [f"a{i}: &a{i} " + "[" * 40 + f"*a{i - 1}" + "]" * 40 for i in range(1, 5)]
    _, errors = load_yaml("\n".join(chain) + "\n", "f.yaml")
    assert [e.message for e in errors] == [f"values are nested more than {MAX_DEPTH} deep (aliases included)"]


def test_suite_files_get_the_same_located_errors(tmp_path: Path) -> None:
    suite = tmp_path / "p.tests.yaml"
    suite.write_text(_alias_bomb(9), encoding="utf-8")
    with pytest.raises(SuiteError) as info:
        load_suite(suite)
    assert [d.code for d in info.value.diagnostics] == ["txg-yaml"]
    assert "too large to load" in str(info.value)
