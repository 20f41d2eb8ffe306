"""The pytest plugin: suites as pytest items, through ``-p`` and through the installed entry point.

Each test runs pytest in a subprocess, as a team's CI would. The entry point is exercised by a
throw-away ``*.dist-info`` on ``PYTHONPATH`` that declares the same ``pytest11`` entry point as
``pyproject.toml``, so the test does not depend on how txguard was installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from txguard.authoring.suite_load import load_suite

from .conftest import POLICIES, ROOT

ENTRY_POINT = "txguard.pytest_plugin"


def _pytest(args: list[str], cwd: Path, extra_path: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    paths = [str(ROOT)] + ([str(extra_path)] if extra_path else [])
    env["PYTHONPATH"] = os.pathsep.join(paths + [env["PYTHONPATH"]] if env.get("PYTHONPATH") else paths)
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTEST_PLUGINS", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _fake_install(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    info = site / "txguard_plugin_probe-0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: txguard-plugin-probe\nVersion: 0.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[pytest11]\n{ENTRY_POINT} = txguard.pytest_plugin\n", encoding="utf-8")
    return site


def _wrong_suite(tmp_path: Path) -> Path:
    text = (POLICIES / "retail.tests.yaml").read_text(encoding="utf-8")
    text = text.replace("want: {outcome: clarify, reasons: [quantity]}", "want: {outcome: allow}")
    path = tmp_path / "wrong.tests.yaml"
    path.write_text(text.replace("policy: retail.yaml", f"policy: {POLICIES / 'retail.yaml'}"), encoding="utf-8")
    return path


def test_pyproject_declares_the_entry_point_under_the_module_name() -> None:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        project = tomllib.load(fh)["project"]
    assert project["entry-points"]["pytest11"] == {ENTRY_POINT: "txguard.pytest_plugin"}


def test_plugin_collects_and_runs_the_shipped_suites() -> None:
    n = sum(len(load_suite(p).cases) for p in POLICIES.rglob("*.tests.yaml"))  # policies/grocery/ too
    proc = _pytest(["-p", "txguard.pytest_plugin", "-q", str(POLICIES)], cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{n} passed" in proc.stdout


def test_a_failing_case_has_a_readable_report(tmp_path: Path) -> None:
    path = _wrong_suite(tmp_path)
    proc = _pytest(["-p", "txguard.pytest_plugin", "-q", path.name], cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAILED wrong.tests.yaml::case[20]: two pairs when the user asked for one" in proc.stdout
    assert "  - outcome: want allow, got clarify\n" in proc.stdout
    assert "    quantity [quantity, clarify]: the cart holds 2 units; the user asked for 1\n" in proc.stdout
    assert "Traceback" not in proc.stdout


def test_a_broken_suite_is_a_located_collection_error(tmp_path: Path) -> None:
    (tmp_path / "broken.tests.yaml").write_text("cases:\n  - note: n\n    want: {outcome: maybe}\n", encoding="utf-8")
    proc = _pytest(["-p", "txguard.pytest_plugin", "-q", "broken.tests.yaml"], cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "broken.tests.yaml:2:5: txg-suite: every case needs a `proposal`" in proc.stdout
    assert "broken.tests.yaml:3:21: txg-suite: `outcome` must be one of allow, clarify, escalate, got `maybe`" in proc.stdout


def test_the_entry_point_alone_collects_suites(tmp_path: Path) -> None:
    site = _fake_install(tmp_path)
    path = _wrong_suite(tmp_path)
    proc = _pytest(["-q", path.name], cwd=tmp_path, extra_path=site)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "1 failed" in proc.stdout
    # Without the plugin, the file is not a test file at all.
    proc = _pytest(["-q", "-p", f"no:{ENTRY_POINT}", path.name], cwd=tmp_path, extra_path=site)
    assert proc.returncode == 4 or "no tests ran" in proc.stdout, proc.stdout + proc.stderr


def test_entry_point_and_dash_p_together_register_once(tmp_path: Path) -> None:
    site = _fake_install(tmp_path)
    path = _wrong_suite(tmp_path)
    n = len(load_suite(path).cases)
    proc = _pytest(["-p", "txguard.pytest_plugin", "-q", path.name], cwd=tmp_path, extra_path=site)
    assert "already registered" not in proc.stdout + proc.stderr
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"1 failed, {n - 1} passed" in proc.stdout
