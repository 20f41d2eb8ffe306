"""Fuzz ``Guard.check`` on every shipped policy: it must never raise and never allow malformed input.

    PYTHONPATH=. python scripts/fuzz_check.py                  # 10**6 inputs, seed 0
    PYTHONPATH=. python scripts/fuzz_check.py --n 10000 --seed 7
    PYTHONPATH=. python scripts/fuzz_check.py --n 500000 --start 500000   # the second half, elsewhere

Each input is decided by the guard of every policy in ``policies/`` (``*.yaml`` but the suites;
a policy with session rules gets an in-memory session store). Inputs are generated from a seed,
input ``i`` from ``random.Random(f"{seed}:{i}")`` alone, so a run can be split by ``--start``/``--n``
and any input reproduced (``--show I``):

- near-valid (most): a real corpus envelope (``tests/corpus/*.jsonl.gz``, its inputs only, never a
  label), mutated 1 to 4 times anywhere in the proposal, its arguments, the request, the session
  or the facts: a field dropped, retyped or duplicated (arguments given as a JSON string holding
  the key twice), huge or negative numbers, NaN and infinities (as floats and as strings), lone
  surrogates, deep nesting, bytes and truncated JSON instead of an object;
- random: arbitrary JSON values, strings and bytes in every slot.

Malformed input, defined independently of the decision: the proposal is not ``{name: str,
arguments}``, its tool is not mapped by the policy, its arguments do not parse or validate into the
mapped intent (``CompiledPolicy.to_intent`` raises), or the request, session or facts are not in
their shape (``Request``/``Session`` do not validate, ``Facts`` refuses them). For such input the
decision must be ``escalate`` with a reason code of the malformed family (``malformed``,
``unknown_tool``, ``malformed_context``); an ``allow`` of it is counted as a failure. Any exception
out of ``check`` is a failure. Prints a summary; exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from txguard import Facts, Guard, Proposal, Request, Session  # noqa: E402
from txguard.domain.facts import read_facts  # noqa: E402
from txguard.policy.tools import ProposalError  # noqa: E402
from txguard.sessions import MemoryStore  # noqa: E402

MALFORMED_CODES = frozenset({"malformed", "unknown_tool", "malformed_context"})
CORPORA = ("chat-to-buy-dev.jsonl.gz", "tau-retail-dev.jsonl.gz")
SESSION_RESET = 500  # a fresh session store every this many inputs keeps conversations short

# Values that break naive code: huge and non-finite numbers, their string forms, surrogates, nulls.
NASTY: tuple[Any, ...] = (
    None, True, False, 0, -1, -(10**30), 10**400, 1e308, -0.0, float("nan"), float("inf"), float("-inf"),
    "", " ", "NaN", "nan", "Infinity", "-Infinity", "1e999", "-1", "0.000000001", "12.345", "１２", "\ud800",
    "\udfff", "a\x00b", "\u202e", "x" * 10_000, [], {}, [None], {"": None}, b"\xff\xfe", b"{}",
)


@dataclass
class Tally:
    """What a run found."""

    inputs: int = 0
    decisions: int = 0
    exceptions: int = 0
    malformed_inputs: int = 0
    malformed_allows: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


# -- generation -------------------------------------------------------------------------------------

def load_envelopes() -> list[dict[str, Any]]:
    """The inputs of every corpus case (labels dropped)."""
    out = []
    for name in CORPORA:
        with gzip.open(ROOT / "tests" / "corpus" / name, "rt", encoding="utf-8") as fh:
            for line in fh:
                case = json.loads(line)
                out.append({k: case[k] for k in ("proposal", "request", "session", "facts") if k in case})
    return out


def random_json(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.45:
        return rng.choice(NASTY) if rng.random() < 0.5 else rng.choice(
            [rng.randint(-10**6, 10**6), rng.random() * 1000, rng.choice(["a", "USD", "#W1", "checkout", "0.01"])])
    if roll < 0.7:
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {rng.choice(["name", "arguments", "items", "total", "id", "x", "", "kind"]) + (str(rng.randint(0, 3)) if rng.random() < 0.3 else ""):
            random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def deep(rng: random.Random) -> Any:
    """A value nested hundreds to thousands deep (lists or objects)."""
    value: Any = rng.choice(NASTY[:12])
    for _ in range(rng.choice((50, 500, 3000))):
        value = [value] if rng.random() < 0.5 else {"a": value}
    return value


def paths(value: Any, prefix: tuple[Any, ...] = (), limit: int = 400) -> Iterator[tuple[Any, ...]]:
    """Paths into a JSON value (bounded in breadth and depth: a large facts tree or a deeply nested
    value is sampled, not walked)."""
    yield prefix
    if len(prefix) >= 12:
        return
    if isinstance(value, dict):
        keys = list(value)
        for k in keys[:limit]:
            yield from paths(value[k], prefix + (k,), limit // 4 or 1)
    elif isinstance(value, list):
        for i, v in enumerate(value[:limit]):
            yield from paths(v, prefix + (i,), limit // 4 or 1)


def get(value: Any, path: tuple[Any, ...]) -> Any:
    for k in path:
        value = value[k]
    return value


def replaced(value: Any, path: tuple[Any, ...], new: Any, drop: bool = False) -> Any:
    """A copy of ``value`` (copied along ``path`` only) with ``path`` set to ``new`` or dropped."""
    if not path:
        return new
    head, rest = path[0], path[1:]
    copy: Any = dict(value) if isinstance(value, dict) else list(value)
    if rest:
        copy[head] = replaced(value[head], rest, new, drop)
    elif drop and isinstance(copy, dict):
        del copy[head]
    elif drop:
        copy.pop(head)
    else:
        copy[head] = new
    return copy


def dumps(value: Any, ensure_ascii: bool = True) -> str:
    """JSON text of a generated value, whatever it holds (bytes as text; too deep: a cut text)."""
    try:
        return json.dumps(value, ensure_ascii=ensure_ascii, allow_nan=True, default=repr)
    except (ValueError, RecursionError):
        return "[" * 5000


def duplicate_key_json(rng: random.Random, arguments: dict[str, Any]) -> str:
    """The arguments as JSON text with one key written twice (the second value another one)."""
    key = rng.choice(list(arguments))
    text = dumps(arguments, ensure_ascii=rng.random() < 0.5)
    extra = dumps({key: random_json(rng)})[1:-1]
    return text[:-1] + ", " + extra + "}" if rng.random() < 0.5 else "{" + extra + ", " + text[1:]


def mutate(rng: random.Random, env: dict[str, Any]) -> dict[str, Any]:
    """One mutation somewhere in the envelope."""
    slot = rng.choices(["proposal", "arguments", "request", "session", "facts", "whole"], [1, 6, 2, 2, 3, 1])[0]
    if slot == "whole":
        key = rng.choice(["proposal", "request", "session", "facts"])
        return {**env, key: rng.choice([random_json(rng), deep(rng), rng.randbytes(rng.randint(0, 40)), None])}
    if slot == "arguments":
        proposal = env.get("proposal")
        if not isinstance(proposal, dict):
            return {**env, "proposal": {"name": "checkout", "arguments": random_json(rng)}}
        args = proposal.get("arguments")
        roll = rng.random()
        if isinstance(args, dict) and args and roll < 0.12:
            return {**env, "proposal": {**proposal, "arguments": duplicate_key_json(rng, args)}}
        if roll < 0.2:
            text = dumps(args) if not isinstance(args, (str, bytes)) else str(args)
            cut = text[: rng.randint(0, len(text))] if rng.random() < 0.5 else text
            form = cut.encode("utf-8", "surrogatepass") if rng.random() < 0.3 else cut
            return {**env, "proposal": {**proposal, "arguments": form}}
        env = {**env, "proposal": {**proposal, "arguments": args}}
        root: tuple[Any, ...] = ("proposal", "arguments")
    else:
        root = (slot,)
    target = env.get(root[0]) if len(root) == 1 else env["proposal"]["arguments"]
    if target is None or not isinstance(target, (dict, list)):
        return replaced(env, root, random_json(rng)) if root[0] in env or len(root) > 1 else {**env, slot: random_json(rng)}
    candidates = list(paths(target))
    path = root + rng.choice(candidates)
    op = rng.random()
    if op < 0.25 and len(path) > len(root):
        return replaced(env, path, None, drop=True)
    if op < 0.35:
        return replaced(env, path, deep(rng))
    if op < 0.45 and len(path) > len(root):
        parent = get(env, path[:-1])
        if isinstance(parent, dict):  # the same value under a near-duplicate key
            twin = rng.choice([str(path[-1]).upper(), str(path[-1]) + " ", "\u200b" + str(path[-1])])
            return replaced(env, path[:-1] + (twin,), get(env, path))
        if isinstance(parent, list):
            return replaced(env, path[:-1], parent + [get(env, path)])
    return replaced(env, path, rng.choice(NASTY) if rng.random() < 0.6 else random_json(rng))


def generate(rng: random.Random, envelopes: list[dict[str, Any]]) -> dict[str, Any]:
    """One input: near-valid (a mutated corpus envelope) most of the time, else random."""
    if rng.random() < 0.15:
        env: dict[str, Any] = {}
        for key in ("proposal", "request", "session", "facts"):
            if rng.random() < 0.7:
                env[key] = random_json(rng) if rng.random() < 0.8 else rng.randbytes(rng.randint(0, 30))
        if rng.random() < 0.5:
            env["proposal"] = {"name": rng.choice(["checkout", "cancel_pending_order", "x", ""]), "arguments": random_json(rng)}
        return env
    env = rng.choice(envelopes)
    for _ in range(rng.choice((0, 1, 1, 2, 3, 4))):
        env = mutate(rng, env)
    return env


# -- the oracle and the run ---------------------------------------------------------------------------

def malformed(guard: Guard, env: dict[str, Any]) -> bool:
    """Whether the input cannot be mapped and validated (see the module docstring)."""
    try:
        proposal = env.get("proposal")
        prop = proposal if isinstance(proposal, Proposal) else Proposal.model_validate(proposal)
        guard.policy.to_intent(prop)
        if env.get("request") is not None:
            Request.model_validate(env["request"])
        if env.get("session") is not None:
            Session.model_validate(env["session"])
        facts = env.get("facts")
        if guard.policy.domain.facts is not None and isinstance(facts, Mapping):
            facts = read_facts(guard.policy.domain, facts)  # a declared collection may be a list of records
        Facts(facts)
    except (ProposalError, ValueError, TypeError, RecursionError):
        return True
    return False


def guards() -> list[tuple[str, Guard, bool]]:
    out = []
    for path in sorted((ROOT / "policies").glob("*.yaml")):
        if path.name.endswith(".tests.yaml"):
            continue
        guard = Guard.from_file(path)
        has_sessions = guard.policy.session is not None and bool(guard.policy.document.get("session"))
        out.append((path.name, guard, has_sessions))
    return out


def run(n: int, seed: int, start: int = 0, progress: bool = False) -> Tally:
    envelopes = load_envelopes()
    policies = guards()
    tally = Tally()
    session_guards: dict[str, Guard] = {}
    for i in range(start, start + n):
        if (i - start) % SESSION_RESET == 0:
            session_guards = {name: Guard(g.policy, sessions=MemoryStore()) for name, g, s in policies if s}
        rng = random.Random(f"{seed}:{i}")
        env = generate(rng, envelopes)
        tally.inputs += 1
        for name, guard, _ in policies:
            g = session_guards.get(name, guard)
            tally.decisions += 1
            try:
                d = g.check(env.get("proposal"), env.get("request"), env.get("session"), env.get("facts"))
            except BaseException as exc:  # noqa: BLE001 - counted, that is the point
                if isinstance(exc, KeyboardInterrupt):
                    raise
                tally.exceptions += 1
                if len(tally.failures) < 20:
                    tally.failures.append(f"input {i} on {name}: {type(exc).__name__}: {str(exc)[:200]}")
                continue
            tally.outcomes[d.outcome.value] += 1
            tally.codes.update(set(d.codes))
            if malformed(guard, env):
                tally.malformed_inputs += 1
                if d.outcome.value != "escalate" or not MALFORMED_CODES.intersection(d.codes):
                    if d.allowed:
                        tally.malformed_allows += 1
                    if len(tally.failures) < 20:
                        tally.failures.append(f"input {i} on {name}: malformed input decided {d.outcome.value} {d.codes}")
        if progress and tally.inputs % 10_000 == 0:
            print(f"  {tally.inputs} inputs, {tally.exceptions} exceptions, {tally.malformed_allows} malformed allows",
                  file=sys.stderr, flush=True)
    return tally


def _finite(value: Any) -> Any:
    """For --show: a JSON-printable form of an input (non-finite floats and bytes spelled out)."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, bytes):
        return f"bytes:{value!r}"
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10**6, help="inputs to generate (default 10**6)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", type=int, default=0, help="index of the first input (to split a run)")
    parser.add_argument("--show", type=int, help="print input SHOW of the seed and exit")
    parser.add_argument("--progress", action="store_true", help="a line on stderr every 10,000 inputs")
    args = parser.parse_args(argv)
    if args.show is not None:
        env = generate(random.Random(f"{args.seed}:{args.show}"), load_envelopes())
        print(json.dumps(_finite(env), ensure_ascii=True)[:20_000])
        return 0
    t0 = time.perf_counter()
    tally = run(args.n, args.seed, args.start, args.progress)
    wall = time.perf_counter() - t0
    print(f"inputs {tally.inputs} (seed {args.seed}, from {args.start}), decisions {tally.decisions} "
          f"on {tally.decisions // max(tally.inputs, 1)} policies")
    print(f"exceptions {tally.exceptions}, malformed inputs {tally.malformed_inputs} (decisions), "
          f"malformed allows {tally.malformed_allows}")
    print("outcomes " + ", ".join(f"{k} {v}" for k, v in sorted(tally.outcomes.items())))
    print("top codes " + ", ".join(f"{k} {v}" for k, v in tally.codes.most_common(12)))
    print(f"wall {wall:.1f} s")
    for line in tally.failures:
        print("FAIL " + line)
    return 1 if tally.exceptions or tally.malformed_allows or tally.failures else 0


if __name__ == "__main__":
    sys.exit(main())
