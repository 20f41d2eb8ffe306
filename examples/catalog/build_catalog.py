"""Build the demo catalog and refresh the copies shipped inside the package.

    python examples/catalog/build_catalog.py --db path/to/tau2-bench/data/tau2/domains/retail/db.json
    python examples/catalog/build_catalog.py          # only refresh txguard/data/ from the repo

1. With ``--db``: writes ``examples/catalog/catalog.json`` from tau2-bench's retail database: every
   product (verbatim) and the users listed in ``USERS`` (verbatim), in the wire-format v1 facts
   layout (``{"products": {...}, "users": {...}}``).
2. Always: copies the files ``txguard demo`` needs into ``txguard/data/`` (package data, so the demo
   runs from a plain ``pip install .``): the catalog and its licence, ``policies/retail.yaml`` and the
   taxonomy it references. ``tests/test_demo.py`` fails when a copy differs from its source.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "examples" / "catalog"
DATA = ROOT / "txguard" / "data"

USERS = ("chen_smith_8425", "omar_silva_7446")
"""Two shoppers with a credit card, a PayPal account and a gift card each."""

COPIES = {
    CATALOG / "catalog.json": DATA / "catalog.json",
    CATALOG / "LICENSE-tau2-bench": DATA / "LICENSE-tau2-bench",
    ROOT / "policies" / "retail.yaml": DATA / "retail.yaml",
    ROOT / "policies" / "taxonomy" / "taxonomy-with-ids.en-US.txt": DATA / "taxonomy" / "taxonomy-with-ids.en-US.txt",
    ROOT / "policies" / "taxonomy" / "NOTICE.md": DATA / "taxonomy" / "NOTICE.md",
}
"""Source in the repository -> copy shipped in the package."""


def build(db_path: Path) -> None:
    db = json.loads(db_path.read_text(encoding="utf-8"))
    catalog = {"products": db["products"], "users": {uid: db["users"][uid] for uid in USERS}}
    text = json.dumps(catalog, indent=1, ensure_ascii=False) + "\n"
    (CATALOG / "catalog.json").write_text(text, encoding="utf-8")


def sync() -> None:
    for source, copy in COPIES.items():
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, copy)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, help="tau2-bench retail db.json")
    args = parser.parse_args()
    if args.db is not None:
        build(args.db)
    sync()


if __name__ == "__main__":
    main()
