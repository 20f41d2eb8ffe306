#!/usr/bin/env python
"""A declared intent kind against the built-in kind with the same rules, on the 610 real cases.

Two policies, compiled from one text that differs only in the kind the ``checkout`` tool maps to:

  builtin   the shipped ``checkout`` kind (the engine's typed ``Checkout`` model)
  declared  ``purchase``, declared in the policy itself with exactly the fields of the shipped
            checkout (copied from ``txguard/data/domains/commerce.yaml``): a generated model

Both import the commerce domain (its facts layout and request) and run the same rules on their
kind: ``authentication``, ``consent`` and ``when`` rules over the intent, the facts and the
request (a platform cap, the payment method is the user's, every line is a catalog variant with
the claimed price and in stock, the total within the budget, the quantity asked for), at 9 rules
and at 96 (plus the 87 generated rules of ``peer_common.extra_rules``). The built-in checks other
than ``consent`` and ``authentication`` are commerce-only, so the shared rules are ``when`` rules.

Every case is decided raw (``{"name": "checkout", "arguments": "<JSON string>"}`` with the
wire-format request, session and facts dicts), in one interleaved run (each round visits every
case and, for each case, every row, in an order that rotates). Before timing, both kinds must give
the same outcome and reason codes on every case. Printed: p50 / p99 per decision (microseconds) and
the ratio declared / builtin at each size (issue 13: declared-kind decisions cost the same).

Run ``python benchmarks/declared.py`` (``--rounds 3`` for a short run, ``--json`` for a machine).
"""

from __future__ import annotations

import argparse
import copy
import gc
import gzip
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # benchmark this checkout, not whatever txguard is installed
sys.path.insert(0, str(Path(__file__).resolve().parent))

import yaml  # noqa: E402

from _reuse import reusable  # noqa: E402
from decide import CORPUS, POLICY, machine, pin_one_core  # noqa: E402
from peer_common import extra_rules, extras_as_txguard  # noqa: E402
from txguard import Guard  # noqa: E402
from txguard.policy.compile import compile_policy  # noqa: E402

COMMERCE = ROOT / "txguard" / "data" / "domains" / "commerce.yaml"
USER_METHODS = "facts.users[session.authenticated_user_id].payment_methods"
WHEN_RULES: list[dict[str, Any]] = [
    {"id": "platform-cap", "outcome": "escalate", "code": "price_cap",
     "when": {"path": "intent.total", "gt": "1000.00"}},
    {"id": "payment-method", "outcome": "escalate", "code": "unknown_payment_method",
     "when": {"path": f"{USER_METHODS}[intent.payment_method_id]", "exists": False}},
    {"id": "known-sku", "outcome": "escalate", "code": "unknown_item",
     "when": {"for_each": "intent.items", "as": "line",
              "any": {"path": "facts.products[line.product_id].variants[line.sku]", "exists": False}}},
    {"id": "catalog-price", "outcome": "escalate", "code": "catalog_mismatch",
     "when": {"for_each": "intent.items", "as": "line",
              "any": {"path": "facts.products[line.product_id].variants[line.sku].price",
                      "ne": {"path": "line.unit_price"}, "on_missing": False}}},
    {"id": "availability", "outcome": "escalate", "code": "out_of_stock",
     "when": {"for_each": "intent.items", "as": "line",
              "any": {"path": "facts.products[line.product_id].variants[line.sku].available",
                      "eq": False, "on_missing": False}}},
    {"id": "budget", "outcome": "clarify", "code": "over_budget", "question": "That is over your budget. Buy it anyway?",
     "when": {"all": [{"path": "request.budget", "exists": True},
                      {"path": "intent.total", "gt": {"path": "request.budget"}}]}},
    {"id": "quantity", "outcome": "clarify", "code": "quantity_mismatch", "question": "Is that the number you want?",
     "when": {"all": [{"path": "request.quantity", "exists": True},
                      {"path": "intent.items[0].quantity", "ne": {"path": "request.quantity"}}]}},
]


def policy_text(kind: str, n_extra: int) -> str:
    """The policy whose ``checkout`` tool maps to ``kind`` (declared unless it is ``checkout``)."""
    doc: dict[str, Any] = {
        "apiVersion": "txguard/v1", "id": f"bench-{kind}-{n_extra}", "version": "1.0.0", "currency": "USD",
        "imports": ["domains/commerce.yaml"],
        "tools": {"checkout": {"intent": kind, "required": ["confidence"]}},
        "defaults": {kind: "allow"},
        "rules": [{"id": "authentication", "check": "authentication"}, {"id": "consent", "check": "consent"}],
    }
    if kind != "checkout":
        shipped = yaml.safe_load(COMMERCE.read_text(encoding="utf-8"))["intents"]["checkout"]
        doc["intents"] = {kind: copy.deepcopy(shipped)}
        doc["builtin_kinds"] = "commerce"
    rules = copy.deepcopy(WHEN_RULES) + extras_as_txguard(extra_rules(n_extra))
    for rule in rules:
        rule["kinds"] = [kind]
    doc["rules"] += rules
    return yaml.safe_dump(doc, sort_keys=False)


def guard(kind: str, n_extra: int) -> Guard:
    text = policy_text(kind, n_extra)
    return Guard(reusable(compile_policy(text, str(POLICY.parent / f"bench-{kind}.yaml"), POLICY.parent)))


def cases() -> list[tuple[Any, ...]]:
    with gzip.open(CORPUS, "rt", encoding="utf-8") as fh:
        raw = [json.loads(line) for line in fh if line.strip()]
    return [({"name": c["proposal"]["name"], "arguments": json.dumps(c["proposal"]["arguments"])},
             c.get("request"), c.get("session"), c.get("facts")) for c in raw]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    ns = ap.parse_args(argv)
    core = pin_one_core()
    args = cases()
    rows = {f"{kind}@{9 + n}": guard(kind, n).check for n in (0, 87) for kind in ("checkout", "purchase")}
    for n in (9, 96):  # the same decisions, before anything is timed
        a, b = rows[f"checkout@{n}"], rows[f"purchase@{n}"]
        for i, c in enumerate(args):
            da, db = a(*c), b(*c)
            if (da.outcome, da.codes) != (db.outcome, db.codes):
                raise SystemExit(f"case {i} at {n} rules: builtin {da.outcome} {da.codes}, declared {db.outcome} {db.codes}")
    load0 = os.getloadavg()
    times: dict[str, list[int]] = {name: [] for name in rows}
    names = list(rows)
    clock = time.perf_counter_ns
    for r in range(ns.rounds):
        gc.collect()
        for i, c in enumerate(args):
            k = (i + r) % len(names)
            for name in names[k:] + names[:k]:
                fn = rows[name]
                t = clock()
                fn(*c)
                times[name].append(clock() - t)
    load1 = os.getloadavg()
    res = {name: {"p50": statistics.median(t) / 1000, "p99": statistics.quantiles(t, n=100)[98] / 1000}
           for name, t in times.items()}
    ratios = {n: res[f"purchase@{n}"]["p50"] / res[f"checkout@{n}"]["p50"] for n in (9, 96)}
    if ns.json:
        print(json.dumps({"machine": machine(core), "load": [load0, load1], "rows": res, "ratios": ratios}, indent=1))
        return 0
    print(f"{len(args)} real cases, {ns.rounds} interleaved rounds, load before {load0[0]:.2f}, after {load1[0]:.2f}")
    print(f"{'row':<22}{'p50 us':>9}{'p99 us':>9}")
    for name, v in res.items():
        label = name.replace("checkout@", "builtin kind @").replace("purchase@", "declared kind @")
        print(f"{label:<22}{v['p50']:>9.1f}{v['p99']:>9.1f}")
    for n, ratio in ratios.items():
        print(f"declared / builtin @{n} rules: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
