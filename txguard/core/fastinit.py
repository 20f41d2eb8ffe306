"""A faster ``__init__`` for the frozen, slotted dataclasses built on every decision.

A frozen dataclass's generated ``__init__`` stores each field through the base ``object``'s
attribute setter (its own ``__setattr__`` refuses): about twice the cost of calling the slot's
descriptor directly. Only the generated ``__init__`` stores: an instance is never changed after it
is built.
:func:`fast_init` replaces that ``__init__`` with one of the same signature (names, order,
defaults, ``default_factory``, keyword-only fields) that stores each field through its slot
descriptor. The instances are the same: equality, hashing, ``repr``, ``replace``, pickling and
frozenness are the dataclass's own (``tests/test_fastinit.py``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

_C = TypeVar("_C", bound=type)


def fast_init(cls: _C) -> _C:
    """``cls`` (a frozen dataclass with ``slots=True``) with the faster ``__init__``; a class this
    does not apply to (no slots, ``__post_init__``, a field not in ``__init__``) is returned as is."""
    fields = dataclasses.fields(cls)
    if "__slots__" not in cls.__dict__ or hasattr(cls, "__post_init__") or any(not f.init for f in fields):
        return cls
    params: list[str] = []
    kw_only: list[str] = []
    env: dict[str, Any] = {"__new_object": object.__new__}
    body = []
    for f in fields:
        env[f"__set_{f.name}"] = cls.__dict__[f.name].__set__
        if f.default is not dataclasses.MISSING:
            env[f"__default_{f.name}"] = f.default
            param = f"{f.name}=__default_{f.name}"
            value = f.name
        elif f.default_factory is not dataclasses.MISSING:
            env[f"__factory_{f.name}"] = f.default_factory
            env["__nothing"] = _NOTHING
            param = f"{f.name}=__nothing"
            value = f"__factory_{f.name}() if {f.name} is __nothing else {f.name}"
        else:
            param = f.name
            value = f.name
        (kw_only if f.kw_only else params).append(param)
        body.append(f"    __set_{f.name}(self, {value})")
    signature = ", ".join(["self", *params, *(["*", *kw_only] if kw_only else [])])
    source = f"def __init__({signature}) -> None:\n" + "\n".join(body or ["    pass"]) + "\n"
    exec(compile(source, f"<fast_init {cls.__qualname__}>", "exec"), env)  # noqa: S102 - generated from field names
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    setattr(cls, "__init__", init)  # noqa: B010 - replaces the dataclass's generated __init__
    return cls


class _Nothing:
    def __repr__(self) -> str:
        return "<factory default>"


_NOTHING = _Nothing()
