"""Where a declared record's amounts take their currency: each amount's own code or ``currency:``
field path, else the record's ``currency`` field, else the policy's ``currency``."""

from __future__ import annotations

from collections.abc import Callable

from ..core.money import CURRENCY_EXPONENTS
from ..policy.types import MoneyIn
from .declare import FieldType, Report, Where, leaf_steps, leaves, resolve

Money = list[tuple[tuple[str, ...], str, bool]]
"""Each amount's leaf path, its currency (a code, or a dotted field path) and whether it is a path."""


def is_code(cur: str) -> bool:
    return len(cur) == 3 and cur.isupper() and cur in CURRENCY_EXPONENTS


def amounts(tp: FieldType, what: str, currency: str, at: Where,
           report: Report) -> tuple[list[tuple[tuple[str, ...], str, bool]], bool]:
    """Each amount of record ``tp``: its leaf path, its currency (its own code or ``currency:`` field path,
    else the record's ``currency`` field, else the policy's ``currency``) and whether that is a path."""
    ok = True
    currency_field = "currency" if tp.fields.get("currency") is not None and tp.fields["currency"].kind == "currency" else None
    money: list[tuple[tuple[str, ...], str, bool]] = []
    for steps, leaf in leaves(tp):
        if leaf.kind != "money":
            continue
        inner = _record_of(tp, steps)
        if leaf.currency is None and inner is not tp and "currency" in inner.fields:
            # the record's own `currency` is not the amount's (that is the outer record's, else the policy's)
            report(at + tuple(s for s in steps if s not in ("[]", "{}")), "txg-type",
                   f"`{'.'.join(s for s in steps if s not in ('[]', '{}'))}` of {what} sits next to a `currency` "
                   f"field that is not its currency: give the amount its own (`{{money: {{currency: EUR}}}}`)")
            ok = False
        cur = leaf.currency or currency_field
        if cur is None and "currency" in tp.fields:
            # a `currency` field that is no currency: the amount would be read in the policy's, the call in that
            if ok:
                report(at + ("currency",), "txg-type", f"the `currency` field of {what} is {tp.fields['currency'].kind}, "
                                                      "not `currency`: declare it `currency`, or give each amount its "
                                                      "code (`{money: {currency: EUR}}`)")
            ok = False
        if cur is None:
            money.append((steps, currency, False))
        elif is_code(cur):
            money.append((steps, cur, False))
        else:
            target = resolve(tp, cur)
            if target is None or target.kind != "currency" or any(s in ("[]", "{}") for s in _containers(tp, cur)):
                report(at + tuple(s for s in steps if s not in ("[]", "{}")) + ("money", "currency"),
                       "txg-type", f"`{cur}` is not a `currency` field of {what} outside any list")
                ok = False
            money.append((steps, cur, True))
    return money, ok


def markers(money: list[tuple[tuple[str, ...], str, bool]], root: str) -> Callable[[tuple[str, ...]], MoneyIn | None]:
    """The currency marker of each amount's leaf path: what gives a ``when`` path its money type."""
    marks = {steps: MoneyIn(path=f"{root}.{cur}") if is_path else MoneyIn(code=cur) for steps, cur, is_path in money}
    return marks.get


def _containers(tp: FieldType, dotted: str) -> list[str]:
    """The container steps a dotted path crosses (``[]`` for each list, ``{}`` for each map)."""
    return [s for s in leaf_steps(tp, dotted) if s in ("[]", "{}")]


def _record_of(tp: FieldType, steps: tuple[str, ...]) -> FieldType:
    """The record that holds the leaf at ``steps`` (``tp`` itself for one of its own fields)."""
    cur = tp
    for s in steps[:-1]:
        nxt = cur.of if s in ("[]", "{}") else cur.fields.get(s)
        if nxt is None:
            return tp
        cur = nxt
    return cur
