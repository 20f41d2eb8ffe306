from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from txguard.sessions import open_store

from .helpers import pg_drop_created, pg_reset, pg_url


@pytest.fixture(scope="session", autouse=True)
def _drop_test_database() -> Iterator[None]:
    """Drop this run's PostgreSQL test database (if a test created it) when the run ends."""
    yield
    pg_drop_created()


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: Any, tmp_path: Path) -> Iterator[Any]:
    """Each conversation store, fresh."""
    if request.param == "memory":
        s = open_store("memory:")
    elif request.param == "sqlite":
        s = open_store(f"sqlite:{tmp_path / 'sessions.db'}")
    else:
        url = pg_url()
        pg_reset()
        s = open_store(url)
    yield s
    s.close()
