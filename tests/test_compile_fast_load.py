"""Differential: the libyaml fast path of ``load_yaml`` reads every text exactly as the pure-Python
reference (``load_yaml_reference``): the same data (types included), the same line and column of
every path, the same diagnostics. The fast path may decline a text (it then takes the reference
path); it may never accept one the reference refuses, nor read one differently."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from txguard.policy import load as load_module
from txguard.policy.load import MAX_DEPTH, _load_fast, load_yaml, load_yaml_reference

ROOT = Path(__file__).resolve().parent.parent
POLICY_TEXTS = sorted(p.read_text(encoding="utf-8") for p in (ROOT / "policies").rglob("*.yaml"))
LIBYAML = load_module._CLoader is not None


def same(a: Any, b: Any) -> bool:
    """Equal values of the same types (``1``, ``1.0`` and ``True`` differ), NaN equal to NaN, keys in the same order."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return bool(a == b)


def check(text: str) -> None:
    """The fast path, when it reads ``text``, agrees with the reference; ``load_yaml`` always does."""
    ref_doc, ref_errors = load_yaml_reference(text, "p.yaml")
    fast = _load_fast(text, "p.yaml")
    if fast is not None:
        assert ref_doc is not None and ref_errors == [], (text, ref_errors)
        assert same(fast.data, ref_doc.data), text
        assert fast.marks == ref_doc.marks, text
    doc, errors = load_yaml(text, "p.yaml")
    assert errors == ref_errors
    assert (doc is None) == (ref_doc is None)
    if doc is not None and ref_doc is not None:
        assert same(doc.data, ref_doc.data) and doc.marks == ref_doc.marks


# -- generated YAML --------------------------------------------------------------------------------------

SCALARS = [
    "a", "yes", "no", "on", "off", "Yes", "NO", "y", "n", "true", "False", "TRUE", "~", "null", "Null", "",
    "0", "-0", "+1", "007", "0o17", "0x1F", "0b101", "1_000", "1:20", "190:20:30", "1.5", "1e3", "1.0e+3", "-.5",
    ".nan", ".NaN", ".inf", "-.Inf", "123456789012345678901234567890", "-99999999999999999999999",
    "2001-12-14", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10", "2002-13-45", "12:30:45",
    "'quoted'", '"dq \\t \\u00e9 \\x41 \\/ \\N \\_"', '"\\ud800"', '"\\U0001F600"', "'it''s'", '"unclosed',
    "é", "日本", "😀", "a b", "a: b", "a #c", "- x", "!!int 3", "!!int x", "!!str 3", "!!float 1", "!!bool yes",
    "!!binary aGk=", "!!timestamp 2001-12-14", "!!null ''", "!foo bar", "!!python/name:os.system", "&a 1", "*a",
    "@x", "`x", "%x", "|\n  block\n  text", ">-\n  folded\n  text", "[1, 2]", "{a: 1}", "{a: 1, a: 2}", "[a, [b]]",
    "{<<: {a: 1}}", "?", ": x", "\t", "a\tb", "x\r\ny", "\ufeffa", "a\x85b", "a\u2028b", "\x07", "a\x00",
    "|-\n  a\n\n  b\n\n", ">+\n  a\n   more\n  b\n\n\n", "|2\n   x\n  y\n", ">1-\n  x", "|#c\n  x", "> #c\n  x\n",
    "|\n\n\n  late\n", "|\n  x\n # c\n", ">\n x\n\n y\n  z\n", "|+", "|0\n x", "| -\n  x", "|\n  \ttab\n",
]
KEYS = ["a", "b", "id", "rules", "when", "path", "gt", "1", "yes", "~", "<<", "'<<'", '"k"', "é", "[x]", "{k: v}",
        "? q", "!!int 7", "&k a", "*k", "a b", "x\t", ""]


@st.composite
def yaml_text(draw: st.DrawFn, depth: int = 0) -> str:
    """A YAML-ish text: block mappings and sequences with drawn indentation, flow collections, tricky
    scalars, anchors, aliases, merge keys, tags, comments and now and then a document marker."""
    indent = " " * draw(st.integers(0, 3))

    def value(level: int) -> str:
        if level < 3 and draw(st.booleans()):
            return "\n" + block(level + 1)
        return " " + draw(st.sampled_from(SCALARS))

    def block(level: int) -> str:
        pad = indent * level + " " * draw(st.integers(0, 1) if draw(st.integers(0, 9)) == 0 else st.just(0))
        lines = []
        seq = draw(st.booleans())
        for _ in range(draw(st.integers(1, 4))):
            prefix = draw(st.sampled_from(["", "", "", "&n ", "!!map ", "# c\n" + pad]))
            if seq:
                lines.append(f"{pad}-{prefix and ' ' + prefix.strip()}{value(level)}")
            else:
                lines.append(f"{pad}{draw(st.sampled_from(KEYS))}:{value(level)}")
        return "\n".join(lines)

    text = block(0) if draw(st.booleans()) else draw(st.sampled_from(SCALARS))
    text = draw(st.sampled_from(["", "", "", "---\n", "%YAML 1.1\n---\n", "\ufeff"])) + text
    return text + draw(st.sampled_from(["", "\n", "\n...\n", "\n---\nb: 2\n", "  # end", "\n\n"]))


ALPHABET = list(" \t\n\r:-#&*!|>'\"[]{},?%@`~.\\") + ["a", "1", "é", "😀", "\ufeff", "\x85", "\u2028", "\x00"]


@st.composite
def mutated_policy(draw: st.DrawFn) -> str:
    """Up to 40 lines of a shipped policy or suite, with a few characters inserted, deleted or replaced."""
    lines = draw(st.sampled_from(POLICY_TEXTS)).splitlines(keepends=True)
    start = draw(st.integers(0, len(lines) - 1))
    text = "".join(lines[start:start + draw(st.integers(1, 40))])
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = draw(st.text(alphabet=ALPHABET, min_size=1, max_size=3))
        text = text[:i] + piece + text[i + 1:] if op == "replace" else text[:i] + piece + text[i:] \
            if op == "insert" else text[:i] + text[i + 3:]
    return text


FEW = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FEW
@given(yaml_text())
def test_generated_yaml_reads_the_same(text: str) -> None:
    check(text)


@FEW
@given(mutated_policy())
def test_mutated_policies_read_the_same(text: str) -> None:
    check(text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=40))
def test_character_soup_reads_the_same(text: str) -> None:
    check(text)


# -- chosen cases ---------------------------------------------------------------------------------------

ADVERSARIAL = [
    "a: &x {b: 1}\nc: *x\n",                          # alias
    "base: &b {x: 1}\nchild:\n  <<: *b\n  y: 2\n",   # merge key
    "a: 1\na: 2\n",                                   # duplicate key
    "1: a\n'1': b\n",                                 # an int key and its text: one key
    "a: 1\n---\nb: 2\n",                              # two documents
    "a:\n\t- 1\n",                                    # a tab indents
    "a: b\tc\nd:\te\n",                               # tabs inside lines
    "\ufeffa: 1\nb: é\n",                             # byte order mark
    "a: 日本語\nb: '😀x'\nc: \"\\U0001F600\"\n",       # unicode, columns after wide characters
    "é: 1\n😀😀: [x, y]\n",
    "n: 123456789012345678901234567890123\nm: -0x_1F\n",
    "a: yes\nb: no\nc: on\nd: off\ne: Y\nf: ~\n",     # YAML 1.1 booleans and null
    "d: 2001-12-14\nt: 2001-12-14t21:59:43.10-05:00\ns: 190:20:30\nbad: 2002-13-45\n",
    "x: !!int 3\ny: !!str 3\nz: !!float 1\nw: !!binary aGk=\n",
    "x: !!int nope\n", "x: !foo bar\n", "x: !!python/object:os.system {}\n", "!!set {a, b}\n",
    "k: \"\\ud800\"\n", "k: \"\\ud83d\\ude00\"\n",  # surrogate escapes
    "a: 1\r\nb:\r\n  - 2\r\n", "a: 1\rb: 2\r",       # CRLF and CR line ends
    "a: x\x85b: y\n", "a: x\u2028b: y\n", "a: \x07\n",
    "[1, 2\n", "{a: 1\n", "a: 'unclosed\n", "a: *nope\n", "a: &x 1\nb: &x 2\nc: *x\n",
    "", "# only a comment\n", "---\n", "...\n", "plain scalar\n", "- 1\n- 2\n",
    "? [a, b]\n: c\n", "? {a: 1}\n: c\n", "{[a]: b}\n",  # complex keys
    "a: |\n  line one\n  line two\n\nb: >-\n  folded\n   more\n",
    "a: \"multi\n  line \\\n  escaped\"\nb: plain\n  continued\n",
    "%YAML 1.1\n---\na: 1\n", "%TAG !e! tag:example.com,2000:\n---\na: !e!x 1\n",
    "- [" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2) + "\n",
    "- [" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "\n",
    "[" * 2000 + "]" * 2000,
    "a: [" + ", ".join(["*x"] * 3) + "]\nx: &x 1\n",
    "r: &r [*r]\n",
    "a:\n  b:\n    c: 1\n  d: 2\ne: 3\n",
    "a: {b: [1, {c: d}], e: f}\n",
    "a: {b: 1,\nc: 2}\n", "a: [1,\n2]\n", "a:\n  - {b: 1,\n  c: 2}\n", "- - a\n  - b\n- c: 1\n  d: 2\n",
    "a: plain\n  # not a comment?\n  more\n", "a: x\n- y\n", "--- a\n", "--- |\n  x\n", "--- {a: 1}\n",
    "? a\n: b\n? c\n", "&k a: 1\n", "a: !!str\n", "a: ! 12\nb: !<tag:yaml.org,2002:str> 3\n",
    "k" * 1100 + ": v\n", "a: 'one\n  two\n\n  three'\n", "a: \"x\\\n   y\\ z\\e\\0\\a\\L\\P\\N\\_\\/\"\n",
    "%YAML 1.2\n---\na: 1\n", "%YAML 2.0\n---\na: 1\n", "%FOO bar\n---\na: 1\n", "a: b#c\nd: e #f\n",
    "a: 1   \n   \nb: 2\n", "a:\n  b: 1\n   c: 2\n", "a:\n    b: 1\n  c: 2\n", "[a, b]: c\n", "a: [b, c]d\n",
    "{a: 1}\n", "a: {b}\n", "a: [b: c]\n", "a: {b: c, d}\n", "a: [?x]\n", "a: {:x}\n", "a: [x:y]\n",
    "a: -x\nb: ?x\nc: :x\nd: x:\n", "- -1\n- --\n- '-'\n", "a: 0.\nb: .5e3\nc: 1_0.5\nd: 0x\ne: +.inf\n",
    "a: 1\n...\n", "a: 1\n... # end\n", "a: 1\n---\n", "a: \"\\x4\"\n", "a: '\n", "{a: 1}}\n",
]


@pytest.mark.parametrize("text", ADVERSARIAL)
def test_adversarial_texts_read_the_same(text: str) -> None:
    check(text)


@pytest.mark.parametrize("text", POLICY_TEXTS)
def test_shipped_policies_take_the_fast_path(text: str) -> None:
    check(text)
    if LIBYAML:
        assert _load_fast(text, "p.yaml") is not None


@pytest.mark.skipif(not LIBYAML, reason="PyYAML without libyaml: nothing to decline")
@pytest.mark.parametrize("text", [
    "a: &x 1\nb: *x\n", "a: {<<: {b: 1}}\n", "a: 1\na: 2\n", "\ufeffa: 1\n", "a: x\x85b: y\n", "a: !!int x\n",
    "a: \"\\ud800\"\n", "- [" * MAX_DEPTH + "]" * MAX_DEPTH, "a: 1\n---\nb: 2\n", "", "? [a]\n: b\n",
])
def test_fast_path_declines_what_it_cannot_vouch_for(text: str) -> None:
    assert _load_fast(text, "p.yaml") is None


def test_without_libyaml_the_reference_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load_module, "_CLoader", None)
    text = POLICY_TEXTS[0]
    assert _load_fast(text, "p.yaml") is None
    doc, errors = load_yaml(text, "p.yaml")
    ref, _ = load_yaml_reference(text, "p.yaml")
    assert doc is not None and ref is not None and errors == [] and same(doc.data, ref.data)
    assert doc.marks == ref.marks


def test_a_text_the_c_loader_reads_as_safe_yaml() -> None:
    """The fast path builds the same plain values as PyYAML's own safe loading of a clean text."""
    text = "a: [1, 2.5, yes, ~, 2001-12-14]\nb: {c: 'd'}\n"
    doc, errors = load_yaml(text, "p.yaml")
    assert errors == [] and doc is not None and same(doc.data, yaml.safe_load(text))
