"""``core.paths.is_mapping`` (the per-type ``Mapping`` test every path getter uses) answers exactly as
``isinstance(value, Mapping)``: for plain and odd values, after an ABC registers a class mid-run,
and for an object whose ``__class__`` is not its type."""

from __future__ import annotations

from collections import OrderedDict, UserDict
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from txguard.core.intents import Checkout
from txguard.core.paths import compile_path, is_mapping, parse_path

from .helpers import Box, checkout_args, line


class Liar:
    """Says it is a ``Box``: ``isinstance`` believes ``__class__``."""

    total = "attr"

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return Box


class Honest:
    """Says it is a ``Box`` at first, then that it is itself: asked every time, never cached."""

    lie = True

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        return Box if Honest.lie else Honest


class Later:
    def get(self, key: str, default: Any = None) -> Any:
        return "mapped" if key == "total" else default

    total = "attr"


class SubDict(dict[str, Any]):
    pass


INTENT = Checkout.model_validate(checkout_args(line(quantity=2)))
ODD = [None, 1, "x", b"x", [], (), {}, SubDict(), OrderedDict(), UserDict(), MappingProxyType({}), Box({}), INTENT,
       INTENT.items[0], Liar(), object(), 1.5, frozenset()]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(ODD), min_size=1, max_size=12))
def test_is_mapping_is_isinstance_mapping_in_any_order(values: list[Any]) -> None:
    for value in values:
        assert is_mapping(value) is isinstance(value, Mapping)
        assert is_mapping(value) is isinstance(value, Mapping)  # the kept answer, asked again


def test_a_class_registered_as_a_mapping_is_one_from_then_on() -> None:
    later = Later()
    get = compile_path(parse_path("facts.total"))
    assert not is_mapping(later) and get({"facts": later}) == "attr"  # kept as "not a mapping"
    Mapping.register(Later)
    assert is_mapping(later) and get({"facts": later}) == "mapped"


def test_an_object_whose_class_is_not_its_type_is_asked_every_time() -> None:
    honest = Honest()
    assert is_mapping(honest) is isinstance(honest, Mapping) is True
    Honest.lie = False
    try:
        assert is_mapping(honest) is isinstance(honest, Mapping) is False
    finally:
        Honest.lie = True
    with pytest.raises(AttributeError):  # read as the Box it claims to be, as `isinstance` says: no `get`
        compile_path(parse_path("facts.total"))({"facts": Liar()})
