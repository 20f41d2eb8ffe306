"""Load: YAML text -> plain data with the line and column of every node; located YAML errors."""

from __future__ import annotations

import pytest

from txguard import Diagnostic, PolicyError, compile_policy
from txguard._load import load_yaml


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
    ("a: [1\n", "f.yaml:2:1: txg-yaml: expected ',' or ']', but got '<stream end>'"),
    ("a: 1\n---\nb: 2\n", "f.yaml:2:1: txg-yaml: but found another document"),
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
     "f.yaml:1:4: txg-yaml: could not determine a constructor for the tag 'tag:yaml.org,2002:python/object:os.system'"),
    # A bad explicit tag raises ValueError inside PyYAML: still a located error, never a crash.
    ("a: !!int x\n", "f.yaml:1:4: txg-yaml: invalid literal for int() with base 10: 'x'"),
    ("a: !!float x\n", "f.yaml:1:4: txg-yaml: could not convert string to float: 'x'"),
    ("? !!int x\n: 1\n", "f.yaml:1:3: txg-yaml: invalid literal for int() with base 10: 'x'"),
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
    assert str(info.value) == "f.yaml:4:14: txg-yaml: invalid literal for int() with base 10: 'x'"
    with pytest.raises(PolicyError) as info:
        compile_policy(head + "1: x\nfoo: y\n", "f.yaml")
    assert [d.code for d in info.value.diagnostics] == ["txg-schema"]
    assert "unknown key `1`" in str(info.value)
