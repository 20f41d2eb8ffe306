"""The evaluator of ``when`` conditions over the IR, with an optional trace of every comparison.

``eval_node(node, env)`` decides a condition; ``eval_node(node, env, out)`` decides it the same
way (same order, same short-circuiting, same errors) and appends a :class:`Comparison` to ``out``
for each ``all``/``any``/``not``/``for_each`` and comparison it evaluates. At most
:data:`MAX_ELEMENTS` elements of a ``for_each`` are traced; the rest are judged untraced.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..core.paths import MISSING
from ..policy.ir import All, AnyOf, Compare, ConditionError, ForEach, Lit, MissingFact, Node, Not, compare
from .trace import MAX_ELEMENTS, Comparison, show


def eval_node(node: Node, env: Mapping[str, Any], out: list[Comparison] | None = None, depth: int = 0) -> bool:
    """Whether ``node`` holds in ``env``; raises :class:`MissingFact` or :class:`ConditionError`."""
    if isinstance(node, Compare):
        return _compare(node, env, out, depth)
    if isinstance(node, (All, AnyOf)):
        every = isinstance(node, All)
        if out is None:
            results = (eval_node(p, env) for p in node.parts)
            return all(results) if every else any(results)
        word = "all" if every else "any"
        slot = len(out)
        out.append(Comparison(depth, word))
        traced = (eval_node(p, env, out, depth + 1) for p in node.parts)
        result = all(traced) if every else any(traced)
        out[slot] = Comparison(depth, word, result=result)
        return result
    if isinstance(node, Not):
        if out is None:
            return not eval_node(node.body, env)
        slot = len(out)
        out.append(Comparison(depth, "not"))
        result = not eval_node(node.body, env, out, depth + 1)
        out[slot] = Comparison(depth, "not", result=result)
        return result
    if isinstance(node, ForEach):
        return _for_each(node, env, out, depth)
    raise TypeError(f"{type(node).__name__} is not a condition: a built-in check is run by the rule loop")


def _for_each(node: ForEach, env: Mapping[str, Any], out: list[Comparison] | None, depth: int) -> bool:
    text = node.path.text
    seq = node.get(env)
    if seq is MISSING:
        if out is not None:
            out.append(Comparison(depth, f"for_each {text}: <missing>"))
        raise MissingFact(f"`{text}` is not in the facts")
    if isinstance(seq, Mapping):
        seq = list(seq.values())
    if not isinstance(seq, (list, tuple)):
        raise ConditionError(f"`{text}` is not a list")
    name, body, every = node.var, node.body, node.quantifier == "all"
    if out is None:
        results = (eval_node(body, {**env, name: x}) for x in seq)
        return all(results) if every else any(results)
    slot = len(out)
    head = f"for_each {text} as {name} ({node.quantifier}, {len(seq)} elements)"
    out.append(Comparison(depth, head))

    def element(n: int, elem: Any) -> bool:
        if n >= MAX_ELEMENTS:  # judged, not traced
            return eval_node(body, {**env, name: elem})
        out.append(Comparison(depth + 1, f"{name} = {text}[{n}]"))
        return eval_node(body, {**env, name: elem}, out, depth + 2)

    traced = (element(n, elem) for n, elem in enumerate(seq))
    result = all(traced) if every else any(traced)
    out[slot] = Comparison(depth, head, result=result)
    return result


def _compare(node: Compare, env: Mapping[str, Any], out: list[Comparison] | None, depth: int) -> bool:
    value = node.get(env)
    operand = node.operand
    op = node.op
    if isinstance(operand, Lit):
        other, fixed = operand.value, operand.number
    else:
        other, fixed = operand.get(env), None
    if out is None:
        if op.presence:
            return (value is not MISSING and value is not None) == bool(other)
        return compare(op, value, other, node.on_missing, node.path.text, fixed)
    if isinstance(operand, Lit):
        label = f"{node.path.text} {op.name} {show(operand.raw)}"
    else:
        label = f"{node.path.text} {op.name} {operand.path.text}"
    try:
        if op.presence:
            result = (value is not MISSING and value is not None) == bool(other)
        else:
            result = compare(op, value, other, node.on_missing, node.path.text, fixed)
    except (MissingFact, ConditionError):
        out.append(Comparison(depth, label, value, op.name, other, None))
        raise
    out.append(Comparison(depth, label, value, op.name, other, result))
    return result
