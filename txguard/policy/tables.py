"""A policy's ``tables:``: named lookup tables, nested one mapping per key level, looked up by
``{table: name, keys: [...]}`` in a ``when`` expression (:mod:`txguard.policy.exprs`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from .ir import PathKey, _num


def _table_key(value: Any) -> str | None:
    """A key's text in a table (YAML keys are text): a string, or an integer's digits."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return str(int(value))
    return None


def table_depth(table: Any) -> int | None:
    """The number of key levels of a table (None if its leaves are not all at one depth)."""
    if not isinstance(table, Mapping) or not table:
        return 0
    depths = {table_depth(v) for v in table.values()}
    if len(depths) != 1 or None in depths:
        return None
    (d,) = depths
    return None if d is None else d + 1


def table_values(table: Any) -> Any:
    """A table as data with its numbers exact (a YAML float through its repr)."""
    if isinstance(table, Mapping):
        return {str(k): table_values(v) for k, v in table.items()}
    return _num(table) if isinstance(table, float) else table


def table_problems(tables: Any) -> list[tuple[PathKey, str]]:
    """Problems of a policy's ``tables:``: ragged nesting, leaves that are not scalars."""
    out: list[tuple[PathKey, str]] = []
    if not isinstance(tables, Mapping):
        return out
    for name, table in tables.items():
        if not isinstance(table, Mapping) or not table:
            out.append((("tables", name), "a table is a non-empty mapping of keys to values or to tables"))
        elif table_depth(table) is None:
            out.append((("tables", name), "every entry of a table has the same number of key levels"))
        else:
            def leaves(v: Any, at: PathKey) -> None:
                if isinstance(v, Mapping):
                    for k, w in v.items():
                        leaves(w, at + (k,))
                elif isinstance(v, list) or v is None:
                    out.append((at, "a table's value is a number, a string or true/false"))
                elif isinstance(v, float) and not math.isfinite(v):
                    out.append((at, f"`{v}` is not a finite number"))
            leaves(table, ("tables", name))
    return out
