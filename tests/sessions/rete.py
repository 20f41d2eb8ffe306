"""Import guard for the tests that need durable-rules (the ``rete`` extra).

The extra is expected on Python < 3.13 (CI installs it through the ``test`` extra): there a missing
durable-rules FAILS the tests. On 3.13 and later durable-rules 2.0.28 does not build (its C code
calls ``PyEval_CallObject``, removed in 3.13), so those tests are skipped there, saying why.
"""

from __future__ import annotations

import sys

import pytest


def require_durable_rules() -> None:
    try:
        import durable_rules_engine  # noqa: F401
    except ImportError as exc:
        if sys.version_info >= (3, 13):
            pytest.skip("durable-rules 2.0.28 does not build on Python >= 3.13 (PyEval_CallObject was removed)")
        pytest.fail(f"durable-rules is expected on Python {sys.version_info[0]}.{sys.version_info[1]} "
                    f"(pip install -e '.[test]' installs the `rete` extra): {exc}")
