"""The ``set`` and ``unset`` paths of a suite case: parse one, and apply it to an envelope.

``proposal.arguments.items[0].quantity`` names a place in the resolved wire-format envelope;
every problem is a :class:`ValueError` saying which step does not exist.
"""

from __future__ import annotations

import copy
from typing import Any

from ..core.paths import parse_steps, render_steps
from .suite import PARTS

def parse_set_path(text: str) -> list[str | int]:
    """``proposal.arguments.items[0].quantity`` -> ``["proposal", "arguments", "items", 0, "quantity"]``:
    the one data-path dialect (:func:`txguard.core.paths.parse_steps`), starting at a part of the
    envelope. Raises :class:`ValueError` with a description."""
    return list(parse_steps(text, PARTS))


def _walk(envelope: dict[str, Any], steps: list[str | int], text: str) -> tuple[Any, str | int]:
    """The container holding the last step, and that step; raises ValueError if a step is missing."""
    cur: Any = envelope
    for i, step in enumerate(steps[:-1]):
        where = render_steps(steps[: i + 1])
        if isinstance(step, int):
            if not isinstance(cur, list) or not -len(cur) <= step < len(cur):
                raise ValueError(f"`{text}`: `{where}` does not exist in the resolved input")
            cur = cur[step]
        else:
            if not isinstance(cur, dict) or step not in cur:
                raise ValueError(f"`{text}`: `{where}` does not exist in the resolved input")
            cur = cur[step]
    return cur, steps[-1]


def apply_set(envelope: dict[str, Any], text: str, value: Any) -> None:
    """Set one path; the last step may create a new mapping key. Raises ValueError."""
    steps = parse_set_path(text)
    if len(steps) == 1:
        envelope[str(steps[0])] = copy.deepcopy(value)
        return
    container, last = _walk(envelope, steps, text)
    if isinstance(last, int):
        if not isinstance(container, list) or not -len(container) <= last < len(container):
            raise ValueError(f"`{text}`: index {last} does not exist in the resolved input")
        container[last] = copy.deepcopy(value)
    elif isinstance(container, dict):
        container[last] = copy.deepcopy(value)
    else:
        raise ValueError(f"`{text}`: `{render_steps(steps[:-1])}` is not a mapping")


def apply_unset(envelope: dict[str, Any], text: str) -> None:
    """Remove one path (a mapping key or a list element). Raises ValueError if it does not exist."""
    steps = parse_set_path(text)
    if len(steps) == 1:
        if steps[0] not in envelope:
            raise ValueError(f"`{text}` does not exist in the resolved input")
        del envelope[str(steps[0])]
        return
    container, last = _walk(envelope, steps, text)
    try:
        del container[last]
    except (KeyError, IndexError, TypeError):
        raise ValueError(f"`{text}` does not exist in the resolved input") from None
