"""docs/python-api.md is the package's API as it is."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import REPO

SCRIPT = REPO / "python" / "scripts" / "api_reference.py"


def test_the_api_reference_is_up_to_date() -> None:
    if not SCRIPT.exists():
        pytest.skip("not run from the repository")
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
