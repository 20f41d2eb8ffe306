"""Render ``txguard audit report`` in headless Chromium and save a screenshot, to look at it.

    PYTHONPATH=. python scripts/audit_report_screenshot.py --png /tmp/audit-report.png

Builds a demo trail (the chat-to-buy dev corpus and some tau-bench cases, decided by
``policies/retail.yaml`` on a clock that steps through a working day), writes the HTML report,
and has Chromium (Debian package ``chromium``) screenshot it with networking disabled, so the
page must render from its own inline CSS and SVG. Exit 1 if Chromium or the screenshot is missing.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from txguard import Guard  # noqa: E402
from txguard.audit import open_sink  # noqa: E402
from txguard.cli import main as txguard  # noqa: E402


def _cases(name: str) -> list[dict[str, object]]:
    with gzip.open(ROOT / "tests" / "corpus" / name, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def build_trail(url: str) -> None:
    t = [datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)]

    def clock() -> datetime:
        t[0] += timedelta(seconds=41)
        return t[0]

    sink = open_sink(url)
    guard = Guard.from_file(ROOT / "policies" / "retail.yaml", clock=clock, audit=sink)
    cases = _cases("chat-to-buy-dev.jsonl.gz") + _cases("tau-retail-dev.jsonl.gz")[:90]
    random.Random(7).shuffle(cases)
    for i, case in enumerate(cases):
        session = dict(case.get("session") or {}, id=f"s-{i // 3:04d}", turn=i % 3)
        guard.check(case.get("proposal"), case.get("request"), session, case.get("facts"),
                    lineage={"source": "demo"})
    sink.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--png", default="audit-report.png")
    ap.add_argument("--html", default=None, help="keep the HTML here too")
    ap.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser") or "chromium")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="txguard-report-"))
    try:
        url = f"sqlite:{work / 'trail.db'}"
        build_trail(url)
        html = Path(args.html) if args.html else work / "report.html"
        code = txguard(["audit", "report", url, "--html", str(html), "--title", "Retail guard: audit report (demo)"])
        if code != 0:
            return code
        cmd = [args.chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={work / 'profile'}", "--hide-scrollbars", "--window-size=1000,1900",
               f"--screenshot={Path(args.png).resolve()}", html.resolve().as_uri()]
        try:
            subprocess.run(cmd, check=True, timeout=120, capture_output=True)
        except (OSError, subprocess.SubprocessError) as exc:
            print(f"chromium failed: {exc}", file=sys.stderr)
            return 1
        if not Path(args.png).is_file():
            print("chromium wrote no screenshot", file=sys.stderr)
            return 1
        print(f"wrote {args.png}")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
