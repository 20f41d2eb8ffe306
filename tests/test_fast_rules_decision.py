"""The objects the consent check and the confirmation request build on every decision use the faster
``__init__`` (``core/fastinit.py``) and stay the same dataclasses: same fields, defaults, frozenness,
equality and ``replace`` (the checks of ``tests/test_fastinit.py``), and a confirmation request built
by the guard is equal, field by field, to one built through ``dataclasses`` ``replace``."""

from __future__ import annotations

import dataclasses

import pytest

from txguard import Guard
from txguard.consent.binding import Binding
from txguard.core.decision import ConfirmationLine, ConfirmationRequest

from .helpers import RETAIL, checkout_args, envelope, line
from .test_fastinit import test_every_decision_object_uses_it_and_keeps_its_fields as keeps_its_fields


@pytest.mark.parametrize("cls", [ConfirmationLine, ConfirmationRequest, Binding])
def test_the_consent_and_confirmation_objects_use_it(cls: type) -> None:
    keeps_its_fields(cls)


def test_a_confirmation_request_is_the_same_dataclass() -> None:
    d = Guard.from_file(RETAIL).check_envelope(envelope(checkout_args(line(quantity=2)), confirm=False))
    conf = d.confirmation
    assert conf is not None and conf.lines
    assert dataclasses.replace(conf) == conf and hash(conf.lines[0]) == hash(dataclasses.replace(conf.lines[0]))
    assert conf.to_dict()["lines"][0] == {"sku": "S-COF-1", "title": "Coffee Maker", "quantity": 2,
                                          "unit_price": "120.00"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        conf.total = "0"  # type: ignore[misc]
