"""README.md's Python examples run as written (only the gateway's address changes)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mcp_gateway import local_gateway

from .conftest import REPO, wait_healthy


def _python_blocks() -> list[str]:
    readme = REPO / "README.md"
    if not readme.exists():
        pytest.skip("not run from the repository")
    return re.findall(r"```python\n(.*?)```", readme.read_text(), re.S)


def _run(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_mcp_client_example_runs(everything_bin: Path) -> None:
    (block,) = [b for b in _python_blocks() if "from mcp import Client" in b]
    config = {"mcp_servers": {"everything": {"command": str(everything_bin), "args": ["stdio"]}}}
    with local_gateway(config, master_key="") as gw:
        wait_healthy(gw, "everything")
        run = _run(block.replace("http://127.0.0.1:4000", gw.url))
    assert run.returncode == 0, run.stderr
    assert "Echo: hi" in run.stdout


def test_every_python_example_compiles() -> None:
    blocks = _python_blocks()
    assert len(blocks) >= 3
    for block in blocks:
        compile(block, "README.md", "exec")
