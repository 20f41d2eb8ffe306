"""``txguard validate``'s on-disk cache: a hit answers exactly as a compile would, any changed input
byte is a miss, a bad entry or an unusable folder is never trusted nor fatal, failures are never
recorded. Real files in ``tmp_path``; the compiler is made to explode to prove a hit never runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

import txguard.policy.compile
from txguard.cli import _validated, main
from txguard.core import diskcache
from txguard.policy.compile import compile_file

from .helpers import ROOT

TAXONOMY = "1 - Home\n2 - Home > Kitchen\n3 - Home > Kitchen > Coffee Makers\n"
BASE = """apiVersion: txguard/v1
id: base
version: "1"
tools:
  checkout:
    intent: checkout
categories:
  taxonomy: tax.txt
  product_types:
    Coffee Maker: 3
rules:
  - id: budget
    check: budget
    outcome: escalate
"""
CHILD = """apiVersion: txguard/v1
id: child
version: "2"
extends: base.yaml
rules:
  - id: cap
    check: budget
    outcome: escalate
"""


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv(diskcache.CACHE_ENV, str(directory))
    return directory


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A child policy extending a base that names a taxonomy file: three inputs."""
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "tax.txt").write_text(TAXONOMY, encoding="utf-8")
    (folder / "base.yaml").write_text(BASE, encoding="utf-8")
    (folder / "child.yaml").write_text(CHILD, encoding="utf-8")
    return folder


def validate(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["validate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def entries(cache: Path) -> list[Path]:
    return sorted(cache.glob("validate-*")) if cache.exists() else []


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_hit_answers_exactly_as_the_compile_did(capsys: pytest.CaptureFixture[str], cache: Path, tree: Path,
                                                  monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    argv = ("--format", fmt, str(tree / "child.yaml"), str(tree / "base.yaml"))
    miss = validate(capsys, *argv)
    assert miss[0] == 0 and len(entries(cache)) == 2
    monkeypatch.setattr(txguard.policy.compile, "compile_file", _explode)
    assert validate(capsys, *argv) == miss
    if fmt == "json":
        [row, _] = json.loads(miss[1])["policies"]
        assert row == {"file": str(tree / "child.yaml"), "valid": True, "id": "child", "version": "2",
                       "digest": compile_file(tree / "child.yaml").digest, "rules": 2}


def _explode(*_: Any, **__: Any) -> Any:
    raise AssertionError("the compiler ran")


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_valid_and_invalid_policies_together_answer_alike_hit_or_miss(capsys: pytest.CaptureFixture[str],
                                                                      cache: Path, tree: Path, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE.replace("check: budget", "check: nope"), encoding="utf-8")
    argv = ("--format", fmt, str(bad), str(tree / "child.yaml"), str(bad))
    miss = validate(capsys, *argv)
    assert miss[0] == 3 and len(entries(cache)) == 1
    compiled: list[str] = []

    def spy(path: Any, **kwargs: Any) -> Any:
        compiled.append(str(path))
        return compile_file(path, **kwargs)

    monkeypatch.setattr(txguard.policy.compile, "compile_file", spy)
    assert validate(capsys, *argv) == miss
    assert compiled == [str(bad), str(bad)]  # the invalid one compiled again, the valid one recalled


def test_a_cache_folder_that_refuses_writes_costs_time_not_a_crash(capsys: pytest.CaptureFixture[str], cache: Path,
                                                                   tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: Any, **__: Any) -> Any:
        raise PermissionError(13, "Read-only file system")  # what a read-only folder answers (even to root)

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    policy = str(tree / "child.yaml")
    assert validate(capsys, policy) == (0, "", "1 valid, 0 invalid\n")
    assert validate(capsys, "--format", "json", policy)[0] == 0
    assert entries(cache) == []


def test_an_invalid_policy_is_compiled_every_time_and_never_recorded(capsys: pytest.CaptureFixture[str],
                                                                     cache: Path, tree: Path) -> None:
    (tree / "child.yaml").write_text(CHILD.replace("outcome: escalate", "outcome: maybe"), encoding="utf-8")
    first = validate(capsys, "--format", "json", str(tree / "child.yaml"))
    assert first[0] == 3 and entries(cache) == []
    assert validate(capsys, "--format", "json", str(tree / "child.yaml")) == first
    text = validate(capsys, str(tree / "child.yaml"))
    assert text[0] == 3 and "txg-schema" in text[1] and text == validate(capsys, str(tree / "child.yaml"))


@pytest.mark.parametrize(("name", "old", "new"), [
    ("child.yaml", "outcome: escalate", "outcome: maybe"),  # the policy itself
    ("base.yaml", "outcome: escalate", "outcome: maybe"),  # its base (`extends`)
    ("tax.txt", "3 - Home > Kitchen > Coffee Makers\n", ""),  # the taxonomy its base names
])
def test_any_changed_input_is_a_miss(capsys: pytest.CaptureFixture[str], cache: Path, tree: Path,
                                     name: str, old: str, new: str) -> None:
    policy = str(tree / "child.yaml")
    assert validate(capsys, policy)[0] == 0
    path = tree / name
    path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    code, out, _ = validate(capsys, policy)
    assert code == 3 and out  # compiled again: the error is found and printed
    path.write_text(path.read_text(encoding="utf-8").replace(new, old) if new else
                    path.read_text(encoding="utf-8") + old, encoding="utf-8")
    assert validate(capsys, policy) == (0, "", "1 valid, 0 invalid\n")


def test_a_changed_input_is_compiled_again_and_recorded_anew(capsys: pytest.CaptureFixture[str], cache: Path,
                                                             tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    policy = str(tree / "child.yaml")
    validate(capsys, "--format", "json", policy)
    (tree / "base.yaml").write_text(BASE.replace('version: "1"', 'version: "1.1"'), encoding="utf-8")
    fresh = validate(capsys, "--format", "json", policy)
    assert json.loads(fresh[1])["policies"][0]["digest"] == compile_file(policy).digest
    monkeypatch.setattr(txguard.policy.compile, "compile_file", _explode)
    assert validate(capsys, "--format", "json", policy) == fresh  # the new entry, not the old one


def test_a_symbolic_link_pointed_elsewhere_is_a_miss(capsys: pytest.CaptureFixture[str], cache: Path,
                                                     tree: Path) -> None:
    (tree / "tax-a.txt").write_text(TAXONOMY, encoding="utf-8")
    (tree / "tax-b.txt").write_text("1 - Home\n", encoding="utf-8")
    (tree / "tax.txt").unlink()
    (tree / "tax.txt").symlink_to("tax-a.txt")
    policy = str(tree / "child.yaml")
    assert validate(capsys, policy)[0] == 0
    (tree / "tax.txt").unlink()
    (tree / "tax.txt").symlink_to("tax-b.txt")
    assert validate(capsys, policy)[0] == 3


@pytest.mark.parametrize("spoil", ["truncate", "garbage", "format", "digest", "summary", "empty-reads", "name"])
def test_a_bad_entry_is_ignored_and_rebuilt(capsys: pytest.CaptureFixture[str], cache: Path, tree: Path,
                                            spoil: str) -> None:
    policy = str(tree / "child.yaml")
    want = validate(capsys, "--format", "json", policy)
    [entry] = entries(cache)
    good = entry.read_text(encoding="utf-8")
    doc = json.loads(good)
    if spoil == "truncate":
        entry.write_text(good[: len(good) // 2], encoding="utf-8")
    elif spoil == "garbage":
        entry.write_bytes(b"\xff\x00not json")
    else:
        if spoil == "format":
            doc["format"] = _validated.FORMAT + 1
        elif spoil == "digest":
            doc["reads"][1][3] = "0" * 64
        elif spoil == "summary":
            doc["summary"]["rules"] = "2"
        elif spoil == "empty-reads":
            doc["reads"] = []
        else:
            doc["name"] = "validate-v1-" + "0" * 64 + ".json"  # an entry copied under another name
        entry.write_text(json.dumps(doc), encoding="utf-8")
    assert validate(capsys, "--format", "json", policy) == want  # compiled again, same answer
    assert entry.read_text(encoding="utf-8") == good  # and the entry rebuilt
    assert [p.name for p in cache.iterdir() if p.name.endswith(".tmp")] == []


def test_another_code_version_does_not_read_the_entry(capsys: pytest.CaptureFixture[str], cache: Path, tree: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    policy = str(tree / "child.yaml")
    validate(capsys, policy)
    monkeypatch.setattr(_validated, "__version__", "0.0.0-other")
    assert _validated.recalled(policy) is None
    validate(capsys, policy)
    assert len(entries(cache)) == 2


def test_an_unusable_cache_folder_costs_time_not_a_crash(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                        tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv(diskcache.CACHE_ENV, str(blocker / "cache"))  # below a file: neither read nor written
    policy = str(tree / "child.yaml")
    assert validate(capsys, policy) == (0, "", "1 valid, 0 invalid\n")
    assert validate(capsys, policy) == (0, "", "1 valid, 0 invalid\n")


def test_an_entry_that_cannot_be_read_or_replaced_is_worked_around(capsys: pytest.CaptureFixture[str],
                                                                   cache: Path, tree: Path) -> None:
    policy = str(tree / "child.yaml")
    validate(capsys, policy)
    [entry] = entries(cache)
    entry.unlink()
    entry.mkdir()  # a directory where the entry should be: open() and os.replace() both fail
    assert validate(capsys, policy) == (0, "", "1 valid, 0 invalid\n")
    assert entry.is_dir() and [p for p in cache.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize("how", ["flag-before", "flag-after", "empty-setting"])
def test_the_cache_can_be_turned_off(capsys: pytest.CaptureFixture[str], cache: Path, tree: Path,
                                     monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    policy = str(tree / "child.yaml")
    if how == "empty-setting":
        monkeypatch.setenv(diskcache.CACHE_ENV, "")
        code = main(["validate", policy])
    else:
        code = main(["--no-cache", "validate", policy] if how == "flag-before" else ["validate", "--no-cache", policy])
    assert code == 0 and not cache.exists()  # neither the policy nor the taxonomy written
    monkeypatch.setenv(diskcache.CACHE_ENV, str(cache))
    assert main(["validate", policy]) == 0 and len(entries(cache)) == 1  # the flag lasted one command
    capsys.readouterr()


def test_the_cache_folder_setting_then_xdg_then_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(diskcache.CACHE_ENV, str(tmp_path / "set"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert diskcache.cache_dir() == tmp_path / "set"
    monkeypatch.delenv(diskcache.CACHE_ENV)
    assert diskcache.cache_dir() == tmp_path / "xdg" / "txguard"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert diskcache.cache_dir() == tmp_path / "home" / ".cache" / "txguard"
    with diskcache.disabled():
        assert diskcache.cache_dir() is None
    assert diskcache.cache_dir() == tmp_path / "home" / ".cache" / "txguard"


def test_compiling_notes_every_file_it_reads(tree: Path) -> None:
    with diskcache.recording_reads() as reads:
        compile_file(tree / "child.yaml")
    assert [Path(r[1]).name for r in reads] == ["child.yaml", "base.yaml", "tax.txt"]
    assert [r[2] for r in reads] == [True, True, False]  # policies read as text, the taxonomy as bytes
    assert all(diskcache.unchanged(list(r)) for r in reads)


def test_a_line_ending_change_alone_keeps_the_entry(tree: Path) -> None:
    # The compiler reads policies with universal newlines: CRLF and LF texts compile alike.
    with diskcache.recording_reads() as reads:
        compile_file(tree / "child.yaml")
    (tree / "child.yaml").write_bytes(CHILD.replace("\n", "\r\n").encode("utf-8"))
    assert diskcache.unchanged(list(reads[0]))
    (tree / "tax.txt").write_bytes(TAXONOMY.replace("\n", "\r\n").encode("utf-8"))
    assert not diskcache.unchanged(list(reads[2]))  # a taxonomy's bytes are what counts


def test_a_fifo_in_a_files_place_is_a_miss_not_a_hang(tree: Path) -> None:
    with diskcache.recording_reads() as reads:
        compile_file(tree / "child.yaml")
    (tree / "base.yaml").unlink()
    os.mkfifo(tree / "base.yaml")
    assert not diskcache.unchanged(list(reads[1]))


_HIT = """
import sys
from txguard.cli import main
code = main(["validate", sys.argv[1]])
print("MODULES", sorted(m for m in sys.modules if m.startswith(("txguard.policy", "pydantic", "jsonschema", "yaml"))))
sys.exit(code)
"""


def test_a_hit_imports_neither_the_compiler_nor_its_libraries(cache: Path, tree: Path) -> None:
    def run() -> list[str]:
        proc = subprocess.run([sys.executable, "-c", _HIT, str(tree / "child.yaml")], capture_output=True,
                              text=True, check=True, cwd=ROOT)
        modules: list[str] = json.loads(proc.stdout.rpartition("MODULES ")[2].replace("'", '"'))
        return modules

    assert "txguard.policy.compile" in run()  # a miss compiles
    assert run() == []


def test_an_input_grown_past_the_bound_is_a_miss_without_being_read_whole(tree: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    with diskcache.recording_reads() as reads:
        compile_file(tree / "child.yaml")
    assert diskcache.unchanged(list(reads[2]))
    monkeypatch.setattr(diskcache, "MAX_INPUT_BYTES", len(TAXONOMY) - 1)
    assert not diskcache.unchanged(list(reads[2]))


def test_an_entry_others_could_have_written_is_not_trusted(capsys: pytest.CaptureFixture[str], cache: Path,
                                                           tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    argv = (str(tree / "child.yaml"),)
    miss = validate(capsys, *argv)
    [entry] = entries(cache)
    entry.chmod(0o666)  # writable by anyone: whoever can write it could make an invalid policy "valid"
    compiled: list[Any] = []
    real = txguard.policy.compile.compile_file
    monkeypatch.setattr(txguard.policy.compile, "compile_file", lambda *a, **k: compiled.append(a) or real(*a, **k))
    assert validate(capsys, *argv) == miss and len(compiled) == 1
    entry.chmod(0o600)
    cache.chmod(0o777)
    assert validate(capsys, *argv) == miss and len(compiled) == 2
    cache.chmod(0o700)


def test_an_imported_domain_is_an_input_of_the_entry(capsys: pytest.CaptureFixture[str], cache: Path,
                                                     tmp_path: Path) -> None:
    (tmp_path / "d.yaml").write_text("apiVersion: txguard/v1\ndomain: d\nintents:\n  pay:\n    fields: {amount: money}\n")
    (tmp_path / "p.yaml").write_text("apiVersion: txguard/v1\nid: p\nversion: 1\nimports: [d.yaml]\n"
                                     "defaults: {pay: allow}\ntools:\n  pay: {intent: pay}\n")
    assert validate(capsys, str(tmp_path / "p.yaml"))[0] == 0
    (tmp_path / "d.yaml").write_text("apiVersion: txguard/v1\ndomain: d\nintents:\n  pay:\n    fields: {amount: monie}\n")
    assert validate(capsys, str(tmp_path / "p.yaml"))[0] != 0
