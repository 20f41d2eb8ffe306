"""Field paths: ``intent.items[0].sku``, ``facts.orders[intent.order_id].status``.

A path starts at a root (``intent``, ``request``, ``session``, ``facts``, or a name bound by
``for_each``) and goes on with ``.name`` steps and ``[...]`` lookups; a lookup holds an integer
index, a quoted literal key, or another path whose value is the key. Paths are parsed and
type-checked against the intent, context and facts schemas when a policy loads, so a typo is a
load error; at evaluation a compiled path is a small closure.

The same module holds the *data path* dialect (:func:`parse_steps`, :func:`render_steps`): paths
into plain data, without references, whose names may hold any character but ``.``, ``[`` and
``]`` (``facts.orders.#W1.status``). Suite ``set``/``unset`` paths use it whole; tool mapping
paths are its subset of dotted names (:func:`dotted_steps`); audit mask paths add the ``*``
wildcard and are type-checked when the policy loads (:func:`check_mask_path`), as ``when`` paths are.

Size: over 400 lines on purpose: issue 10 asks for one path module for every dialect, and the dialects
share the type walk over the intent, context and facts schemas.
"""

from __future__ import annotations

import functools
import re
import types
import typing
from abc import get_cache_token
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Union

from pydantic import BaseModel

from .context import Request, Session
from .intents import INTENT_MODELS, ReadOnly

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING", "__bool__": lambda self: False})()
"""The value of a path that leads nowhere (an absent record, an index out of range)."""


class PathSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class Step:
    """``attr`` (``.name``), ``index`` (``[0]``), ``key`` (``['x']``) or ``ref`` (``[other.path]``)."""

    op: str
    name: str | int | None = None
    ref: Path | None = None


@dataclass(frozen=True)
class Path:
    text: str
    root: str
    steps: tuple[Step, ...]


_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<dot>\.)|(?P<lb>\[)|(?P<rb>\])"
                    r"|(?P<int>-?[0-9]+)|(?P<str>'[^']*'|\"[^\"]*\"))")


def parse_path(text: str) -> Path:
    """Parse a path; raises :class:`PathSyntaxError` with a description of the problem."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise PathSyntaxError(f"unexpected `{text[pos:]}` in path `{text}`")
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    path, i = _parse(tokens, 0, text)
    if i != len(tokens):
        raise PathSyntaxError(f"unexpected `{tokens[i][1]}` in path `{text}`")
    return path


def _parse(tokens: list[tuple[str, str]], i: int, text: str) -> tuple[Path, int]:
    if i >= len(tokens) or tokens[i][0] != "name":
        raise PathSyntaxError(f"path `{text}` must start with a name such as `intent`")
    root = tokens[i][1]
    start = i
    i += 1
    steps: list[Step] = []
    while i < len(tokens):
        kind, value = tokens[i]
        if kind == "dot":
            if i + 1 >= len(tokens) or tokens[i + 1][0] != "name":
                raise PathSyntaxError(f"expected a field name after `.` in path `{text}`")
            steps.append(Step("attr", tokens[i + 1][1]))
            i += 2
        elif kind == "lb":
            if i + 1 >= len(tokens):
                raise PathSyntaxError(f"unclosed `[` in path `{text}`")
            k2, v2 = tokens[i + 1]
            if k2 == "int":
                steps.append(Step("index", int(v2)))
                i += 2
            elif k2 == "str":
                steps.append(Step("key", v2[1:-1]))
                i += 2
            else:
                ref, i = _parse(tokens, i + 1, text)
                steps.append(Step("ref", ref=ref))
            if i >= len(tokens) or tokens[i][0] != "rb":
                raise PathSyntaxError(f"expected `]` in path `{text}`")
            i += 1
        else:
            break
    inner = "".join(v for _, v in tokens[start:i])
    return Path(inner, root, tuple(steps)), i


# ---------------------------------------------------------------------------------------------
# Type checking against the schemas

class Any_:
    """Anything: further steps are not checked (free-form arguments, options)."""


@dataclass(frozen=True)
class MapOf:
    value: Any


@dataclass(frozen=True)
class ListOf:
    value: Any


S, N, B = str, Decimal, bool
_ADDRESS = {"address1": S, "address2": S, "city": S, "state": S, "country": S, "zip": S}

FACTS_SCHEMA: dict[str, Any] = {
    "users": MapOf({
        "user_id": S,
        "name": {"first_name": S, "last_name": S},
        "address": _ADDRESS,
        "email": S,
        "payment_methods": MapOf({"source": S, "id": S, "balance": N, "brand": S, "last_four": S, "extra_info": Any_}),
        "orders": ListOf(S),
    }),
    "orders": MapOf({
        "order_id": S,
        "user_id": S,
        "address": _ADDRESS,
        "items": ListOf({"name": S, "product_id": S, "item_id": S, "price": N, "options": MapOf(S)}),
        "fulfillments": ListOf({"tracking_id": ListOf(S), "item_ids": ListOf(S)}),
        "status": S,
        "payment_history": ListOf({"transaction_type": S, "amount": N, "payment_method_id": S}),
        "cancel_reason": S,
        "exchange_items": ListOf(S),
        "exchange_new_items": ListOf(S),
        "exchange_payment_method_id": S,
        "exchange_price_difference": N,
        "return_items": ListOf(S),
        "return_payment_method_id": S,
    }),
    "products": MapOf({
        "name": S,
        "product_id": S,
        "variants": MapOf({"item_id": S, "options": MapOf(S), "available": B, "price": N}),
    }),
}
"""The wire-format v1 facts layout (the tau2-bench retail database layout)."""


def _unwrap(tp: Any) -> Any:
    """Strip Annotated and Optional from a type annotation."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
            continue
        if origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) == 1:
                tp = args[0]
                continue
            return tp
        return tp


def element_type(tp: Any) -> Any:
    """The type of one element of a list (or a mapping's values) of type ``tp``; ``Any_`` if unknown
    (what a ``for_each`` or an aggregate binds its name to)."""
    tp = _unwrap(tp)
    if isinstance(tp, (ListOf, MapOf)):
        return tp.value
    if typing.get_origin(tp) in (tuple, list):
        return typing.get_args(tp)[0]
    return Any_


def _step_type(tp: Any, step: Step) -> Any:
    """The type reached by one step from ``tp``; raises KeyError with a description if invalid."""
    tp = _unwrap(tp)
    if tp is Any_ or tp is Any:
        return Any_
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        if step.op != "attr" or step.name not in tp.model_fields:
            names = ", ".join(sorted(tp.model_fields))
            raise KeyError(f"`{step.name}` is not a field of {tp.__name__} (expected one of: {names})")
        return tp.model_fields[str(step.name)].annotation
    if isinstance(tp, dict):
        if step.op == "attr" and step.name in tp:
            return tp[step.name]
        names = ", ".join(sorted(tp))
        raise KeyError(f"`{step.name if step.op == 'attr' else '[...]'}` is not a field here (expected one of: {names})")
    if isinstance(tp, MapOf):
        if step.op in ("key", "ref"):
            return tp.value
        raise KeyError("a mapping of records takes a lookup `[key]` here")
    if isinstance(tp, ListOf):
        if step.op == "index":
            return tp.value
        raise KeyError("a list takes an index `[0]` here")
    origin = typing.get_origin(tp)
    if origin in (tuple, list):
        if step.op != "index":
            raise KeyError("a list takes an index `[0]` here")
        return typing.get_args(tp)[0]
    if origin is dict:
        if step.op in ("key", "ref"):
            return typing.get_args(tp)[1]
        raise KeyError("a mapping takes a lookup `[key]` here")
    raise KeyError(f"cannot go further into a {getattr(tp, '__name__', tp)} value")


def root_types(kinds: Sequence[str], bound: Mapping[str, Any] | None = None, domain: Any = None) -> dict[str, list[Any]]:
    """For each root name, the types it may have (one per intent kind for ``intent``). ``domain``
    (a :class:`txguard.domain.Domain`) gives the policy's kinds, facts and request; by default the
    shipped commerce ones."""
    models: dict[str, Any] = dict(INTENT_MODELS if domain is None else domain.models)
    if "read" in kinds:
        models["read"] = ReadOnly
    roots: dict[str, list[Any]] = {
        "intent": [models[k] for k in kinds if k in models] or [Any_],
        "request": [Request if domain is None else domain.request_model],
        "session": [Session],
        "facts": [FACTS_SCHEMA if domain is None else domain.facts_schema()],
    }
    for name, tp in (bound or {}).items():
        roots[name] = [tp]
    return roots


def check_path(path: Path, roots: Mapping[str, list[Any]]) -> tuple[list[Any], list[str]]:
    """Type-check ``path``; returns (types it can have, problems)."""
    if path.root not in roots:
        return [], [f"`{path.root}` is not a root (expected one of: {', '.join(sorted(roots))})"]
    problems: list[str] = []
    results: list[Any] = []
    for step in path.steps:
        if step.ref is not None:
            _, sub = check_path(step.ref, roots)
            problems.extend(sub)
    for tp in roots[path.root]:
        cur = tp
        try:
            for step in path.steps:
                cur = _step_type(cur, step)
            results.append(cur)
        except KeyError as exc:
            label = getattr(tp, "__name__", path.root)
            problems.append(f"path `{path.text}`: {exc.args[0]}" + (f" (in {label})" if path.root == "intent" else ""))
    return results, problems


# ---------------------------------------------------------------------------------------------
# Evaluation

Getter = Callable[[Mapping[str, Any]], Any]
_MAPPING: dict[type, tuple[bool, object]] = {}


def is_mapping(cur: Any) -> bool:
    """``isinstance(cur, Mapping)``, kept per type for a value that is not a plain dict (an intent,
    a line, the request: the abstract check runs Python code on every negative answer). The answer
    only changes when an ABC registers a class (the ABC cache token moves); an object whose
    ``__class__`` is not its type is asked every time."""
    kind = type(cur)
    if kind is dict:
        return True
    token = get_cache_token()
    if cur.__class__ is kind:
        known = _MAPPING.get(kind)
        if known is not None and known[1] == token:
            return known[0]
        answer = isinstance(cur, Mapping)
        if len(_MAPPING) >= 512:
            _MAPPING.clear()
        _MAPPING[kind] = (answer, token)
        return answer
    return isinstance(cur, Mapping)


def compile_path(path: Path) -> Getter:
    """A function from the evaluation environment to the path's value (or :data:`MISSING`)."""
    root = path.root
    # attr names are strings and indexes integers from the parser: convert once, not per lookup.
    steps: list[tuple[str, Any, Getter | None]] = [
        (s.op, str(s.name) if s.op == "attr" else int(s.name) if s.op == "index" else s.name,  # type: ignore[arg-type]
         compile_path(s.ref) if s.ref is not None else None)
        for s in path.steps
    ]

    def get(env: Mapping[str, Any]) -> Any:
        cur = env.get(root, MISSING)
        for op, name, ref in steps:
            if cur is MISSING or cur is None:
                return MISSING
            if op == "attr":
                # Facts are plain dicts: test that before the (slower) abstract Mapping check.
                if type(cur) is dict or is_mapping(cur):
                    cur = cur.get(name, MISSING)
                else:
                    cur = getattr(cur, name, MISSING)
            elif op == "index":
                if isinstance(cur, (list, tuple)) and -len(cur) <= name < len(cur):
                    cur = cur[name]
                else:
                    return MISSING
            else:
                key = name if ref is None else ref(env)
                if isinstance(key, Decimal):
                    key = str(key)
                elif isinstance(key, date):  # a declared date or datetime keys a record by its ISO text
                    key = key.isoformat()
                if not isinstance(key, (str, int)) or not (type(cur) is dict or is_mapping(cur)):
                    return MISSING
                cur = cur.get(key, MISSING)
        return cur

    return get


# ---------------------------------------------------------------------------------------------
# Data paths: suite `set`/`unset`, tool mappings, audit masks

_DATA_STEP = re.compile(r"\.?([^.\[\]]+)|\[(-?[0-9]+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")


def parse_steps(text: str, roots: Sequence[str] | None = None) -> tuple[str | int, ...]:
    """``proposal.arguments.items[0].quantity`` -> ``("proposal", "arguments", "items", 0, "quantity")``.

    A step is ``.name`` (any characters but ``.``, ``[``, ``]``; the first step has no dot),
    ``[int]`` or ``['key']``/``["key"]``. With ``roots``, the first step must be one of them.
    Raises :class:`PathSyntaxError` (a ``ValueError``) with a description.

    >>> parse_steps("facts.orders['#W1'].items[0]")
    ('facts', 'orders', '#W1', 'items', 0)
    """
    steps: list[str | int] = []
    pos = 0
    while pos < len(text):
        m = _DATA_STEP.match(text, pos)
        if m is None or (pos == 0 and text.startswith(".")):
            raise PathSyntaxError(f"cannot parse `{text[pos:]}` in path `{text}`")
        name, index, sq, dq = m.groups()
        if name is not None:
            steps.append(name)
        elif index is not None:
            steps.append(int(index))
        else:
            steps.append(sq if sq is not None else dq)
        pos = m.end()
    if roots is not None and (not steps or steps[0] not in roots):
        raise PathSyntaxError(f"path `{text}` must start with one of: {', '.join(roots)}")
    return tuple(steps)


def render_step(step: str | int, first: bool = False, *, brackets: bool = True) -> str:
    """One step as text: ``[0]`` for an index (``.0`` without ``brackets``), ``.name`` (``name`` first)."""
    if isinstance(step, int) and brackets:
        return f"[{step}]"
    return str(step) if first else f".{step}"


def render_steps(steps: Iterable[str | int], *, brackets: bool = True) -> str:
    """The text of a data path: ``render_steps(["a", 0, "b"]) == "a[0].b"`` (``a.0.b`` without ``brackets``)."""
    return "".join(render_step(s, i == 0, brackets=brackets) for i, s in enumerate(steps))


@functools.lru_cache(maxsize=4096)
def dotted_steps(text: str) -> tuple[str, ...]:
    """A tool mapping's path (``address.city``): the data path dialect restricted to dotted names.

    Raises :class:`PathSyntaxError` for a lookup (``[0]``) or an empty name.
    """
    steps = parse_steps(text)
    names = tuple(s for s in steps if isinstance(s, str))
    if not names or len(names) != len(steps) or ".".join(names) != text:
        raise PathSyntaxError(f"path `{text}` must be names separated by `.` (such as `address.city`)")
    return names


MASK_ROOTS = ("proposal", "intent", "request", "session", "facts", "lineage")
"""The sections of an audit record a mask path may start at."""


@functools.lru_cache(maxsize=1024)
def mask_steps(text: str) -> tuple[str, ...]:
    """A mask path's steps after its root, as names (``items[0]`` and ``items.0`` are the same step;
    ``*`` matches any key or index). Raises :class:`PathSyntaxError`."""
    steps = parse_steps(text, MASK_ROOTS)
    if len(steps) < 2:
        raise PathSyntaxError(f"mask path `{text}` names a whole section: name a field under it, "
                              f"such as `{steps[0]}.<field>`")
    return tuple(str(s) for s in steps)


def mask_root_types() -> dict[str, list[Any]]:
    """The types each mask root may have: any intent kind, the context models, the facts layout;
    the proposal (as the agent emitted it) and the lineage are free-form."""
    roots = root_types([*INTENT_MODELS, "read"])
    return {"proposal": [Any_], "lineage": [Any_], **roots}


def _mask_step(tp: Any, step: str) -> list[Any]:
    tp = _unwrap(tp)
    wild = step == "*"
    if tp is Any_ or tp is Any:
        return [Any_]
    if typing.get_origin(tp) in (Union, types.UnionType):
        return [t for arg in typing.get_args(tp) if arg is not type(None) for t in _mask_step(arg, step)]
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        fields = tp.model_fields
        return [f.annotation for f in fields.values()] if wild else (
            [fields[step].annotation] if step in fields else [])
    if isinstance(tp, dict):
        return list(tp.values()) if wild else ([tp[step]] if step in tp else [])
    if isinstance(tp, MapOf):
        return [tp.value]
    index = wild or step.lstrip("-").isdigit()
    if isinstance(tp, ListOf):
        return [tp.value] if index else []
    origin = typing.get_origin(tp)
    if origin in (tuple, list):
        return [typing.get_args(tp)[0]] if index else []
    if origin is dict:
        return [typing.get_args(tp)[1]]
    return []


def check_mask_path(text: str, roots: Mapping[str, list[Any]] | None = None) -> str | None:
    """Parse and type-check an ``audit.mask`` path; the problem as text, or ``None`` if it can match.

    A mask path matches if it names something that can exist in some intent kind, context or
    facts record (the proposal and the lineage are free-form): ``facts.users.*.email`` does,
    ``request.txt`` does not.
    """
    try:
        steps = mask_steps(text)
    except PathSyntaxError as exc:
        return str(exc)
    kinds = (roots or mask_root_types())[steps[0]]
    for i, step in enumerate(steps[1:], 1):
        kinds = [t for tp in kinds for t in _mask_step(tp, step)]
        if not kinds:
            return (f"mask path `{text}`: nothing can exist at `{render_steps(steps[: i + 1], brackets=False)}` "
                    "in any intent kind, context or facts record")
    return None
