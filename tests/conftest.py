from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
CORPUS = Path(__file__).resolve().parent / "corpus"


def read_cases(name: str) -> list[dict[str, Any]]:
    with gzip.open(CORPUS / name, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The on-disk cache of every test (and of the processes they start) is a folder of this session,
    never the user's: a test run neither reads entries another run left nor leaves any."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TXGUARD_CACHE_DIR", str(tmp_path_factory.mktemp("txguard-cache")))
        yield


@pytest.fixture(scope="session")
def retail_policy() -> Any:
    from txguard import compile_file

    return compile_file(POLICIES / "retail.yaml")


@pytest.fixture
def retail_guard(retail_policy: Any) -> Any:
    """A guard per test: its single-use ledger of confirmations is not shared between tests."""
    from txguard import Guard

    return Guard(retail_policy)
