"""What guarding a tool costs in the agent loop: adapter + guarded-tool dispatch vs a bare check.

    PYTHONPATH=. python benchmarks/bench_agentloop.py [--number N]

Prints the median over 7 repeats of N calls, in microseconds per call, for: ``guard.check`` on the
proposal, the OpenAI Chat adapter alone, and ``GuardedTool.dispatch`` of the adapted call (adapter
output -> decision -> the tool function on allow), for an allowed and a blocked (clarify) cart.
"""

from __future__ import annotations

import argparse
import json
import statistics
import timeit
from pathlib import Path
from typing import Any

from txguard import Guard, compile_file

from _reuse import reusable
from txguard.adapters import from_openai_chat

ROOT = Path(__file__).resolve().parent.parent
CATALOG = json.loads((ROOT / "examples" / "catalog" / "catalog.json").read_text(encoding="utf-8"))
CART = {"items": [{"sku": "2115393569", "product_id": "7996920482", "title": "Coffee Maker", "quantity": 1,
                   "unit_price": "270.91"}],
        "currency": "USD", "total": "270.91", "payment_method_id": "credit_card_6177109", "confidence": 0.95}
RAW = {"id": "call_1", "type": "function", "function": {"name": "checkout", "arguments": json.dumps(CART)}}
REQUEST = {"product_type": "Coffee Maker", "quantity": 1}


def context(confirmed: bool) -> dict[str, Any]:
    session = {"authenticated_user_id": "chen_smith_8425",
               "confirmed": [{"name": "checkout", "arguments": CART}] if confirmed else []}
    return {"request": REQUEST, "session": session, "facts": CATALOG}


def per_call_us(fn: Any, number: int) -> float:
    return statistics.median(timeit.repeat(fn, number=number, repeat=7)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--number", type=int, default=2000)
    number = parser.parse_args().number
    guard = Guard(reusable(compile_file(ROOT / "policies" / "retail.yaml")))
    call = from_openai_chat(RAW)
    for label, confirmed in (("allow", True), ("clarify", False)):
        ctx = context(confirmed)
        tool = guard.wrap(lambda **kw: "placed", tool="checkout", context=ctx)
        check = per_call_us(lambda: guard.check(call.proposal, **ctx), number)
        dispatch = per_call_us(lambda: tool.dispatch(from_openai_chat(RAW)), number)
        print(f"{label:8} guard.check {check:7.1f} us   adapter+dispatch {dispatch:7.1f} us   "
              f"overhead {dispatch - check:6.1f} us")
    print(f"adapter alone {per_call_us(lambda: from_openai_chat(RAW), number * 10):.2f} us")


if __name__ == "__main__":
    main()
