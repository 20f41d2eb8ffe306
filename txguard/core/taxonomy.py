"""Product categories: the Google Product Taxonomy file format, synonyms, and matching.

The taxonomy file has one category per line, ``id - Top > Middle > Leaf``, and ``#`` comments.
A policy may name such a file, map its catalog's product types to taxonomy ids, and list
synonyms (``coffee machine`` -> ``Coffee Maker``).
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from .diskcache import CACHE_ENV, cache_dir, read_entry, write_entry

__all__ = ["CACHE_ENV", "Categories", "Taxonomy", "TaxonomyFormatError", "cache_dir", "load_taxonomy", "normalise",
           "taxonomy_from_bytes"]

_LINE = re.compile(r"^\s*([0-9]+)\s+-\s+(.+?)\s*$")


def normalise(name: str) -> str:
    """Case- and whitespace-insensitive form of a category name."""
    return " ".join(name.casefold().replace("-", " ").split())


_normalise_seen = lru_cache(maxsize=4096)(normalise)
"""``normalise`` for the names decisions compare (product and requested types): few, repeated."""


class TaxonomyFormatError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        self.line = line
        super().__init__(f"line {line}: {message}")


@dataclass(frozen=True)
class Taxonomy:
    """Category ids and their paths (``("Home & Garden", "Kitchen & Dining", ...)``)."""

    paths: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    by_path: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, lines: Iterable[str]) -> Taxonomy:
        """Parse the ``id - A > B > C`` format; raises :class:`TaxonomyFormatError` with the line."""
        paths: dict[int, tuple[str, ...]] = {}
        by_path: dict[str, int] = {}
        for n, raw in enumerate(lines, 1):
            if not raw.strip() or raw.lstrip().startswith("#"):
                continue
            m = _LINE.match(raw)
            if m is None:
                # The line itself is never quoted: a policy can name any text file, and its
                # diagnostics reach whoever loads or reloads the policy.
                raise TaxonomyFormatError(n, "expected `id - Category > Subcategory`")
            ident = int(m.group(1))
            parts = tuple(p.strip() for p in m.group(2).split(">"))
            if ident in paths:
                raise TaxonomyFormatError(n, f"duplicate id `{ident}`")
            paths[ident] = parts
            by_path[normalise(" > ".join(parts))] = ident
        return cls(paths, by_path)

    def resolve(self, ref: str | int) -> int | None:
        """A taxonomy id from an id, a numeric string, or a full path."""
        if isinstance(ref, int):
            return ref if ref in self.paths else None
        text = ref.strip()
        if text.isdigit():
            return int(text) if int(text) in self.paths else None
        return self.by_path.get(normalise(text))

    def is_within(self, node: int, ancestor: int) -> bool:
        """True when ``node`` is ``ancestor`` or one of its descendants."""
        a, n = self.paths.get(ancestor), self.paths.get(node)
        return a is not None and n is not None and n[: len(a)] == a


_CACHE_FORMAT = 1
"""Part of every cache key: bump it when :meth:`Taxonomy.parse` or :func:`normalise` changes."""


def load_taxonomy(path: str | Path) -> Taxonomy:
    """The parsed taxonomy file at ``path``, from the on-disk cache when it holds this content.

    The cache entry is named after the SHA-256 of the file's bytes (and the cache format), so an
    edited file never meets a stale entry and processes may share the directory; an entry is
    JSON (loading it runs no code), written to a temporary file and renamed into place, and one
    that does not read back as a taxonomy of that digest is ignored and rewritten. Parsing errors
    are those of :meth:`Taxonomy.parse`; the cache never hides them (a file that does not parse
    is not cached). Raises ``OSError`` when the file cannot be read; cache failures are silent.
    """
    return taxonomy_from_bytes(Path(path).read_bytes())


def taxonomy_from_bytes(data: bytes) -> Taxonomy:
    """The taxonomy these bytes of a taxonomy file hold, from the on-disk cache when it holds them
    (see :func:`load_taxonomy`)."""
    digest = hashlib.sha256(data).hexdigest()
    directory = cache_dir()
    entry = directory / f"taxonomy-v{_CACHE_FORMAT}-{digest}.json" if directory is not None else None
    if entry is not None:
        cached = _read_entry(entry, digest)
        if cached is not None:
            return cached
    # Read as `open(path, encoding="utf-8")` would: universal newlines, the same decode errors.
    taxonomy = Taxonomy.parse(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
    if entry is not None:
        _write_entry(entry, digest, taxonomy)
    return taxonomy


def _read_entry(entry: Path, digest: str) -> Taxonomy | None:
    doc = read_entry(entry)
    try:
        if doc["format"] != _CACHE_FORMAT or doc["digest"] != digest:
            return None
        paths: dict[int, tuple[str, ...]] = {}
        for row in doc["paths"]:
            ident, parts = row[0], tuple(row[1:])
            if type(ident) is not int or not parts or not all(type(p) is str for p in parts):
                return None
            paths[ident] = parts
        by_path = doc["by_path"]
        if not isinstance(by_path, dict) or not all(type(v) is int and v in paths for v in by_path.values()):
            return None
    except (KeyError, TypeError, IndexError):
        return None
    return Taxonomy(paths, by_path)


def _write_entry(entry: Path, digest: str, taxonomy: Taxonomy) -> None:
    doc: dict[str, Any] = {
        "format": _CACHE_FORMAT,
        "digest": digest,
        "paths": [[ident, *parts] for ident, parts in taxonomy.paths.items()],
        "by_path": dict(taxonomy.by_path),
    }
    write_entry(entry, doc)


@dataclass(frozen=True)
class Categories:
    """What a policy knows about categories: synonyms, product-type ids, and the taxonomy."""

    taxonomy: Taxonomy = field(default_factory=Taxonomy)
    product_types: Mapping[str, int] = field(default_factory=dict)  # normalised name -> id
    synonyms: Mapping[str, str] = field(default_factory=dict)  # normalised synonym -> normalised canonical

    def canonical(self, name: str) -> str:
        n = _normalise_seen(name)
        return self.synonyms.get(n, n)

    def node(self, ref: str | int) -> int | None:
        """The taxonomy id of a product type name, synonym, taxonomy id or path."""
        if isinstance(ref, str):
            ident = self.product_types.get(self.canonical(ref))
            if ident is not None:
                return ident
        return self.taxonomy.resolve(ref)
