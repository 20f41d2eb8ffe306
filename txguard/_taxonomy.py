"""Product categories: the Google Product Taxonomy file format, synonyms, and matching.

The taxonomy file has one category per line, ``id - Top > Middle > Leaf``, and ``#`` comments.
A policy may name such a file, map its catalog's product types to taxonomy ids, and list
synonyms (``coffee machine`` -> ``Coffee Maker``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

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
