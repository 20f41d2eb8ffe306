"""Four threads evaluating session rules on durable_rules at once, compared with the own evaluator.

Run as a subprocess by ``test_rete.py``: without the engine lock this crashes the interpreter
(durable-rules 2.0.28 segfaults, error code 307), which a test must see as a failure, not as the
end of the test run. Prints ``mismatches=N errors=N``.
"""

from __future__ import annotations

import sys
import threading

from txguard.policy.session import compile_session
from txguard.sessions import Event, OwnEvaluator, RuleEngineEvaluator


def main() -> None:
    sp = compile_session({"rules": [
        {"id": "three", "count": {"where": {"kind": "checkout"}, "at_least": 3}},
        {"id": "changed", "sequence": {"pattern": "changed_after_confirmation"}},
        {"id": "retry", "sequence": {"pattern": "retry_after_escalation"}},
    ]}, set(), lambda *a: print("policy error", a))
    own = OwnEvaluator()
    counts = {"mismatches": 0, "errors": 0, "fired": 0}

    def events(n: int, t: int) -> list[Event]:
        return [Event(seq=i, type="decision" if i % 2 else "confirmation", at_us=i, kind="checkout",
                      outcome="escalate" if i % 3 == 0 else "allow", digest=f"d{t}-{i}") for i in range(n)]

    def work(t: int) -> None:
        rete = RuleEngineEvaluator()
        for k in range(300):
            log = events(k % 7, t)
            cur = Event(seq=len(log), type="decision", at_us=50, kind="checkout", outcome="allow", digest=f"z{t}")
            try:
                want = own.evaluate(sp, log, cur, 60)
                counts["fired"] += bool(want)
                if rete.evaluate(sp, log, cur, 60) != want:
                    counts["mismatches"] += 1
            except Exception:  # noqa: BLE001
                counts["errors"] += 1

    sys.setswitchinterval(1e-6)
    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    print(f"mismatches={counts['mismatches']} errors={counts['errors']} fired={counts['fired']}")




def unmatched() -> None:
    """Many evaluations in which no event matches any rule (the scratch session gets no action)."""
    sp = compile_session({"rules": [{"id": "never", "count": {"where": {"kind": "refund"}, "at_least": 1}}]},
                         set(), lambda *a: print("policy error", a))
    rete = RuleEngineEvaluator()
    for k in range(200):
        log = [Event(seq=i, type="decision", at_us=i, kind="checkout", outcome="allow") for i in range(k % 4)]
        cur = Event(seq=len(log), type="decision", at_us=9, kind="checkout", outcome="allow")
        assert rete.evaluate(sp, log, cur, 10) == []
    print("unmatched ok")


if __name__ == "__main__":
    unmatched() if sys.argv[1:] == ["unmatched"] else main()
