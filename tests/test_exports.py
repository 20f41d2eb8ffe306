"""The public front: a sorted ``__all__`` of public names, each importable and documented."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import txguard


def _isort_key(name: str) -> tuple[int, str]:
    """ruff RUF022 "isort-style" order: CONSTANTS, then Classes, then everything else."""
    if name.isupper():
        return 0, name
    return (1, name) if name[0].isupper() else (2, name)


def test_all_is_sorted_and_unique() -> None:
    assert list(txguard.__all__) == sorted(txguard.__all__, key=_isort_key)
    assert len(set(txguard.__all__)) == len(txguard.__all__)


def test_no_private_name_leaks() -> None:
    leaked = [n for n in txguard.__all__ if n.startswith("_") and n != "__version__"]
    assert leaked == []
    for name in txguard.__all__:
        obj = getattr(txguard, name)
        module = getattr(obj, "__module__", None)
        if module is not None and inspect.isclass(obj):
            # Re-exported from a private module, but the object itself is public (no leading underscore).
            assert not obj.__name__.startswith("_"), name


def test_every_public_name_is_importable() -> None:
    for name in txguard.__all__:
        exec(f"from txguard import {name}", {})  # noqa: S102 - the point is the import statement


def test_every_public_non_underscore_attribute_is_exported() -> None:
    modules = {m.name for m in pkgutil.iter_modules(txguard.__path__)}
    # `@py_builtins` and friends: pytest rewrites the asserts of every module of a distribution
    # that registers a pytest11 plugin (txguard does); they are not identifiers, not API.
    public = {n for n in vars(txguard) if not n.startswith("_") and n.isidentifier() and n not in modules}
    assert public - set(txguard.__all__) == set()


def test_public_classes_and_functions_have_docstrings() -> None:
    missing = []
    for name in txguard.__all__:
        obj = getattr(txguard, name)
        doc = inspect.getdoc(obj) or ""
        # A dataclass without a docstring gets its signature as __doc__: that is not documentation.
        if (inspect.isclass(obj) or inspect.isfunction(obj)) and (not doc or doc.startswith(f"{name}(")):
            missing.append(name)
    assert missing == []


PUBLIC_SUBMODULES = {"adapters", "audit", "authoring", "cli", "integrations", "metrics", "otel", "pytest_plugin", "serve", "sessions"}
"""Submodules that are public on purpose; every other module is private (``_name``)."""


def test_private_modules_are_private() -> None:
    for info in pkgutil.iter_modules(txguard.__path__):
        if info.name not in PUBLIC_SUBMODULES:
            assert info.name.startswith("_"), info.name
        importlib.import_module(f"txguard.{info.name}")


def test_the_lazy_table_the_type_checking_imports_and_all_agree() -> None:
    """``txguard/__init__.py`` imports its public names on first use (PEP 562); its three lists of
    them (the imports mypy reads, the name -> module table, ``__all__``) must be one."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(txguard.__file__).read_text(encoding="utf-8"))
    [guarded] = [n for n in tree.body if isinstance(n, ast.If)]
    imported = {a.name: (n.module or "") for n in guarded.body if isinstance(n, ast.ImportFrom) for a in n.names}
    assert imported == txguard._LAZY
    assert set(txguard._LAZY) == set(txguard.__all__) - {"__version__"}
    for name, module in txguard._LAZY.items():
        assert getattr(importlib.import_module(f"txguard.{module}"), name) is getattr(txguard, name)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        txguard.nope  # noqa: B018 - the attribute access is the test
    assert set(txguard.__all__) <= set(dir(txguard))
