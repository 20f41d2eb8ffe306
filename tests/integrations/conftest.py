"""Fixtures every framework integration's tests use."""

from __future__ import annotations

from typing import Any

import pytest

from txguard import Guard

from ..conftest import POLICIES
from ._support import consent_case


@pytest.fixture
def guard() -> Guard:
    """A guard per test: confirmations are single use, so each test starts with none used."""
    return Guard.from_file(POLICIES / "retail.yaml")


@pytest.fixture(scope="module")
def case() -> dict[str, Any]:
    """The consent case (a checkout waiting for the user's confirmation), decided by its own guard."""
    return consent_case(Guard.from_file(POLICIES / "retail.yaml"))
