"""Every example runs, as a user would run it, and prints what it promises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

EXPECTED: dict[str, list[str]] = {
    "adk_checkout.py": [
        "[guard]  clarify: consent",
        "1 x Coffee Maker (sku 2115393569, product 7996920482) at 270.91 USD",
        "[host]   user approved on the trusted screen",
        "[tool]   order #1 placed: 270.91 USD",
        "orders placed: 1",
    ],
    "agent_loop.py": [
        "[guard]  clarify: consent",
        "[screen] Please confirm this checkout:",
        "1 x Coffee Maker (sku 2115393569, product 7996920482) at 270.91 USD",
        "[host]   user confirmed on the trusted screen",
        "[guard]  escalate: malformed",
        "[tool]   order #1 placed: 270.91 USD",
        "orders placed: 1",
    ],
    "async_agent_loop.py": [
        "[guard]  escalate (catalog_mismatch, consent), route human",
        "the agent says 199.99 USD, the catalog says 271.89 USD",
        "[guard]  clarify (consent)",
        "[host]   user tapped Confirm on the trusted screen",
        "[tool]   paid 271.89 USD with credit_card_5322562",
        "transcript: 8 messages",
    ],
    "langgraph_checkout.py": [
        "[guard]  clarify: consent",
        "1 x Coffee Maker (sku 2115393569, product 7996920482) at 270.91 USD",
        "[host]   user approved on the trusted screen",
        "[guard]  clarify: consent, quantity (the model changed the cart)",
        "[tool]   call_1: success: order #1 placed: 270.91 USD",
        "[tool]   call_2: error:",
        "orders placed: 1",
    ],
    "openai_agents_checkout.py": [
        "[guard]  clarify (consent) on call_2",
        "[screen] Please confirm this checkout:",
        "1 x Coffee Maker (sku 2115393569, product 7996920482) at 270.91 USD",
        "[host]   user confirmed on the trusted screen",
        "[guard]  call_1 did not run: escalate, route human",
        "the agent says 199.99 USD, the catalog says 270.91 USD",
        "[tool]   order #1 placed: 270.91 USD",
        "orders placed: 1",
    ],
    "pydantic_ai_checkout.py": [
        "[guard]  clarify (consent) on call_2",
        "[screen] Please confirm this checkout:",
        "1 x Coffee Maker (sku 2115393569, product 7996920482) at 270.91 USD",
        "[host]   user confirmed on the trusted screen",
        "[guard]  call_1 did not run: escalate, route human",
        "the agent says 199.99 USD, the catalog says 270.91 USD",
        "[tool]   order #1 placed: 270.91 USD",
        "orders placed: 1",
    ],
    "mcp_proxy_demo.py": [
        "[client] tools: checkout, add_to_cart, get_order",
        "[proxy]  not run (escalate): I can't do that: total: amount `'NaN'`",
        "[malformed]",
        "[screen] Please confirm this checkout:",
        "1 x Coffee Maker (sku 2115393569, product 7996920482) at 270.91 USD",
        "[user]   taps Confirm",
        "[tool]   order #W0000001 placed: 270.91 USD",
        "[proxy]  not run (escalate): I can't do that: tool `get_order` is not mapped by policy `retail`. [unknown_tool]",
    ],
}


RUN_ELSEWHERE = {
    # a server and a context provider: the MCP proxy's end-to-end tests (tests/integrations/test_mcp_proxy_*.py)
    # run them behind `txguard mcp-proxy`, through these helpers
    "mcp_commerce_server.py": "tests/integrations/mcp_helpers.py",
    "mcp_context.py": "tests/integrations/mcp_helpers.py",
}


def test_every_example_is_run_here() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted([*EXPECTED, *RUN_ELSEWHERE])
    for name, test in RUN_ELSEWHERE.items():
        assert name in (ROOT / test).read_text(encoding="utf-8"), (name, test)


NEEDS: dict[str, tuple[int, int]] = {"pydantic_ai_checkout.py": (3, 11)}
"""Examples whose framework requires a newer Python than txguard (pydantic-ai-slim 2.68: 3.11)."""


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs_and_prints_its_story(name: str) -> None:
    if sys.version_info < NEEDS.get(name, (3, 10)):
        pytest.skip(f"{name} needs Python >= {'.'.join(map(str, NEEDS[name]))}")
    run = subprocess.run([sys.executable, str(EXAMPLES / name)], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False, timeout=120)
    assert run.returncode == 0, run.stderr
    lines = run.stdout
    position = 0
    for wanted in EXPECTED[name]:
        found = lines.find(wanted, position)
        assert found >= 0, f"{name}: `{wanted}` missing (in order) from:\n{lines}"
        position = found + len(wanted)
