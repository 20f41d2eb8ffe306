"""The public front: a sorted ``__all__`` of public names, each importable and documented."""

from __future__ import annotations

import importlib
import inspect
import pickle
import pkgutil
import re
import subprocess
import sys
import types
import typing
from pathlib import Path

import pytest

import txguard
import txguard.audit
import txguard.integrations
import txguard.sessions


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


PUBLIC_SUBMODULES = {"adapters", "audit", "cli", "integrations", "metrics", "otel", "pytest_plugin", "serve", "sessions"}
"""Submodules that are public on purpose; every other module is private (``_name``)."""

INTERNAL_PACKAGES = {"authoring", "checks", "consent", "core", "domain", "engine", "policy"}
"""The parts of the pipeline (docs/architecture.md): importable, but internal, and they say so."""


def test_private_modules_are_private() -> None:
    for info in pkgutil.iter_modules(txguard.__path__):
        module = importlib.import_module(f"txguard.{info.name}")
        if info.name in INTERNAL_PACKAGES:
            assert info.ispkg and "Internal" in (module.__doc__ or ""), info.name
        elif info.name not in PUBLIC_SUBMODULES:
            assert info.name.startswith("_"), info.name


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


# -- the documented API (docs/api.md) ---------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
PUBLIC_MODULES = ("txguard", "txguard.audit", "txguard.sessions", "txguard.integrations")


def _documented() -> dict[str, set[str]]:
    """``docs/api.md``: ``## `module``` headings, then one ``- `name`: ...`` line per public name."""
    names: dict[str, set[str]] = {}
    module = None
    for line in (ROOT / "docs" / "api.md").read_text(encoding="utf-8").splitlines():
        heading = re.fullmatch(r"## `([\w.]+)`", line)
        if heading:
            module = heading.group(1)
            names[module] = set()
        entry = re.match(r"- `(\w+)`: \S", line)
        if entry and module is not None:
            assert entry.group(1) not in names[module], f"{module}.{entry.group(1)} is listed twice"
            names[module].add(entry.group(1))
    return names


def test_the_api_page_documents_exactly_the_public_modules() -> None:
    assert set(_documented()) == set(PUBLIC_MODULES)


@pytest.mark.parametrize("name", PUBLIC_MODULES)
def test_the_public_names_are_exactly_the_documented_ones(name: str) -> None:
    exported = set(importlib.import_module(name).__all__)
    documented = _documented()[name]
    assert sorted(exported - documented) == [], "exported but not in docs/api.md"
    assert sorted(documented - exported) == [], "in docs/api.md but not exported"


@pytest.mark.parametrize("name", PUBLIC_MODULES[1:])
def test_a_public_submodule_holds_no_public_name_it_does_not_export(name: str) -> None:
    module = importlib.import_module(name)
    assert list(module.__all__) == sorted(module.__all__, key=_isort_key)
    held = {n for n, v in vars(module).items() if not n.startswith("_") and not isinstance(v, types.ModuleType)}
    assert sorted(held - set(module.__all__)) == []


def test_the_session_runner_and_store_transactions_are_not_public() -> None:
    for gone in ("SessionRunner", "Transaction", "Charge"):
        assert not hasattr(txguard.sessions, gone), gone
    for gone in ("record_hash", "GENESIS"):
        assert not hasattr(txguard.audit, gone), gone


def _public_objects() -> list[tuple[str, str, object]]:
    out = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            out.append((module_name, name, getattr(module, name)))
    return out


def test_every_public_class_and_function_reports_its_public_module() -> None:
    wrong = [f"{m}.{n}: {v.__module__}" for m, n, v in _public_objects()
             if (inspect.isclass(v) or inspect.isfunction(v)) and v.__module__ != m]
    assert wrong == []
    assert repr(txguard.Decision) == "<class 'txguard.Decision'>"
    assert repr(txguard.audit.MemorySink) == "<class 'txguard.audit.MemorySink'>"


def test_publishing_keeps_annotations_resolvable() -> None:
    """``typing.get_type_hints`` and pydantic look names up in ``sys.modules[cls.__module__]``,
    which is now ``txguard``: the string annotations were resolved before the module was rewritten."""
    from pydantic import TypeAdapter

    unresolved = []
    for module, name, value in _public_objects():
        if inspect.isclass(value):
            try:
                typing.get_type_hints(value)
            except NameError as exc:
                unresolved.append(f"{module}.{name}: {exc}")
    assert unresolved == []
    hints = typing.get_type_hints(txguard.Decision)
    assert hints["outcome"] is txguard.Outcome
    assert txguard.ReadOnly in typing.get_args(hints["intent"])
    schema = TypeAdapter(txguard.Decision).json_schema()
    assert {"outcome", "reasons", "policy"} <= set(schema["required"])


_CHECKOUT = {"items": [{"sku": "s", "product_id": "p", "title": "t", "quantity": 1, "unit_price": "9.00"}],
             "total": "9.00", "currency": "USD", "payment_method_id": "pm", "confidence": 0.99}


def test_decisions_pickle_by_their_public_path() -> None:
    decision = txguard.Guard.from_file(ROOT / "policies" / "retail.yaml").check({"name": "checkout", "arguments": _CHECKOUT})
    assert isinstance(decision.intent, txguard.Checkout)
    for value in (decision, decision.intent, txguard.Outcome.CLARIFY, decision.policy, decision.reasons):
        data = pickle.dumps(value)
        assert b"txguard.core" not in data and b"txguard.engine" not in data
        again = pickle.loads(data)
        assert type(again) is type(value)
    assert pickle.loads(pickle.dumps(decision)) == decision


_PICKLE = """
import pickle, sys
import txguard
guard = txguard.Guard.from_file(sys.argv[1])   # the host touches only `txguard.Guard`
intent = {"items": [{"sku": "s", "product_id": "p", "title": "t", "quantity": 1, "unit_price": "9.00"}],
          "total": "9.00", "currency": "USD", "payment_method_id": "pm", "confidence": 0.99}
decision = guard.check({"name": "checkout", "arguments": intent})
sys.stdout.buffer.write(pickle.dumps(decision))
"""

_UNPICKLE = """
import pickle, sys
decision = pickle.loads(sys.stdin.buffer.read())
print(type(decision).__module__, type(decision.intent).__module__, decision.outcome.value, decision.intent.kind)
"""


def test_a_decision_pickled_in_one_process_loads_in_another() -> None:
    """The classes report ``txguard`` even when only ``Guard`` was touched, and a fresh process
    finds them there through the lazy ``__getattr__``."""
    made = subprocess.run([sys.executable, "-c", _PICKLE, str(ROOT / "policies" / "retail.yaml")],
                          capture_output=True, check=True, cwd=ROOT)
    assert b"txguard.core" not in made.stdout
    assert b"Decision" in made.stdout and b"Checkout" in made.stdout
    read = subprocess.run([sys.executable, "-c", _UNPICKLE], input=made.stdout, capture_output=True,
                          check=True, cwd=ROOT)
    module, intent_module, outcome, kind = read.stdout.decode().split()
    assert (module, intent_module, kind) == ("txguard", "txguard", "checkout")
    assert outcome in {"allow", "clarify", "escalate"}
