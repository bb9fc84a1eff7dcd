"""Fixtures: a real gateway (the binary this package installed, started by
:func:`mcp_gateway.local_gateway`) in front of the official server-everything, over stdio
(from the config file) and streamable HTTP (registered through the API).

The npm peers come from ``tests/interop`` (``scripts/setup-interop.sh``); without them these
tests skip, unless ``MCP_GATEWAY_REQUIRE_INTEROP=1`` (CI), where that is an error.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mcp_gateway import MCPGateway, local_gateway

REPO = Path(__file__).resolve().parents[2]
MASTER_KEY = "sk-python-tests"


def _required() -> bool:
    return os.environ.get("MCP_GATEWAY_REQUIRE_INTEROP", "0") not in ("", "0", "false")


def _npm_bin(name: str) -> Path:
    path = REPO / "tests" / "interop" / "node_modules" / ".bin" / name
    if not path.exists():
        message = f"interop peer {name} is not installed (run scripts/setup-interop.sh)"
        if _required():
            pytest.fail(message)
        pytest.skip(message)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def everything_bin() -> Path:
    return _npm_bin("mcp-server-everything")


@pytest.fixture(scope="session")
def everything_http_url(everything_bin: Path) -> Iterator[str]:
    """server-everything over streamable HTTP on a free loopback port."""
    port = _free_port()
    process = subprocess.Popen(
        [str(everything_bin), "streamableHttp"],
        env={**os.environ, "PORT": str(port)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail(f"server-everything did not listen on port {port}")
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="session")
def gateway(everything_bin: Path) -> Iterator[MCPGateway]:
    """A gateway with a master key and server-everything over stdio as `everything`, healthy."""
    config = {
        "mcp_servers": {
            "everything": {"command": str(everything_bin), "args": ["stdio"], "name": "Everything"}
        }
    }
    with local_gateway(config, master_key=MASTER_KEY) as gw:
        wait_healthy(gw, "everything")
        yield gw


def wait_healthy(gw: MCPGateway, server_id: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        health = gw.get_server(server_id).get("health", {})
        if health.get("state") == "healthy":
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{server_id} did not become healthy: {health}")
        time.sleep(0.1)
