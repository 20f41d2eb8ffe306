"""``fast_init`` builds the same instances as the dataclass's own ``__init__``.

For each class it is applied to (and a test class with defaults, a factory and keyword-only
fields): random arguments, given by position or by keyword, give an instance equal field for field
to the one the generated dataclass ``__init__`` builds (kept on an undecorated twin), defaults and
fresh factory values included; a missing, extra or unknown argument is the same ``TypeError``; the
instance stays frozen; ``replace`` and pickling work.
"""

from __future__ import annotations

import dataclasses
import pickle
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from txguard.core.decision import Decision, Reason
from txguard.core.fastinit import fast_init
from txguard.engine.case import Case, Mapped
from txguard.engine.state import State


@dataclass(frozen=True, slots=True)
class Plain:
    a: Any
    b: Any = 1
    c: list[Any] = field(default_factory=list)
    d: Any = field(default=None, compare=False)
    e: Any = field(default="k", kw_only=True)


Fast = fast_init(dataclass(frozen=True, slots=True)(type("Fast", (), {
    "__annotations__": dict(Plain.__annotations__), "__module__": __name__,
    "b": 1, "c": field(default_factory=list), "d": field(default=None, compare=False), "e": field(default="k", kw_only=True),
})))


def made(cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, Any]:
    try:
        obj = cls(*args, **kwargs)
    except TypeError as exc:
        return "raised", str(exc).replace(cls.__qualname__, "X").replace("Fast", "X").replace("Plain", "X")
    return "made", tuple(getattr(obj, f.name) for f in dataclasses.fields(obj))


values = st.one_of(st.none(), st.integers(), st.text(max_size=3), st.lists(st.integers(), max_size=2))


@settings(max_examples=300, deadline=None)
@given(st.lists(values, max_size=5), st.dictionaries(st.sampled_from(["a", "b", "c", "d", "e", "z"]), values, max_size=3))
def test_the_fast_init_builds_what_the_dataclass_init_builds(args: list[Any], kwargs: dict[str, Any]) -> None:
    assert made(Fast, tuple(args), kwargs) == made(Plain, tuple(args), kwargs)


def test_factory_defaults_are_fresh_and_instances_stay_frozen() -> None:
    x, y = Fast(1), Fast(2)
    assert x.c == [] and x.c is not y.c
    with pytest.raises(dataclasses.FrozenInstanceError):
        x.a = 3  # type: ignore[misc]
    assert dataclasses.replace(x, b=5) == Fast(1, 5)
    assert pickle.loads(pickle.dumps(x)) == x


@pytest.mark.parametrize("cls", [Reason, Decision, State, Case, Mapped])
def test_every_decision_object_uses_it_and_keeps_its_fields(cls: type) -> None:
    """The hot-path classes: the faster __init__, the same signature, frozen and equal as before."""
    init = cls.__init__
    assert init.__code__.co_filename.startswith("<fast_init")
    names = [f.name for f in dataclasses.fields(cls)]
    assert list(init.__code__.co_varnames[1:init.__code__.co_argcount + init.__code__.co_kwonlyargcount]) == names
    required = [f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    obj = cls(*[object() for _ in required])
    assert [getattr(obj, n) for n in required] != []
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            assert getattr(obj, f.name) is f.default or getattr(obj, f.name) == f.default
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(obj, names[0], None)
    again = dataclasses.replace(obj)
    assert [getattr(again, n) for n in names] == [getattr(obj, n) for n in names]
