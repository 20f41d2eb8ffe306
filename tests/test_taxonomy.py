"""The taxonomy file's on-disk cache: keyed by content digest, JSON, atomic, rebuilt when unusable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from txguard.core.taxonomy import CACHE_ENV, Taxonomy, TaxonomyFormatError, cache_dir, load_taxonomy

from .helpers import POLICIES

SHIPPED = POLICIES / "taxonomy" / "taxonomy-with-ids.en-US.txt"
SMALL = "# comment\n1 - Home\n2 - Home > Kitchen\r\n3 - Home > Kitchen > Coffee Makers\n"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(directory))
    return directory


def _parsed(path: Path) -> Taxonomy:
    with open(path, encoding="utf-8") as fh:
        return Taxonomy.parse(fh)


def _entries(directory: Path) -> list[Path]:
    return sorted(directory.iterdir()) if directory.exists() else []


def test_the_shipped_taxonomy_reads_back_from_the_cache_unchanged(cache: Path) -> None:
    want = _parsed(SHIPPED)
    first = load_taxonomy(SHIPPED)
    [entry] = _entries(cache)
    second = load_taxonomy(SHIPPED)
    assert (dict(first.paths), dict(first.by_path)) == (dict(want.paths), dict(want.by_path))
    assert (dict(second.paths), dict(second.by_path)) == (dict(want.paths), dict(want.by_path))
    assert json.loads(entry.read_text(encoding="utf-8"))["format"] == 1
    assert _entries(cache) == [entry]  # read, not rewritten under another name; no temporary left


def test_the_cache_is_what_is_read_when_it_fits(cache: Path, tmp_path: Path) -> None:
    src = tmp_path / "t.txt"
    src.write_text(SMALL, encoding="utf-8")
    load_taxonomy(src)
    [entry] = _entries(cache)
    doc = json.loads(entry.read_text(encoding="utf-8"))
    doc["paths"].append([9, "Cached"])
    entry.write_text(json.dumps(doc), encoding="utf-8")
    assert load_taxonomy(src).resolve(9) == 9  # the entry was used, so it is one that must be right


@pytest.mark.parametrize("spoil", [
    "not json",
    '{"format": 1}',
    '{"format": 1, "digest": "0", "paths": [], "by_path": {}}',
    '{"format": 1, "digest": "@", "paths": [["1", "Home"]], "by_path": {}}',
    '{"format": 1, "digest": "@", "paths": [[1]], "by_path": {}}',
    '{"format": 1, "digest": "@", "paths": [[1, "Home"]], "by_path": {"home": 7}}',
    '{"format": 1, "digest": "@", "paths": 5, "by_path": {}}',
])
def test_an_unusable_entry_is_ignored_and_rewritten(cache: Path, tmp_path: Path, spoil: str) -> None:
    src = tmp_path / "t.txt"
    src.write_text(SMALL, encoding="utf-8")
    load_taxonomy(src)
    [entry] = _entries(cache)
    digest = json.loads(entry.read_text(encoding="utf-8"))["digest"]
    entry.write_text(spoil.replace("@", digest), encoding="utf-8")
    got = load_taxonomy(src)
    assert dict(got.paths) == {1: ("Home",), 2: ("Home", "Kitchen"), 3: ("Home", "Kitchen", "Coffee Makers")}
    assert got.resolve("home > kitchen") == 2
    assert json.loads(entry.read_text(encoding="utf-8"))["digest"] == digest


def test_an_edited_file_is_a_new_entry(cache: Path, tmp_path: Path) -> None:
    src = tmp_path / "t.txt"
    src.write_text(SMALL, encoding="utf-8")
    assert load_taxonomy(src).resolve(4) is None
    src.write_text(SMALL + "4 - Garden\n", encoding="utf-8")
    assert load_taxonomy(src).resolve("Garden") == 4
    assert len(_entries(cache)) == 2


def test_a_file_that_does_not_parse_raises_and_is_not_cached(cache: Path, tmp_path: Path) -> None:
    src = tmp_path / "t.txt"
    src.write_text("1 - Home\n1 - Again\n", encoding="utf-8")
    for _ in range(2):
        with pytest.raises(TaxonomyFormatError, match="line 2: duplicate id `1`"):
            load_taxonomy(src)
    assert _entries(cache) == []


def test_an_empty_setting_turns_the_cache_off(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CACHE_ENV, "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() is None
    src = tmp_path / "t.txt"
    src.write_text(SMALL, encoding="utf-8")
    assert load_taxonomy(src).resolve(3) == 3
    assert not (tmp_path / "xdg").exists()


def test_the_default_is_under_xdg_cache_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "txguard"


def test_a_cache_that_cannot_be_written_costs_nothing_but_time(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv(CACHE_ENV, str(blocker / "cache"))  # below a file: mkdir fails
    src = tmp_path / "t.txt"
    src.write_text(SMALL, encoding="utf-8")
    assert load_taxonomy(src).resolve("Home > Kitchen > Coffee Makers") == 3


def test_an_unreadable_file_raises_oserror(cache: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_taxonomy(tmp_path / "missing.txt")
