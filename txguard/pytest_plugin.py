"""A pytest plugin that collects policy test suites (``*.tests.yaml``) as test items.

Installed with txguard through the ``pytest11`` entry point ``txguard.pytest_plugin``, so
``pytest policies/`` runs every case of every suite with pytest's usual reporting; each case is
one item named after its id (or ``case[i]``) and its note. Without the installed entry point, enable
it with ``pytest -p txguard.pytest_plugin`` (the entry point has the module's name, so both at
once register it only once). ``-p no:txguard.pytest_plugin`` disables it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .policy.compile import CompiledPolicy
from .core.errors import PolicyError
from .authoring.suite import SUITE_SUFFIX, Case, SuiteError, describe_failure
from .authoring.suite_load import load_suite
from .authoring.suite_run import PolicyCache, guard_for, run_case

_CACHE_KEY = pytest.StashKey[PolicyCache]()


class SuiteCaseFailed(Exception):
    """A suite case decided otherwise than it wants (the message is the readable diff)."""


class SuiteLoadFailed(Exception):
    """A suite or the policy it tests has errors (the message lists them, located)."""


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.name.endswith(SUITE_SUFFIX):
        return SuiteFile.from_parent(parent, path=file_path)
    return None


def _policies(config: pytest.Config) -> PolicyCache:
    cache = config.stash.get(_CACHE_KEY, None)
    if cache is None:
        cache = config.stash[_CACHE_KEY] = PolicyCache()
    return cache


class SuiteFile(pytest.File):
    """One ``*.tests.yaml`` file: its cases are the items."""

    def collect(self) -> Iterator[pytest.Item]:
        try:
            suite = load_suite(self.path)
        except SuiteError as exc:
            raise SuiteLoadFailed(str(exc)) from None
        for case in suite.cases:
            yield SuiteItem.from_parent(self, name=f"{case.name}: {case.note}", case=case,
                                        policy_path=suite.policy_path, clock=suite.clock)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, SuiteLoadFailed):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))


class SuiteItem(pytest.Item):
    """One suite case, decided by the suite's policy on the suite's clock."""

    def __init__(self, *, case: Case, policy_path: Path, clock: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.policy_path = policy_path
        self.clock = clock

    def _policy(self) -> CompiledPolicy:
        try:
            return _policies(self.config).get(self.policy_path)
        except PolicyError as exc:
            raise SuiteLoadFailed(f"the policy under test is invalid:\n{exc}") from None

    def runtest(self) -> None:
        result = run_case(guard_for(self._policy(), self.clock), self.case)
        if not result.passed:
            raise SuiteCaseFailed(describe_failure(result))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, (SuiteCaseFailed, SuiteLoadFailed)):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.case.line - 1, f"{self.case.suite} {self.case.name}: {self.case.note}"
