"""The MCP guard proxy's context providers and command line (end to end tests: test_mcp_proxy_*.py)."""

from __future__ import annotations

import copy
import json
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from txguard import UsageError
from txguard.core.jsonio import DuplicateKeyError
from txguard.integrations.mcp_context import MAX_FACTS_BYTES, facts_url_provider, load_context_provider

from ..conftest import ROOT
from ..helpers import object_paths, value_at, with_repeated_key
from .mcp_helpers import CART, RETAIL, accept, audit_records, proxy, proxy_params, recorded, run, text

EXAMPLE_CONTEXT = dict(load_context_provider(f"{ROOT / 'examples' / 'mcp_context.py'}:context")("checkout", {}))


@contextmanager
def facts_server(answer: Any, *, status: int = 200, delay: float = 0.0,
                 drip: float | None = None) -> Iterator[tuple[str, list[Any]]]:
    """A real facts endpoint on a loopback port; yields its URL and the bodies it received.

    ``answer`` as ``bytes`` is sent verbatim; ``drip`` sends the body one byte every ``drip`` seconds.
    """
    received: list[Any] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server hook's name
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            time.sleep(delay)
            body = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if drip is None:
                    self.wfile.write(body)
                else:
                    for n in range(min(len(body), 200)):  # bounded: the client leaves long before
                        self.wfile.write(body[n:n + 1])
                        self.wfile.flush()
                        time.sleep(drip)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client timed out and left, as the timeout test intends

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/context", received
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


# -- context providers -------------------------------------------------------------------------------

def test_a_provider_loads_from_a_module_or_a_file() -> None:
    by_file = load_context_provider(f"{ROOT / 'examples' / 'mcp_context.py'}:context")
    by_module = load_context_provider("examples.mcp_context:context")
    assert by_file("checkout", {})["session"] == {"authenticated_user_id": "chen_smith_8425", "confirmed": []}
    assert by_module("checkout", {}) == by_file("checkout", {})


@pytest.mark.parametrize("spec, message", [
    ("examples.mcp_context", "--context: expected `module:callable` or `file.py:callable`, got `examples.mcp_context`"),
    ("no_such_module_xyz:fn", "--context: cannot load `no_such_module_xyz:fn`: ModuleNotFoundError: No module named 'no_such_module_xyz'"),
    ("examples.mcp_context:nope", "--context: cannot load `examples.mcp_context:nope`: AttributeError: module 'examples.mcp_context' has no attribute 'nope'"),
    ("examples.mcp_context:CATALOG", "--context: `examples.mcp_context:CATALOG` is not callable"),
])
def test_a_provider_that_cannot_be_loaded_is_a_usage_error(spec: str, message: str) -> None:
    with pytest.raises(UsageError) as err:
        load_context_provider(spec)
    assert str(err.value) == message


def test_the_facts_endpoint_receives_the_call_and_answers_the_context() -> None:
    with facts_server(EXAMPLE_CONTEXT) as (url, received):
        assert facts_url_provider(url)("checkout", CART) == EXAMPLE_CONTEXT
    assert received == [{"tool": "checkout", "arguments": CART}]


@pytest.mark.parametrize("answer, status, delay, error", [
    ([1, 2], 200, 0.0, "the facts endpoint answered a JSON list, not an object"),
    ({"error": "down"}, 503, 0.0, "the facts endpoint answered HTTP 503"),
    (EXAMPLE_CONTEXT, 200, 2.0, "timed out"),
])
def test_a_failing_facts_endpoint_raises(answer: Any, status: int, delay: float, error: str) -> None:
    with facts_server(answer, status=status, delay=delay) as (url, _):
        with pytest.raises(Exception) as err:  # noqa: B017 - whatever it raises, the proxy escalates
            facts_url_provider(url, timeout=0.5)("checkout", CART)
    assert error in str(err.value)


def test_a_facts_answer_repeating_a_key_at_any_depth_is_refused() -> None:
    rng = random.Random(15)
    places = [(path, key) for path in object_paths(EXAMPLE_CONTEXT) for key in value_at(EXAMPLE_CONTEXT, path)]
    assert len(places) > 100
    for path, key in [*places[:10], *rng.sample(places, 30)]:  # the top levels, then anywhere
        body = with_repeated_key(EXAMPLE_CONTEXT, path, key, rng.choice(["x", 0, None, {"a": 1}]))
        with facts_server(body.encode()) as (url, _):
            with pytest.raises(DuplicateKeyError) as err:
                facts_url_provider(url)("checkout", CART)
        assert err.value.key == key


def test_a_facts_endpoint_that_drips_its_body_is_bounded_by_the_timeout() -> None:
    # Each byte comes well within the per-read timeout, so only a bound on the whole body ends the call.
    with facts_server(EXAMPLE_CONTEXT, drip=0.05) as (url, _):
        with pytest.raises(TimeoutError) as err:
            facts_url_provider(url, timeout=0.5)("checkout", CART)
    assert str(err.value) == "the facts endpoint did not answer within 0.5s"


def test_a_facts_answer_larger_than_the_bound_is_refused() -> None:
    big = b'{"facts": "' + b"x" * MAX_FACTS_BYTES + b'"}'
    with facts_server(big) as (url, _):
        with pytest.raises(ValueError) as err:
            facts_url_provider(url, timeout=30)("checkout", CART)
    assert str(err.value) == f"the facts endpoint answered more than {MAX_FACTS_BYTES} bytes"


def test_a_facts_url_must_be_http() -> None:
    with pytest.raises(UsageError, match="expected an http"):
        facts_url_provider("file:///etc/passwd")


# -- through the proxy --------------------------------------------------------------------------------

def test_the_proxy_decides_with_the_facts_endpoints_context(tmp_path: Path) -> None:
    shown: list[str] = []
    with facts_server(EXAMPLE_CONTEXT) as (url, received):
        async def scenario() -> None:
            async with proxy(proxy_params(tmp_path, "--facts-url", url), elicit=accept(shown)) as client:
                result = await client.call_tool("checkout", copy.deepcopy(CART))
                assert not result.is_error, text(result)
        run(scenario)
    assert received == [{"tool": "checkout", "arguments": CART}] * 2  # decided, then re-checked after the yes
    assert recorded(tmp_path / "executed.jsonl") == [{"tool": "checkout", "arguments": CART}]


def test_an_unreachable_facts_endpoint_escalates_and_is_audited(tmp_path: Path) -> None:
    from .mcp_helpers import free_port

    errlog = tmp_path / "proxy.err"

    async def scenario() -> None:
        params = proxy_params(tmp_path, "--facts-url", f"http://127.0.0.1:{free_port()}/context")
        with open(errlog, "w", encoding="utf-8") as err:
            async with proxy(params, elicit=accept([]), errlog=err) as client:
                result = await client.call_tool("checkout", copy.deepcopy(CART))
                assert result.is_error
                assert result.structured_content["outcome"] == "escalate"
                assert [r["code"] for r in result.structured_content["reasons"]] == ["malformed_context"]
    run(scenario)
    assert "txguard mcp-proxy: context provider failed on `checkout`: URLError" in errlog.read_text(encoding="utf-8")
    assert recorded(tmp_path / "executed.jsonl") == []
    [record] = audit_records(tmp_path / "audit.jsonl")
    assert record["decision"]["outcome"] == "escalate"


# -- command line -------------------------------------------------------------------------------------

def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "txguard.cli", "mcp-proxy", *args], capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL, cwd=ROOT)


@pytest.mark.parametrize("args, code, stderr", [
    (["--policy", RETAIL], 1, "txguard mcp-proxy: give the upstream server either as `-- COMMAND...` or as `--upstream URL`\n"),
    (["--policy", RETAIL, "--upstream", "http://127.0.0.1:1/mcp", "--", "python", "x.py"], 1,
     "txguard mcp-proxy: give the upstream server either as `-- COMMAND...` or as `--upstream URL`\n"),
    (["--policy", RETAIL, "--context", "nope", "--", "python", "x.py"], 1,
     "txguard mcp-proxy: --context: expected `module:callable` or `file.py:callable`, got `nope`\n"),
    (["--policy", RETAIL, "--listen", "8000", "--", "python", "x.py"], 1, "txguard mcp-proxy: --listen: expected HOST:PORT, got `8000`\n"),
    (["--policy", "no/such/policy.yaml", "--", "python", "x.py"], 3, None),
])
def test_bad_options_exit_with_the_documented_codes(args: list[str], code: int, stderr: str | None) -> None:
    done = _cli(*args)
    assert done.returncode == code, done.stderr
    if stderr is not None:
        assert done.stderr == stderr
    assert "Traceback" not in done.stderr
