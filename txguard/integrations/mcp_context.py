"""Context providers of the MCP proxy: where the host's ``request``, ``session`` and ``facts`` of
one ``tools/call`` come from (the proxy sees only the tool and its arguments).

A provider is a callable ``(tool, arguments) -> {"request", "session", "facts"}``: the host's own
function (``--context pkg.mod:fn`` or ``file.py:fn``, :func:`load_context_provider`) or an HTTP
endpoint (``--facts-url``, :func:`facts_url_provider`). Anything a provider raises escalates the
call: the proxy fails closed. Needs nothing beyond the standard library.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..core.errors import UsageError
from ..core.jsonio import read_json

__all__ = ["MAX_FACTS_BYTES", "ContextProvider", "facts_url_provider", "load_context_provider"]

ContextProvider = Callable[[str, Any], Mapping[str, Any]]
"""``(tool, arguments) -> {"request", "session", "facts"}``: the host's context of one call."""


def load_context_provider(spec: str) -> ContextProvider:
    """The callable named by ``spec``: ``package.module:function`` or ``path/to/file.py:function``.

    Raises:
        UsageError: the module or the attribute cannot be loaded, or it is not callable.
    """
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise UsageError(f"--context: expected `module:callable` or `file.py:callable`, got `{spec}`")
    try:
        if target.endswith(".py") or "/" in target:
            path = Path(target)
            loader_spec = importlib.util.spec_from_file_location(f"_txguard_context_{path.stem}", path)
            if loader_spec is None or loader_spec.loader is None:
                raise ImportError(f"cannot load `{target}`")
            module = importlib.util.module_from_spec(loader_spec)
            loader_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
        fn = getattr(module, attr)
    except Exception as exc:  # noqa: BLE001 - any failure to load the host's code is a usage error
        raise UsageError(f"--context: cannot load `{spec}`: {type(exc).__name__}: {exc}") from None
    if not callable(fn):
        raise UsageError(f"--context: `{spec}` is not callable")
    return fn  # type: ignore[no-any-return]


MAX_FACTS_BYTES = 16 << 20
"""The largest answer of a facts endpoint (:func:`facts_url_provider`) the proxy reads."""


def facts_url_provider(url: str, *, timeout: float = 5.0) -> ContextProvider:
    """A provider that POSTs ``{"tool", "arguments"}`` as JSON to ``url`` and reads the context back.

    The endpoint answers ``200`` with a JSON object ``{"request", "session", "facts"}``. Anything
    else (a non-2xx status, a timeout, a body that is not a JSON object, repeats a key or is larger
    than :data:`MAX_FACTS_BYTES`; a body not read whole within ``timeout``) raises, and the call is
    escalated: the proxy fails closed.
    """
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"--facts-url: expected an http(s) URL, got `{url}`")

    def provide(tool: str, arguments: Any) -> Mapping[str, Any]:
        body = json.dumps({"tool": tool, "arguments": arguments}).encode("utf-8")
        req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
        deadline = time.monotonic() + timeout
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - the operator's URL
                # `timeout` bounds each socket read; the deadline bounds the whole body, so an endpoint
                # that drips bytes cannot hold the call forever, nor can an endless body fill memory.
                chunks: list[bytes] = []
                size = 0
                while chunk := resp.read1(1 << 16):
                    size += len(chunk)
                    if size > MAX_FACTS_BYTES:
                        raise ValueError(f"the facts endpoint answered more than {MAX_FACTS_BYTES} bytes")
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"the facts endpoint did not answer within {timeout}s")
                    chunks.append(chunk)
        except urllib.error.HTTPError as exc:
            exc.close()  # it holds the response's socket
            raise OSError(f"the facts endpoint answered HTTP {exc.code}") from None
        # Trusted facts with a repeated key are ambiguous: refused (and the call escalated), never
        # read as their last value.
        value = read_json(b"".join(chunks))
        if not isinstance(value, dict):
            raise ValueError(f"the facts endpoint answered a JSON {type(value).__name__}, not an object")
        return value

    return provide
