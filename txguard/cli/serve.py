"""``txguard serve``: the decision service (HTTP), N uvicorn worker processes on one socket.

Every worker compiles the policy, opens the audit sink and the session store itself; with several
workers they must be shared stores (``sqlite:`` or ``postgresql://``), so budgets, single use and the
audit chain hold across them. SIGHUP reloads the policy in every worker (the supervisor forwards it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile

from ._common import compile_or_report

HELP = "run the decision service (HTTP): check, reload, metrics"


def register(p: argparse.ArgumentParser) -> None:
    p.add_argument("--policy", help="the policy YAML file (required)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port to bind (default: 8080)")
    p.add_argument("--audit", metavar="URL", help="audit sink: sqlite:PATH, postgresql://..., jsonl:PATH (one worker)")
    p.add_argument("--sessions", metavar="URL", help="conversation store: sqlite:PATH, postgresql://... or memory: (one worker)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default: 1)")
    p.add_argument("--watch", type=float, metavar="SECONDS", help="reload when the policy file changes (polled)")
    p.add_argument("--max-body", type=int, default=1 << 20, metavar="BYTES", help="request body limit (default: 1 MiB)")
    p.add_argument("--max-batch", type=int, default=1000, metavar="N", help="cases per batch request (default: 1000)")
    p.add_argument("--shadow", metavar="POLICY", help="a candidate policy that decides alongside, observationally")
    p.add_argument("--shadow-sample", type=float, default=1.0, metavar="RATE",
                   help="the share of cases the shadow policy decides, 0 to 1 (default: 1)")
    p.add_argument("--otel", action="store_true", help="trace decisions with OpenTelemetry (the global tracer provider)")
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    p.add_argument("--print-openapi", action="store_true", help="print the OpenAPI document and exit")


def _shared(url: str | None) -> bool:
    return url is None or url.startswith(("sqlite:", "postgresql:", "postgres:")) or "://" not in url and ":" not in url


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from ..serve import ServeConfig, openapi_document
        from ..serve._app import CONFIG_ENV
    except ImportError as exc:
        print(f"txguard serve: needs the `serve` extra (pip install 'txguard[serve]'): {exc}", file=sys.stderr)
        return 1
    if args.print_openapi:
        print(json.dumps(openapi_document(), indent=2))
        return 0
    if not args.policy:
        print("txguard serve: --policy is required", file=sys.stderr)
        return 1
    if args.workers < 1 or args.max_body < 1 or args.max_batch < 1 or (args.watch is not None and args.watch <= 0):
        print("txguard serve: --workers, --max-body, --max-batch and --watch must be positive", file=sys.stderr)
        return 1
    if args.workers > 1 and not (_shared(args.audit) and (args.sessions is None or _shared(args.sessions))
                                 and not str(args.sessions or "").startswith("memory:")):
        print("txguard serve: several workers need shared stores: --audit and --sessions must be sqlite: or postgresql://",
              file=sys.stderr)
        return 1
    if not 0.0 <= args.shadow_sample <= 1.0:
        print("txguard serve: --shadow-sample must be from 0 to 1", file=sys.stderr)
        return 1
    if compile_or_report(args.policy) is None or (args.shadow and compile_or_report(args.shadow) is None):
        return 3
    config = ServeConfig(policy=os.path.abspath(args.policy), audit=args.audit, sessions=args.sessions,
                         max_body=args.max_body, max_batch=args.max_batch, watch=args.watch, workers=args.workers,
                         otel=args.otel, shadow=os.path.abspath(args.shadow) if args.shadow else None,
                         shadow_sample=args.shadow_sample)
    os.environ[CONFIG_ENV] = config.to_json()
    uconfig = uvicorn.Config("txguard.serve._app:app_from_env", factory=True, host=args.host, port=args.port,
                             workers=args.workers, log_level=args.log_level, access_log=False, lifespan="on",
                             timeout_graceful_shutdown=10)
    if args.workers == 1:
        server = uvicorn.Server(uconfig)
        server.run()
        return 0 if server.started else 1
    from uvicorn.supervisors import Multiprocess

    class Supervisor(Multiprocess):
        """uvicorn's supervisor, but SIGHUP reloads the policy inside each worker instead of restarting it."""

        def handle_hup(self) -> None:
            for process in self.processes:
                if process.pid is not None:
                    try:
                        os.kill(process.pid, signal.SIGHUP)
                    except ProcessLookupError:
                        pass

    metrics_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # one /metrics view over all the workers
        metrics_dir = tempfile.mkdtemp(prefix="txguard-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        sock = uconfig.bind_socket()
        Supervisor(uconfig, sockets=[sock]).run()
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0
