"""``txguard fmt`` (txguard.authoring.fmt): canonical key order and quoting, comments kept, meaning
kept, idempotent, refusals located and the file left untouched."""

from __future__ import annotations

import os
import random
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from txguard import policy_schema
from txguard.policy.schema import domain_schema
from txguard.authoring import fmt
from txguard.domain.domain import ROLES
from txguard.authoring.fmt import KEY_ORDER, FormatError, NotTxguardFile, format_file, format_text

from .helpers import POLICIES, ROOT

SHIPPED = sorted(POLICIES.rglob("*.yaml"))

COMMENTED = """\
# header comment
apiVersion: txguard/v1
rules:   # the rules
  # above the first rule
  - check: budget   # eol of check
    # above params
    params: {max: {USD: '1000.00'}}
    id: budget
    # after the last key of the first rule: above the second rule
  - outcome: escalate
    when: {path: intent.total, gt: "500.00", on_missing: false}
    id: big
    code: "big_total"
    # above description
    description: >-
      a big total,
      folded
version: "1.0.0"   # eol of version
id: 'shop'
tools:
  checkout: {required: [confidence], intent: checkout}
currency: USD
# trailing comment
"""

COMMENTED_FORMATTED = """\
# header comment
apiVersion: txguard/v1
id: shop
version: "1.0.0"   # eol of version
currency: USD
tools:
  checkout: {intent: checkout, required: [confidence]}
rules:   # the rules
  # above the first rule
  - id: budget
    check: budget   # eol of check
    # above params
    params: {max: {USD: "1000.00"}}
    # after the last key of the first rule: above the second rule
  - id: big
    # above description
    description: >-
      a big total,
      folded
    when: {path: intent.total, gt: "500.00", on_missing: false}
    outcome: escalate
    code: big_total
# trailing comment
"""


def _txguard(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "txguard.cli", "fmt", *args], capture_output=True, text=True, cwd=cwd)


def test_comments_stay_with_their_keys_and_the_order_is_canonical() -> None:
    assert format_text(COMMENTED, "shop.yaml") == COMMENTED_FORMATTED
    assert yaml.safe_load(COMMENTED_FORMATTED) == yaml.safe_load(COMMENTED)


def test_a_comment_above_a_key_that_moves_first_stays_in_the_mapping() -> None:
    text = "apiVersion: txguard/v1\nid: p\nversion: 1\nrules:\n  - check: budget\n    # why\n    id: budget\n"
    assert format_text(text, "p.yaml") == "apiVersion: txguard/v1\nid: p\nversion: 1\nrules:\n  - id: budget\n    # why\n    check: budget\n"


@pytest.mark.parametrize(("value", "written"), [
    ("'1000.00'", '"1000.00"'),         # an amount stays a string
    ('"1.0.0"', '"1.0.0"'),             # looks like a number: quotes kept
    ('"+20s"', '"+20s"'),
    ("'yes'", '"yes"'),                 # PyYAML would read `yes` as a boolean
    ('"null"', '"null"'),
    ('""', '""'),
    ('"#W900"', '"#W900"'),             # a plain `#` would start a comment
    ('"a: b"', '"a: b"'),
    ("'it''s'", "it's"),
    ('"plain words"', "plain words"),   # quotes that change nothing are dropped
    ("plain words", "plain words"),
    ("5m", "5m"),                       # a plain scalar is never quoted
    ("0.80", "0.80"),
    ("~", "null"),
    ("", "null"),
    ("null", "null"),
])
def test_quoting(value: str, written: str) -> None:
    text = f"apiVersion: txguard/v1\nid: p\nversion: {value}\n"
    out = format_text(text, "p.yaml")
    assert out == f"apiVersion: txguard/v1\nid: p\nversion: {written}\n"
    assert yaml.safe_load(out) == yaml.safe_load(text)


def test_a_flow_collection_over_several_lines_becomes_block_style() -> None:
    text = ("apiVersion: txguard/v1\nid: p\nversion: 1\ntools:\n  t:\n    intent: read\n"
            "    fields: {a.b: b, a.c: c,\n             a.d: d}\n    required: [x, y]\n")
    assert format_text(text, "p.yaml") == ("apiVersion: txguard/v1\nid: p\nversion: 1\ntools:\n  t:\n    intent: read\n"
                                           "    fields:\n      a.b: b\n      a.c: c\n      a.d: d\n    required: [x, y]\n")


def test_data_keys_are_not_reordered_and_unknown_keys_keep_their_order_after_known_ones() -> None:
    text = ("zeta: 1\napiVersion: txguard/v1\nalpha: 2\nid: p\nversion: 1\n"
            "defaults: {read: allow, checkout: allow}\nrules:\n  - params: {z: 1, a: 2}\n    id: r\n")
    assert format_text(text, "p.yaml") == ("apiVersion: txguard/v1\nid: p\nversion: 1\n"
                                           "defaults: {read: allow, checkout: allow}\nrules:\n  - id: r\n    params: {z: 1, a: 2}\n"
                                           "zeta: 1\nalpha: 2\n")


def test_a_suite_is_ordered_as_a_suite() -> None:
    text = ("cases:\n  - want: {route: human, outcome: escalate}\n    set: {a: 1}\n    confirmed: [proposal]\n"
            "    proposal: p\n    note: n\nsuite: s\napiVersion: txguard/v1\n")
    assert format_text(text, "x.tests.yaml") == ("apiVersion: txguard/v1\nsuite: s\ncases:\n  - note: n\n    proposal: p\n"
                                                 "    set: {a: 1}\n    confirmed: [proposal]\n"
                                                 "    want: {outcome: escalate, route: human}\n")


def test_the_key_order_covers_exactly_the_policy_schema() -> None:
    schema = policy_schema()
    props = schema["properties"]
    defs = schema["$defs"]
    session = props["session"]["properties"]
    session_rule = session["rules"]["items"]["properties"]
    expected = {
        "policy": props,
        "tool": props["tools"]["additionalProperties"]["properties"],
        "field": props["tools"]["additionalProperties"]["properties"]["fields"]["additionalProperties"]["oneOf"][1]["properties"],
        "categories": props["categories"]["properties"],
        "routes": props["routes"]["properties"],
        "audit": props["audit"]["properties"],
        "rule": defs["rule"]["properties"],
        "condition": defs["condition"]["properties"],
        "session": session,
        "session_rule": session_rule,
        "count": session_rule["count"]["properties"],
        "distinct": session_rule["distinct"]["properties"],
        "sum": session_rule["sum"]["properties"],
        "sequence": session_rule["sequence"]["properties"],
        "budget": session["budgets"]["items"]["properties"],
        "domain": domain_schema()["properties"],
        "intent": defs["kind"]["properties"],
        "roles": dict.fromkeys(ROLES),  # the schema names no role: the domain checks them at compile
        "fact": props["facts"]["additionalProperties"]["properties"],
    }
    for kind, properties in expected.items():
        assert sorted(KEY_ORDER[kind]) == sorted(properties), kind
        assert len(set(KEY_ORDER[kind])) == len(KEY_ORDER[kind]), kind


def test_the_key_order_covers_exactly_the_suite_format() -> None:
    from txguard.authoring import suite_load as _suite

    assert sorted(KEY_ORDER["suite"]) == sorted(_suite._SUITE_KEYS)
    assert sorted(KEY_ORDER["case"]) == sorted(_suite._CASE_KEYS)
    assert sorted(KEY_ORDER["turn"]) == sorted(_suite._TURN_KEYS)
    assert sorted(KEY_ORDER["want"]) == sorted(_suite._WANT_KEYS)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_files_are_formatted_and_formatting_is_idempotent(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert format_text(text, str(path)) == text


def test_the_shipped_policies_pass_fmt_check() -> None:
    proc = _txguard("--check", "policies")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == ""
    assert proc.stderr == f"0 files would be reformatted, {len(SHIPPED)} unchanged\n"


def _shuffled(value: Any, kind: str, rnd: random.Random) -> Any:
    """``value`` (an object of ``kind``) with the keys of it and of its known children shuffled;
    data keys (tool names, fixtures, params) are left in their order, as fmt leaves them."""
    if isinstance(value, list):
        return [_shuffled(v, kind, rnd) for v in value]
    if not isinstance(value, dict):
        return value
    children = fmt._CHILDREN.get(kind, {})
    out: dict[str, Any] = {}
    for key, v in value.items():
        child = children.get(key)
        if child is None:
            out[key] = v
        elif child.startswith("*"):
            out[key] = {name: _shuffled(item, child[1:], rnd) for name, item in v.items()} if isinstance(v, dict) else v
        else:
            out[key] = _shuffled(v, child, rnd)
    keys = list(out)
    rnd.shuffle(keys)
    return {k: out[k] for k in keys}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])  # a seed does not shrink
@given(path=st.sampled_from(SHIPPED), seed=st.integers(0, 2**32 - 1))
def test_any_key_order_formats_to_the_same_canonical_text(path: Path, seed: int) -> None:
    """Every key order of the same data (comments dropped by a plain dump) formats to one text,
    which loads to the same data and is a fixed point."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    kind = "suite" if path.name.endswith(".tests.yaml") else "policy"
    plain = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    shuffled = yaml.safe_dump(_shuffled(data, kind, random.Random(seed)), sort_keys=False, allow_unicode=True)
    canonical = format_text(plain, str(path))
    assert format_text(shuffled, str(path)) == canonical
    assert format_text(canonical, str(path)) == canonical
    assert yaml.safe_load(canonical) == data


@pytest.mark.parametrize(("name", "text", "message"), [
    ("notes.yaml", "a: 1\n", "not a txguard policy (no `apiVersion: txguard/v1`) or suite (*.tests.yaml)"),
    ("notes.yaml", "apiVersion: txguard/v2\nid: p\n", "not a txguard policy (no `apiVersion: txguard/v1`) or suite (*.tests.yaml)"),
    ("notes.yaml", "- apiVersion: txguard/v1\n", "not a txguard policy (no `apiVersion: txguard/v1`) or suite (*.tests.yaml)"),
    ("x.tests.yaml", "suite: s\n", "not a txguard suite: a *.tests.yaml file is a mapping with `cases`"),
    ("x.tests.yaml", "apiVersion: v2\ncases: []\n", "not a txguard suite: `apiVersion` is not `txguard/v1`"),
])
def test_other_files_are_refused(name: str, text: str, message: str) -> None:
    with pytest.raises(NotTxguardFile) as exc:
        format_text(text, name)
    assert str(exc.value) == f"{name}:1:1: {message}"


@pytest.mark.parametrize(("text", "where"), [
    ("apiVersion: txguard/v1\nid: [p\nversion: 1\n", "p.yaml:3:8: invalid YAML: expected ',' or ']', but got ':'"),
    ("apiVersion: txguard/v1\n  id: p\n", "p.yaml:2:5: invalid YAML: mapping values are not allowed here"),
    ("apiVersion: txguard/v1\n---\nid: p\n", "p.yaml:2:1: invalid YAML: expected a single document in the stream but found another document"),
    ("apiVersion: txguard/v1\nid:\tp\n", "p.yaml:2:4: invalid YAML: found character '\\t' that cannot start any token"),
    ("apiVersion: txguard/v1\nid: p\nid: q\n", "p.yaml:3:1: invalid YAML: found duplicate key \"id\" with value \"q\" (original value: \"p\")"),
])
def test_invalid_yaml_is_located(text: str, where: str) -> None:
    with pytest.raises(FormatError) as exc:
        format_text(text, "p.yaml")
    assert str(exc.value) == where


def test_an_alias_bomb_is_refused_before_it_is_loaded() -> None:
    levels = ["a0: &a0 [x, x]"] + [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, 600)]
    text = "apiVersion: txguard/v1\nid: p\n" + "\n".join(levels) + "\n"
    with pytest.raises(FormatError) as exc:
        format_text(text, "p.yaml")
    assert str(exc.value) == "p.yaml:1:1: more than 1000 aliases (`*name`): not formatted"


def test_writing_through_a_symlink_rewrites_its_target(tmp_path: Path) -> None:
    target = tmp_path / "shop.yaml"
    target.write_text(COMMENTED)
    link = tmp_path / "link.yaml"
    link.symlink_to(target)
    format_file(link)
    assert link.is_symlink()
    assert target.read_text() == COMMENTED_FORMATTED


def test_a_result_that_would_change_the_meaning_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(fmt, "_needs_quotes", lambda s: False)  # a broken quoting rule: PyYAML reads a plain `yes` as true
    path = tmp_path / "p.yaml"
    path.write_text("apiVersion: txguard/v1\nid: p\nversion: 'yes'\n")
    with pytest.raises(FormatError) as exc:
        format_file(path)
    assert str(exc.value) == (f"{path}:1:1: formatting would change what the file means; nothing was written "
                              "(please report this)")
    assert path.read_text() == "apiVersion: txguard/v1\nid: p\nversion: 'yes'\n"


def test_a_comment_after_a_flow_collection_over_several_lines_keeps_it_flow() -> None:
    text = ("apiVersion: txguard/v1\nid: p\ntools: {x: {intent: read},\n  y: {intent: read}}   # e\n# above version\nversion: 2\n"
            "rules:\n  - when: {path: a,\n      eq: 1}  # eol\n    # above id\n    id: r\n  # between\n  - id: s\n")
    assert format_text(text, "p.yaml") == ("apiVersion: txguard/v1\nid: p\n# above version\nversion: 2\n"
                                           "tools: {x: {intent: read}, y: {intent: read}} # e\nrules:\n  - id: r\n    # above id\n"
                                           "    when: {path: a, eq: 1} # eol\n  # between\n  - id: s\n")


def test_a_result_that_would_lose_a_comment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fmt, "_add_trail", lambda *args: None)  # a broken comment move
    with pytest.raises(FormatError) as exc:
        format_text(COMMENTED, "shop.yaml")
    assert str(exc.value).startswith("shop.yaml:1:1: formatting would lose the comment `# ")


def test_writing_keeps_the_mode_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "shop.yaml"
    path.write_text(COMMENTED)
    path.chmod(0o640)
    assert format_file(path) == (COMMENTED, COMMENTED_FORMATTED)
    assert path.read_text() == COMMENTED_FORMATTED
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shop.yaml"]


# -- the command line ------------------------------------------------------------------------------


def test_check_exits_2_lists_the_file_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shop.yaml"
    path.write_text(COMMENTED)
    before = os.stat(path).st_mtime_ns
    proc = _txguard("--check", str(tmp_path))
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == f"{path}\n"
    assert proc.stderr == "1 file would be reformatted, 0 unchanged\n"
    assert path.read_text() == COMMENTED and os.stat(path).st_mtime_ns == before

    proc = _txguard("--diff", str(path))
    assert proc.returncode == 2
    assert proc.stdout.startswith(f"--- {path}\n+++ {path} (formatted)\n@@ ")
    assert "+id: shop\n" in proc.stdout and "-id: 'shop'\n" in proc.stdout
    assert path.read_text() == COMMENTED

    proc = _txguard(str(path))
    assert proc.returncode == 0
    assert proc.stderr == f"reformatted {path}\n1 file reformatted, 0 unchanged\n"
    assert path.read_text() == COMMENTED_FORMATTED
    assert _txguard("--check", str(path)).returncode == 0


def test_a_directory_skips_other_yaml_but_a_named_file_must_be_ours(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text("services: {web: {image: nginx}}\n")
    (tmp_path / "broken.yml").write_text("a: [\n")
    (tmp_path / "shop.yaml").write_text(COMMENTED_FORMATTED)
    proc = _txguard("--check", str(tmp_path))
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "0 files would be reformatted, 1 unchanged\n")

    proc = _txguard(str(tmp_path / "compose.yaml"))
    assert proc.returncode == 1
    assert proc.stderr == (f"{tmp_path / 'compose.yaml'}:1:1: not a txguard policy (no `apiVersion: txguard/v1`) or suite "
                           "(*.tests.yaml)\n0 files reformatted, 0 unchanged, 1 error\n")
    assert (tmp_path / "compose.yaml").read_text() == "services: {web: {image: nginx}}\n"


def test_an_error_exits_1_and_leaves_the_file_untouched(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: txguard/v1\nid: [p\n")
    good = tmp_path / "shop.yaml"
    good.write_text(COMMENTED)
    proc = _txguard(str(tmp_path))
    assert proc.returncode == 1
    assert proc.stderr == (f"{bad}:3:1: invalid YAML: expected ',' or ']', but got '<stream end>'\n"
                           f"reformatted {good}\n1 file reformatted, 0 unchanged, 1 error\n")
    assert bad.read_text() == "apiVersion: txguard/v1\nid: [p\n"
    assert good.read_text() == COMMENTED_FORMATTED


def test_without_ruamel_fmt_names_the_extra(tmp_path: Path) -> None:
    path = tmp_path / "shop.yaml"
    path.write_text(COMMENTED)
    code = ("import sys; sys.modules['ruamel'] = None; sys.modules['ruamel.yaml'] = None\n"
            "from txguard.cli import main; sys.exit(main(['fmt', sys.argv[1]]))")
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1
    assert proc.stderr == "txguard: txguard fmt needs ruamel.yaml: pip install 'txguard[fmt]'\n"
    assert path.read_text() == COMMENTED


def test_fmt_help_does_not_import_ruamel() -> None:
    code = ("import sys; from txguard.cli import main; code = main(['fmt', '--help'])\n"
            "print('RUAMEL', code, any(m.split('.')[0] == 'ruamel' for m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert "--check" in proc.stdout and "--diff" in proc.stdout
    assert proc.stdout.rstrip().endswith("RUAMEL 0 False")
