"""The one strict reader of JSON text that comes from outside: tool arguments, case files, envelopes.

Python's ``json.loads`` keeps the last value of a repeated key. An executor that keeps the first
would then run with a value the guard never judged (``{"payment_method_id": "card_2", ...,
"payment_method_id": "card_1"}``). Every piece of outside JSON text is therefore read here, and a
key repeated in any object, at any depth, is an error (a :class:`ValueError`, as for any other
invalid JSON). Numbers are read exactly as ``json.loads`` reads them.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["DuplicateKeyError", "read_json", "unusable", "unusable_problem"]


class DuplicateKeyError(ValueError):
    """A JSON object repeats a key: which value counts depends on the reader, so none does."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"duplicate key `{key}` in a JSON object")


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKeyError(key)
        out[key] = value
    return out


def read_json(text: str | bytes | bytearray) -> Any:
    """``json.loads`` that refuses a repeated key in any object.

    Raises:
        ValueError: the text is not JSON, or an object repeats a key (:class:`DuplicateKeyError`).
        RecursionError: the text nests deeper than the interpreter can read.

    Example:
        >>> read_json('{"a": {"b": 1, "b": 2}}')
        Traceback (most recent call last):
        ...
        txguard.core.jsonio.DuplicateKeyError: duplicate key `b` in a JSON object
    """
    return json.loads(text, object_pairs_hook=_unique)


_UNUSABLE = "<unusable tool call: "


def unusable(problem: str) -> str:
    """The arguments of a tool call that could not be read: deliberately not JSON, so the guard
    decides it ``malformed``, with ``problem`` as its message and kept in the audit trail."""
    return f"{_UNUSABLE}{problem}>"


def unusable_problem(arguments: object) -> str | None:
    """The problem recorded by :func:`unusable`, or None for any other arguments."""
    if isinstance(arguments, str) and arguments.startswith(_UNUSABLE) and arguments.endswith(">"):
        return arguments[len(_UNUSABLE):-1]
    return None
