"""The ``categories`` section: the taxonomy file a policy names, its product types and synonyms."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..core.diskcache import note_read
from ..core.taxonomy import Categories, Taxonomy, TaxonomyFormatError, normalise, taxonomy_from_bytes
from .ir import PathKey

Error = Callable[[PathKey, str, str], None]
"""``error(document path, diagnostic code, message)``: a located compile problem."""


MAX_TAXONOMY_BYTES = 16 << 20
"""The largest taxonomy file a policy may name (the shipped Google Product Taxonomy is under 0.5 MiB)."""


class _NotATaxonomy(Exception):
    """The file ``categories.taxonomy`` names is not one a policy may read: nothing of it is shown."""


def _taxonomy_bytes(base_dir: Path, name: str) -> bytes:
    """The bytes of the taxonomy file ``name`` (relative to the policy's folder).

    A policy names only a ``.txt`` file that is not hidden, is a regular file (never a device, a
    FIFO or a directory, which could block or never end) and holds at most
    :data:`MAX_TAXONOMY_BYTES`. A policy's diagnostics reach whoever loads or reloads it (the
    decision service answers them over HTTP), so nothing of a file is ever quoted (see
    :class:`TaxonomyFormatError`).

    Raises:
        _NotATaxonomy: the name or the file is not one a policy may read.
        OSError: the file cannot be read.
    """
    written = Path(name)
    if written.suffix != ".txt" or any(part.startswith(".") and part not in (".", "..") for part in written.parts):
        raise _NotATaxonomy("is not a taxonomy file: a taxonomy is a `.txt` file, not hidden")
    path = (base_dir / written).resolve()  # symbolic links followed: where the file really is
    if path.suffix != ".txt":
        raise _NotATaxonomy("is not a taxonomy file: it links to a file that is not `.txt`")
    # O_NONBLOCK: opening a FIFO must not wait for a writer (a regular file ignores the flag).
    with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise _NotATaxonomy("is not a regular file")
        data = fh.read(MAX_TAXONOMY_BYTES + 1)
    if len(data) > MAX_TAXONOMY_BYTES:
        raise _NotATaxonomy(f"is larger than {MAX_TAXONOMY_BYTES} bytes")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise _NotATaxonomy("is not UTF-8 text") from None
    note_read(base_dir / written, data)
    return data


def compile_categories(spec: Mapping[str, Any], base_dir: Path, error: Error) -> Categories:
    """The policy's ``categories``: its taxonomy file (relative to ``base_dir``), product types, synonyms."""
    taxonomy = Taxonomy()
    if "taxonomy" in spec:
        name = spec["taxonomy"]
        try:
            taxonomy = taxonomy_from_bytes(_taxonomy_bytes(base_dir, name))
        except _NotATaxonomy as exc:
            error(("categories", "taxonomy"), "txg-param", f"`{name}` {exc}")
        except OSError as exc:
            error(("categories", "taxonomy"), "txg-io", f"cannot read taxonomy `{name}`: {exc.strerror}")
        except TaxonomyFormatError as exc:
            error(("categories", "taxonomy"), "txg-param", f"taxonomy `{name}` {exc}")
    types: dict[str, int] = {}
    for name, ref in spec.get("product_types", {}).items():
        node = taxonomy.resolve(ref)
        if node is None:
            error(("categories", "product_types", name), "txg-param",
                    f"`{ref}` is not an id or path of the taxonomy" if taxonomy.paths else "product_types need a `taxonomy` file")
            continue
        types[normalise(name)] = node
    synonyms: dict[str, str] = {}
    for canonical, words in spec.get("synonyms", {}).items():
        for w in words:
            synonyms[normalise(w)] = normalise(canonical)
    return Categories(taxonomy, types, synonyms)
