"""The browser client's static checks: tsc in strict mode over the JSDoc types, and eslint.

Both run the tools installed by `npm ci` (package.json, package-lock.json) with the project's
own configuration (jsconfig.json, eslint.config.js); their whole output is in the failure.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "node_modules" / ".bin"


def run_tool(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    tool = BIN / name
    if not tool.exists():
        pytest.fail(f"{tool} is missing: run npm ci (tests/run.sh does)")
    return subprocess.run(
        [str(tool), *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )


def test_the_pages_pass_tsc_strict() -> None:
    result = run_tool("tsc", "-p", "jsconfig.json")
    assert result.returncode == 0, f"tsc -p jsconfig.json:\n{result.stdout}{result.stderr}"


def test_the_pages_pass_eslint() -> None:
    result = run_tool("eslint", "web")
    assert result.returncode == 0, f"eslint web:\n{result.stdout}{result.stderr}"


def test_the_checks_cover_every_script_of_the_pages() -> None:
    """tsc's file list (jsconfig.json) holds every script in web/: none is left unchecked."""
    result = run_tool("tsc", "-p", "jsconfig.json", "--listFilesOnly")
    listed = {Path(line).resolve() for line in result.stdout.splitlines() if line.strip()}
    scripts = set((ROOT / "web").rglob("*.js")) | {ROOT / "web" / "messages.d.ts"}
    assert {p.resolve() for p in scripts} <= listed
