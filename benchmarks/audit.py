"""Audit-trail benchmark: append throughput and added decision latency, per sink and durability mode.

    PYTHONPATH=. python benchmarks/audit.py                 # every sink; PostgreSQL if reachable
    PYTHONPATH=. python benchmarks/audit.py --json out.json --records 20000
    PYTHONPATH=. python benchmarks/audit.py --added          # the added cost per decision only

Throughput: records/s for ``append`` of real corpus decisions (snapshotted as the guard does) plus
the final ``flush``, from one process, and from 4 processes for SQLite and PostgreSQL.
Added latency: p50/p99 of ``Guard.check`` with the sink minus without it, same cases, interleaved.
Targets (issue 3): SQLite group commit >= 20,000 records/s from one process; added p50 <= 15 us in
group-commit mode; PostgreSQL >= 5,000 records/s from 4 processes. Issue 13: building the record plus
the SQLite group-commit append adds <= 10 us p50 per decision, not growing with the trail's length
(printed first, at trails of 10, 1,000 and 10,000 records; ``--added`` prints only that).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from txguard import Guard, compile_file  # noqa: E402

from _reuse import reusable  # noqa: E402
from txguard.audit import AuditEntry, open_sink  # noqa: E402
from txguard.audit._build import build_entry  # noqa: E402

PG = os.environ.get("TXGUARD_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/txguard_audit_bench")


def _envelopes() -> list[dict[str, Any]]:
    with gzip.open(ROOT / "tests" / "corpus" / "chat-to-buy-dev.jsonl.gz", "rt", encoding="utf-8") as fh:
        cases = [json.loads(line) for line in fh]
    return [{k: c[k] for k in ("proposal", "request", "session", "facts") if k in c} for c in cases]


def _entries(guard: Guard, envs: list[dict[str, Any]], n: int) -> list[AuditEntry]:
    now = datetime.now(timezone.utc)
    out = []
    for i in range(n):
        e = envs[i % len(envs)]
        d = guard.check_envelope(e)
        out.append(build_entry(guard.policy, d, now, e.get("proposal"), e.get("request"), e.get("session"),
                               e.get("facts"), {"bench": str(i)}, b"salt")[0])
    return out


def _pg_ready() -> bool:
    try:
        import psycopg

        admin = PG.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            name = PG.rsplit("/", 1)[1].split("?")[0]
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
                conn.execute(f"CREATE DATABASE {name}")
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS txguard_audit, txguard_audit_head")
        return True
    except Exception as exc:  # noqa: BLE001 - reported, the rest of the benchmark runs
        print(f"PostgreSQL skipped: {exc}", file=sys.stderr)
        return False


def _fresh(url: str, tmp: Path) -> None:
    if url.startswith("postgresql"):
        import psycopg

        with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS txguard_audit, txguard_audit_head")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)


def throughput(url: str, entries: list[AuditEntry], procs: int = 1) -> float:
    """Records/s appending ``entries`` (split across ``procs`` forked processes), flush included."""
    per = len(entries) // procs
    t0 = time.perf_counter()
    if procs == 1:
        sink = open_sink(url)
        for e in entries:
            sink.append(e)
        sink.close()
        return len(entries) / (time.perf_counter() - t0)
    r, w = os.pipe()
    pids = []
    for k in range(procs):
        pid = os.fork()
        if pid == 0:
            os.close(r)
            sink = open_sink(url)
            os.write(w, b"r")
            os.read(os.open(os.devnull, os.O_RDONLY), 0)
            for e in entries[k * per:(k + 1) * per]:
                sink.append(e)
            sink.close()
            os._exit(0)
        pids.append(pid)
    os.close(w)
    ready = 0
    while ready < procs:
        ready += len(os.read(r, procs))
    t0 = time.perf_counter()
    for pid in pids:
        os.waitpid(pid, 0)
    return per * procs / (time.perf_counter() - t0)


def added_latency(url: str | None, policy_guard: Guard, envs: list[dict[str, Any]], n: int) -> dict[str, float]:
    """p50/p99 of check with the sink, without it, and the difference (us)."""
    plain = Guard(policy_guard.policy)
    sink = open_sink(url) if url else None
    audited = Guard(policy_guard.policy, audit=sink)
    with_us: list[float] = []
    without_us: list[float] = []
    clock = time.perf_counter_ns
    for i in range(n):
        e = envs[i % len(envs)]
        t = clock()
        plain.check_envelope(e)
        without_us.append((clock() - t) / 1000)
        t = clock()
        audited.check_envelope(e)
        with_us.append((clock() - t) / 1000)
    if sink is not None:
        sink.close()

    def pct(xs: list[float], q: float) -> float:
        return statistics.quantiles(xs, n=100)[int(q) - 1]

    return {"p50_without": statistics.median(without_us), "p50_with": statistics.median(with_us),
            "added_p50": statistics.median(with_us) - statistics.median(without_us),
            "added_p99": pct(with_us, 99) - pct(without_us, 99)}


def added_by_length(guard: Guard, envs: list[dict[str, Any]], base: Path, n: int,
                    lengths: tuple[int, ...] = (10, 1000, 10000)) -> list[dict[str, Any]]:
    """What the audit layer adds to a decision, at trail lengths ``lengths``: p50 of ``check`` with
    an SQLite group-commit sink minus without, interleaved on the same cases; and, apart, the p50 of
    building a record (``build_entry``) and of ``append`` alone. The trail is filled first."""
    plain = Guard(guard.policy)
    now = datetime.now(timezone.utc)
    clock = time.perf_counter_ns
    rows = []
    for length in lengths:
        d = base / f"added-{length}"
        _fresh("sqlite:", d)
        sink = open_sink(f"sqlite:{d}/a.db")
        for e in _entries(guard, envs, length):
            sink.append(e)
        sink.flush()
        audited = Guard(guard.policy, audit=sink)
        on: list[float] = []
        off: list[float] = []
        build: list[float] = []
        append: list[float] = []
        for i in range(n):
            e = envs[i % len(envs)]
            t = clock()
            plain.check_envelope(e)
            off.append((clock() - t) / 1000)
            t = clock()
            audited.check_envelope(e)
            on.append((clock() - t) / 1000)
            d_ = plain.check_envelope(e)
            t = clock()
            entry = build_entry(guard.policy, d_, now, e.get("proposal"), e.get("request"), e.get("session"),
                                e.get("facts"), None, b"salt")[0]
            build.append((clock() - t) / 1000)
            t = clock()
            sink.append(entry)
            append.append((clock() - t) / 1000)
        sink.close()
        med = statistics.median
        rows.append({"trail": length, "p50_off": med(off), "p50_on": med(on), "added_p50": med(on) - med(off),
                     "build_p50": med(build), "append_p50": med(append)})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=20000, help="records per throughput run")
    ap.add_argument("--decisions", type=int, default=6000, help="decisions per latency run")
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument("--added", action="store_true",
                    help="only the added cost per decision (SQLite group commit) at trail lengths 10, 1000, 10000")
    args = ap.parse_args()
    envs = _envelopes()
    guard = Guard(reusable(compile_file(ROOT / "policies" / "retail.yaml")))
    base = Path(tempfile.mkdtemp(prefix="txguard-audit-bench-"))
    print(f"load average {os.getloadavg()[0]:.2f}; {os.cpu_count()} cpus; Python {sys.version.split()[0]}")
    added = added_by_length(guard, envs, base, args.decisions)
    print(f"{'sqlite commit=group, trail of':<30} {'p50 off':>8} {'p50 on':>8} {'added p50':>10} {'build p50':>10} {'append p50':>11}")
    for r in added:
        print(f"{r['trail']:>30,} {r['p50_off']:>8.1f} {r['p50_on']:>8.1f} {r['added_p50']:>10.1f} "
              f"{r['build_p50']:>10.1f} {r['append_p50']:>11.1f}")
    growth = added[-1]["added_p50"] - added[0]["added_p50"]
    print(f"growth of the added p50 from {added[0]['trail']:,} to {added[-1]['trail']:,} records: {growth:+.1f} us "
          "(target <= 10 us added, no growth)")
    if args.added:
        shutil.rmtree(base, ignore_errors=True)
        return 0
    modes = [
        ("memory", "memory:"),
        ("jsonl fsync=group", "jsonl:{d}/a.jsonl"),
        ("jsonl fsync=always", "jsonl:{d}/a.jsonl?fsync=always"),
        ("jsonl fsync=never", "jsonl:{d}/a.jsonl?fsync=never"),
        ("sqlite commit=group", "sqlite:{d}/a.db"),
        ("sqlite commit=group sync=full", "sqlite:{d}/a.db?sync=full"),
        ("sqlite commit=each", "sqlite:{d}/a.db?commit=each"),
    ]
    pg = not args.no_pg and _pg_ready()
    if pg:
        modes += [("postgresql commit=group", PG + "?commit=group&journal={d}/journal"),
                  ("postgresql commit=each", PG)]
    rows = []
    print(f"{'sink and mode':<32} {'records/s':>10} {'4 procs':>10} {'p50 off':>8} {'p50 on':>8} {'added p50':>10} {'added p99':>10}")
    for name, template in modes:
        d = base / name.replace(" ", "_").replace("=", "-")
        url = template.format(d=d)
        slow = "always" in name or "each" in name or "full" in name
        n = args.records // (10 if slow else 1)
        _fresh(url, d)
        rate = throughput(url, _entries(guard, envs, n))
        multi = None
        if name.startswith(("sqlite", "postgresql")) and "each" not in name and "full" not in name:
            _fresh(url, d)
            multi = throughput(url, _entries(guard, envs, n), procs=4)
        _fresh(url, d)
        lat = added_latency(url, guard, envs, args.decisions // (5 if slow else 1))
        row = {"sink": name, "records_per_s": round(rate), "records_per_s_4procs": round(multi) if multi else None,
               **{k: round(v, 1) for k, v in lat.items()}}
        rows.append(row)
        print(f"{name:<32} {rate:>10,.0f} {(f'{multi:,.0f}' if multi else '-'):>10} {lat['p50_without']:>8.1f} "
              f"{lat['p50_with']:>8.1f} {lat['added_p50']:>10.1f} {lat['added_p99']:>10.1f}")
    shutil.rmtree(base, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"python": sys.version.split()[0], "cpus": os.cpu_count(), "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
