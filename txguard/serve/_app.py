"""The decision service as an ASGI application (Starlette): one :class:`Service` per worker process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..policy.compile import CompiledPolicy, compile_file
from ..core.decision import Decision
from ..core.errors import PolicyError
from ..engine.evaluate import internal_error
from .._guard import Guard
from ..core.jsonio import read_json
from ..core.observe import Observer
from ..audit import open_sink
from ..metrics import PrometheusObserver
from ..sessions import open_store
from ..core.ids import uuid7
from ._openapi import openapi_document
from ._problems import MEDIA_TYPE, Problem

log = logging.getLogger("uvicorn.error")

CONFIG_ENV = "TXGUARD_SERVE_CONFIG"
"""The environment variable that carries a :class:`ServeConfig` (JSON) to every worker process."""


@dataclass(frozen=True)
class ServeConfig:
    """What one ``txguard serve`` worker runs with (the command line, as data)."""

    policy: str
    audit: str | None = None
    sessions: str | None = None
    max_body: int = 1 << 20
    max_batch: int = 1000
    watch: float | None = None
    workers: int = 1
    otel: bool = False
    shadow: str | None = None
    shadow_sample: float = 1.0

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeConfig:
        return cls(**json.loads(text))


def _policy_json(policy: CompiledPolicy) -> dict[str, str]:
    return {"id": policy.id, "version": policy.version, "digest": policy.digest}


class Service:
    """One worker's guard, its sinks and its metrics, behind the HTTP handlers."""

    def __init__(self, config: ServeConfig, policy: CompiledPolicy, observers: Sequence[Observer] = ()) -> None:
        self.config = config
        self.registry = CollectorRegistry()
        self.metrics = PrometheusObserver(self.registry)
        self.observers: list[Observer] = [self.metrics, *observers]
        if config.otel:
            from ..otel import OTelObserver

            self.observers.append(OTelObserver())
        self.initial = policy
        self.guard: Guard | None = None
        self._closers: list[Callable[[], None]] = []
        self._source_stamp = _stamp(config.policy)

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> None:
        """Open the sinks and build the guard: from here on the service is ready."""
        audit = sessions = None
        if self.config.audit:
            audit = open_sink(self.config.audit)
            self._closers.append(audit.close)
        if self.config.sessions:
            sessions = open_store(self.config.sessions)
            self._closers.append(sessions.close)
        self.guard = Guard(self.initial, audit=audit, sessions=sessions, observers=self.observers,
                           shadow=self.config.shadow, shadow_sample=self.config.shadow_sample)

    def stop(self) -> None:
        self.guard = None
        for close in reversed(self._closers):
            try:
                close()
            except Exception as exc:  # noqa: BLE001 - shutting down: report and go on closing the rest
                log.warning("txguard: closing failed: %s: %s", type(exc).__name__, exc)
        self._closers.clear()

    def ready_guard(self) -> Guard:
        if self.guard is None:
            raise Problem("not-ready", "the service is starting or stopping")
        return self.guard

    # -- deciding --------------------------------------------------------------------------------
    def decide(self, envelope: Any, headers: Mapping[str, str]) -> dict[str, Any]:
        """One decision as the service answers it (called in a worker thread)."""
        guard = self.ready_guard()
        lineage = _lineage(envelope)
        decision_id = uuid7()
        with _trace_context(headers):
            try:
                if isinstance(envelope, Mapping):
                    decision = guard.decide(guard.case(envelope.get("proposal"), envelope.get("request"),
                                                       envelope.get("session"), envelope.get("facts"),
                                                       lineage=lineage, record_id=decision_id))
                else:  # not an envelope: decided as a proposal, which escalates as malformed
                    decision = guard.decide(guard.case(envelope, lineage=lineage, record_id=decision_id))
            except Exception as exc:  # noqa: BLE001 - check never raises; if it ever does, fail closed
                decision = internal_error(guard.policy, exc)
        return render(decision, decision_id)

    # -- reloading -------------------------------------------------------------------------------
    def reload(self, trigger: str) -> dict[str, Any]:
        """Recompile the policy file and swap it in; raises :class:`Problem` (old policy kept) when invalid."""
        guard = self.ready_guard()
        old = guard.policy
        stamp = _stamp(self.config.policy)
        try:
            new = guard.reload(self.config.policy)
        except PolicyError as exc:
            lines = [str(d) for d in exc.diagnostics]
            log.error("txguard: %s reload of %s refused, %s %s stays in force:\n%s", trigger, self.config.policy,
                      old.id, old.digest, "\n".join(lines))
            raise Problem("policy-invalid", lines[0] if lines else str(exc), diagnostics=lines,
                          policy=_policy_json(old)) from None
        self._source_stamp = stamp
        log.info("txguard: %s reload of %s: %s -> %s", trigger, self.config.policy, old.digest, new.digest)
        return {"changed": new.digest != old.digest, "policy": _policy_json(new), "previous": _policy_json(old)}

    async def watch(self, interval: float) -> None:
        """Reload when the policy file's modification time or size changes (``--watch``)."""
        while True:
            await asyncio.sleep(interval)
            stamp = _stamp(self.config.policy)
            if stamp != self._source_stamp and self.guard is not None:
                self._source_stamp = stamp
                with contextlib.suppress(Problem):
                    await run_in_threadpool(self.reload, "watch")

    def metrics_text(self) -> bytes:
        from prometheus_client import CollectorRegistry, generate_latest

        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # several workers: one view of all of them
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)


def render(decision: Decision, decision_id: str) -> dict[str, Any]:
    """The decision as the service answers it: ``decision_id`` and the ``txguard check --format json`` shape."""
    return {"decision_id": decision_id, **decision.to_dict()}


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _lineage(envelope: Any) -> dict[str, str] | None:
    if not isinstance(envelope, Mapping) or envelope.get("lineage") is None:
        return None
    lineage = envelope["lineage"]
    if not isinstance(lineage, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in lineage.items()):
        raise Problem("invalid-request", "`lineage` must be an object of strings")
    return dict(lineage)


@contextlib.contextmanager
def _trace_context(headers: Mapping[str, str]) -> Any:
    """Make the request's W3C trace context (``traceparent``) current while it is decided."""
    if "traceparent" not in headers:
        yield
        return
    try:
        from opentelemetry import context, propagate
    except ImportError:
        yield
        return
    token = context.attach(propagate.extract(dict(headers)))
    try:
        yield
    finally:
        context.detach(token)


# -- HTTP ------------------------------------------------------------------------------------------

def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status_code=status, media_type="application/json")


def _problem_response(problem: Problem, request: Request) -> Response:
    return Response(problem.encode(request.url.path), status_code=problem.status, media_type=MEDIA_TYPE)


async def _read_json(request: Request, limit: int) -> Any:
    ctype = request.headers.get("content-type")
    if ctype is not None:
        media = ctype.split(";", 1)[0].strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            raise Problem("unsupported-media-type", f"got `{media[:80]}`")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Problem("body-too-large", f"the body has {declared} bytes; the limit is {limit}", limit=limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem("body-too-large", f"the body exceeds the limit of {limit} bytes", limit=limit)
        chunks.append(chunk)
    try:
        # The strict reader: a key repeated at any depth (`payment_method_id` twice) is malformed,
        # never judged on its last value while the caller's executor may keep the first.
        return read_json(b"".join(chunks).decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise Problem("malformed-json", str(exc)[:200]) from None


def create_app(config: ServeConfig, *, policy: CompiledPolicy | None = None, observers: Sequence[Observer] = ()) -> Starlette:
    """The ASGI application of one worker.

    Args:
        config: the service configuration.
        policy: the compiled policy (default: compiled from ``config.policy``).
        observers: more observers of the guard (the service always adds its Prometheus metrics).

    Raises:
        PolicyError: the policy is invalid.
    """
    service = Service(config, policy if policy is not None else compile_file(config.policy), observers)

    async def check(request: Request) -> Response:
        envelope = await _read_json(request, config.max_body)
        service.ready_guard()
        return _json(await run_in_threadpool(service.decide, envelope, request.headers))

    async def check_batch(request: Request) -> Response:
        body = await _read_json(request, config.max_body)
        cases = body.get("cases") if isinstance(body, dict) else None
        if not isinstance(cases, list):
            raise Problem("invalid-request", "the body must be an object with a `cases` array of envelopes")
        if len(cases) > config.max_batch:
            raise Problem("invalid-request", f"{len(cases)} cases; a batch holds at most {config.max_batch}",
                          limit=config.max_batch)
        for n, case in enumerate(cases):
            try:
                _lineage(case)
            except Problem as p:
                raise Problem("invalid-request", f"cases[{n}]: {p.detail}") from None
        service.ready_guard()

        def decide_all() -> list[dict[str, Any]]:
            return [service.decide(case, request.headers) for case in cases]

        return _json({"decisions": await run_in_threadpool(decide_all)})

    async def healthz(request: Request) -> Response:
        return _json({"status": "ok"})

    async def readyz(request: Request) -> Response:
        guard = service.ready_guard()
        return _json({"status": "ready", "policy": _policy_json(guard.policy), "worker": os.getpid()})

    async def policy_info(request: Request) -> Response:
        return _json(_policy_json(service.ready_guard().policy))

    async def reload(request: Request) -> Response:
        result = await run_in_threadpool(service.reload, "POST")
        if config.workers > 1:  # the supervisor forwards SIGHUP to every worker, so all of them reload
            os.kill(os.getppid(), signal.SIGHUP)
        return _json(result)

    async def metrics(request: Request) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(service.metrics_text(), media_type=CONTENT_TYPE_LATEST)

    async def openapi(request: Request) -> Response:
        return _json(openapi_document())

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return _problem_response(exc, request)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        kind = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code)
        if kind is None:
            return _problem_response(Problem("invalid-request", str(exc.detail)), request)
        return _problem_response(Problem(kind, f"{request.method} {request.url.path}"), request)  # type: ignore[arg-type]

    async def on_error(request: Request, exc: Exception) -> Response:
        log.error("txguard: %s %s failed: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
        return _problem_response(Problem("internal-error", "the request could not be served"), request)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await run_in_threadpool(service.start)
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[Any]] = set()

        def on_hup() -> None:
            async def run() -> None:
                with contextlib.suppress(Problem):
                    await run_in_threadpool(service.reload, "SIGHUP")
            task = loop.create_task(run())
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread (tests)
            loop.add_signal_handler(signal.SIGHUP, on_hup)
        if config.watch:
            tasks.add(loop.create_task(service.watch(config.watch)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signal.SIGHUP)
            await run_in_threadpool(service.stop)

    routes = [
        Route("/v1/check", check, methods=["POST"]),
        Route("/v1/check/batch", check_batch, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/v1/policy", policy_info, methods=["GET"]),
        Route("/v1/policy/reload", reload, methods=["POST"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={Problem: on_problem, HTTPException: on_http_error, Exception: on_error})
    app.state.service = service
    return app


def app_from_env() -> Starlette:
    """The uvicorn factory of each worker process: the configuration comes from ``TXGUARD_SERVE_CONFIG``."""
    return create_app(ServeConfig.from_json(os.environ[CONFIG_ENV]))
