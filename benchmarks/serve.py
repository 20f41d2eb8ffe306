"""Decision-service benchmark: `txguard serve` under a bounded loopback load.

    PYTHONPATH=. python benchmarks/serve.py                       # 1 and 2 workers, SQLite and PostgreSQL audit
    PYTHONPATH=. python benchmarks/serve.py --count 2000 --max-seconds 30 --concurrency 8

For each configuration (workers x audit sink) a fresh `txguard serve` process (policies/retail.yaml)
is started on a free loopback port and sent `--count` `POST /v1/check` requests of the chat-to-buy
dev corpus (inputs only), from `--concurrency` client threads, each with its own keep-alive
connection; the load stops at `--count` requests or after `--max-seconds`, whichever comes first,
and the server is stopped. Printed: throughput, p50/p99 latency as the client saw it, and the
overhead over the in-process decision (`Guard.check_envelope` with the same sink, the same cases, in
this run). The client threads share the machine with the server: on a small machine they are part
of what is measured. PostgreSQL is used when reachable (a database of its own, dropped afterwards).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from txguard import Guard  # noqa: E402
from txguard.audit import open_sink  # noqa: E402

POLICY = ROOT / "policies" / "retail.yaml"
PG_ADMIN = os.environ.get("TXGUARD_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
PG_DB = f"txguard_serve_bench_{os.getpid()}"


def _envelopes() -> list[dict[str, Any]]:
    with gzip.open(ROOT / "tests" / "corpus" / "chat-to-buy-dev.jsonl.gz", "rt", encoding="utf-8") as fh:
        cases = [json.loads(line) for line in fh]
    return [{k: c[k] for k in ("proposal", "request", "session", "facts") if k in c} for c in cases]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def in_process(audit_url: str, envs: list[dict[str, Any]], count: int, max_seconds: float) -> dict[str, float]:
    sink = open_sink(audit_url)
    guard = Guard.from_file(POLICY, audit=sink)
    lat: list[float] = []
    t0 = time.perf_counter()
    for i in range(count):
        t = time.perf_counter()
        guard.check_envelope(envs[i % len(envs)])
        lat.append(time.perf_counter() - t)
        if time.perf_counter() - t0 > max_seconds:
            break
    elapsed = time.perf_counter() - t0
    sink.close()
    return {"n": len(lat), "rps": len(lat) / elapsed, "p50_ms": _pct(lat, 0.5) * 1e3, "p99_ms": _pct(lat, 0.99) * 1e3}


def over_http(workers: int, audit_url: str, envs: list[dict[str, Any]], count: int, max_seconds: float,
              concurrency: int, log: Path) -> dict[str, float]:
    port = _free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "txguard.cli", "serve", "--policy", str(POLICY), "--port", str(port),
                                 "--workers", str(workers), "--audit", audit_url, "--log-level", "warning"],
                                stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        seen: set[int] = set()
        while len(seen) < workers:  # every worker up (a new connection each time)
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"txguard serve did not start:\n{log.read_text()}")
            try:
                seen.add(httpx.get(base + "/readyz", headers={"connection": "close"}).json()["worker"])
            except (httpx.TransportError, ValueError, KeyError):
                time.sleep(0.1)
        bodies = [json.dumps(e).encode() for e in envs]
        lock = threading.Lock()
        lat: list[float] = []
        next_i = [0]
        stop_at = time.perf_counter() + max_seconds

        def client() -> None:
            with httpx.Client(base_url=base, timeout=30, headers={"content-type": "application/json"}) as c:
                while time.perf_counter() < stop_at:
                    with lock:
                        i = next_i[0]
                        if i >= count:
                            return
                        next_i[0] += 1
                    t = time.perf_counter()
                    r = c.post("/v1/check", content=bodies[i % len(bodies)])
                    dt = time.perf_counter() - t
                    if r.status_code != 200:
                        raise SystemExit(f"HTTP {r.status_code}: {r.text[:200]}")
                    with lock:
                        lat.append(dt)

        t0 = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return {"n": len(lat), "rps": len(lat) / elapsed, "p50_ms": _pct(lat, 0.5) * 1e3, "p99_ms": _pct(lat, 0.99) * 1e3,
            "mean_ms": statistics.fmean(lat) * 1e3}


def _pg() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {PG_DB}")
    except Exception as exc:  # noqa: BLE001 - the benchmark runs what it can
        print(f"PostgreSQL skipped: {exc}", file=sys.stderr)
        return None
    return f"{PG_ADMIN.rsplit('/', 1)[0]}/{PG_DB}"


def _pg_drop() -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=2000, help="requests per configuration")
    ap.add_argument("--max-seconds", type=float, default=30.0, help="cap per configuration")
    ap.add_argument("--concurrency", type=int, default=8, help="client threads")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    envs = _envelopes()
    pg = _pg()
    results: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            sinks = [("sqlite", lambda name: f"sqlite:{Path(tmp) / name}.db")]
            if pg is not None:
                sinks.append(("postgresql", lambda name: pg))
            for sink_name, url_of in sinks:
                base = in_process(url_of("inproc"), envs, args.count, args.max_seconds)
                results.append({"mode": "in-process", "workers": 0, "audit": sink_name, **base})
                for workers in (1, 2):
                    r = over_http(workers, url_of(f"serve{workers}"), envs, args.count, args.max_seconds,
                                  args.concurrency, Path(tmp) / f"serve-{sink_name}-{workers}.log")
                    r["overhead_p50_ms"] = r["p50_ms"] - base["p50_ms"]
                    results.append({"mode": "serve", "workers": workers, "audit": sink_name, **r})
    finally:
        if pg is not None:
            _pg_drop()
    print(f"{'mode':<11} {'workers':>7} {'audit':<10} {'requests':>8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'+p50 ms':>8}")
    for r in results:
        extra = f"{r['overhead_p50_ms']:8.2f}" if "overhead_p50_ms" in r else f"{'':>8}"
        print(f"{r['mode']:<11} {r['workers']:>7} {r['audit']:<10} {r['n']:>8} {r['rps']:>8.0f} {r['p50_ms']:>8.2f} "
              f"{r['p99_ms']:>8.2f} {extra}")
    print(f"(client concurrency {args.concurrency}; load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} "
          f"{os.getloadavg()[2]:.2f}; cpus: {os.cpu_count()})")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
