"""A gateway run from Python (`local_gateway`), the binary the wheel installs, and
`python -m mcp_gateway`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

import mcp_gateway
from mcp_gateway import GatewayProcess, GatewayStartError, async_local_gateway, find_binary, local_gateway

from .conftest import _free_port


def _gone(pid: int) -> bool:
    """The process has exited and been reaped (no zombie left)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_local_gateway_serves_a_config_dict_and_is_reaped(everything_bin: Path) -> None:
    config = {
        "gateway": {"tool_name_separator": "--"},
        "mcp_servers": {"ev": {"command": str(everything_bin), "args": ["stdio"]}},
    }
    with GatewayProcess(config) as process:
        pid = process.pid
        assert pid is not None
        with mcp_gateway.MCPGateway(process.url, "") as gw:
            assert gw.health()["status"] == "ready"
            for _ in range(600):
                if any(t["name"] == "ev--echo" for t in gw.list_tools() if t["available"]):
                    break
                time.sleep(0.1)
            assert gw.call_tool("ev--echo", {"message": "local"})["content"][0]["text"] == "Echo: local"
        # Its SQLite store and log are in its own temporary directory.
        assert process.log_path is not None and process.log_path.exists()
        workdir = process.log_path.parent
    assert not workdir.exists()
    assert process.stop() is None  # already stopped
    assert _gone(pid)


def test_local_gateway_yields_a_client_with_the_key() -> None:
    with local_gateway(master_key="sk-local") as gw:
        assert gw.list_servers() == []
        with mcp_gateway.MCPGateway(gw.url, "") as keyless, pytest.raises(mcp_gateway.Unauthorized):
            keyless.list_servers()


def test_a_config_file_path_is_accepted(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text("gateway:\n  tool_name_policy: prefix_on_conflict\nmcp_servers: {}\n")
    with local_gateway(config) as gw:
        assert gw.liveliness()["status"] == "alive"


def test_a_bad_config_says_why_the_gateway_stopped() -> None:
    with pytest.raises(GatewayStartError) as raised:
        with local_gateway({"gateway": {"no_such_setting": 1}}):
            pass
    message = str(raised.value)
    assert "code 64" in message
    assert "no_such_setting" in message


def test_a_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        with local_gateway(tmp_path / "absent.yaml"):
            pass


def test_async_local_gateway() -> None:
    async def scenario() -> list[str]:
        async with async_local_gateway() as gw:
            assert (await gw.health())["status"] == "ready"
            return [s["server_id"] for s in await gw.list_servers()]

    assert asyncio.run(scenario()) == []


def test_the_binary_is_the_one_installed_with_the_package() -> None:
    if os.environ.get("MCP_GATEWAY_BIN"):
        pytest.skip("MCP_GATEWAY_BIN chooses the binary")
    binary = find_binary()
    assert binary.parent == Path(sysconfig.get_path("scripts")), binary
    version = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("mcp-gateway ")


def test_python_m_mcp_gateway_runs_the_binary() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "mcp_gateway", "--version"], capture_output=True, text=True, timeout=30
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("mcp-gateway ")
    # Its admin commands too, against a gateway that is not there: a clear failure.
    url = f"http://127.0.0.1:{_free_port()}"
    run = subprocess.run(
        [sys.executable, "-m", "mcp_gateway", "servers", "list", "--url", url],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode != 0
    assert url.split("//")[1] in run.stderr or "connect" in run.stderr.lower()
