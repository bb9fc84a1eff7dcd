"""The seed specification's Python example, verbatim, against a running gateway."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import litellm_llmrouter
import mcp_gateway
from mcp_gateway import MCPGateway

from .conftest import MASTER_KEY

# From the seed's "Python SDK Usage", character for character.
SEED_SNIPPET = textwrap.dedent(
    """\
    from litellm_llmrouter import get_mcp_gateway, MCPServer, MCPTransport

    # Get gateway instance
    gateway = get_mcp_gateway()

    # Register an MCP server
    server = MCPServer(
        server_id="search-server",
        name="Search Service",
        url="http://localhost:8080/mcp",
        transport=MCPTransport.STREAMABLE_HTTP,
        tools=["web_search", "image_search"],
        resources=["search_results"]
    )
    gateway.register_server(server)

    # List all tools
    tools = gateway.list_tools()
    for tool in tools:
        print(f"Tool: {tool['tool']} from {tool['server_name']}")
    """
)


def test_the_seed_snippet_runs_verbatim(gateway: MCPGateway) -> None:
    env = {**os.environ, "MCP_GATEWAY_URL": gateway.url, "MCP_GATEWAY_MASTER_KEY": MASTER_KEY}
    try:
        run = subprocess.run(
            [sys.executable, "-c", SEED_SNIPPET],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stderr
        lines = run.stdout.splitlines()
        # The allowlisted tools are listed (not yet available: nothing listens on 8080).
        assert "Tool: web_search from Search Service" in lines
        assert "Tool: image_search from Search Service" in lines
        assert "Tool: echo from Everything" in lines
        tools = [t for t in gateway.list_tools() if t["server_id"] == "search-server"]
        assert {t["tool"] for t in tools} == {"web_search", "image_search"}
        assert all(t["server_id"] == "search-server" for t in tools)
        record = gateway.get_server("search-server")
        assert record["resources"] == ["search_results"]
        assert record["transport"] == "streamable_http"
    finally:
        gateway.unregister_server("search-server")


def test_the_seed_names_are_this_packages() -> None:
    assert litellm_llmrouter.get_mcp_gateway is mcp_gateway.get_mcp_gateway
    assert litellm_llmrouter.MCPServer is mcp_gateway.MCPServer
    assert litellm_llmrouter.MCPTransport is mcp_gateway.MCPTransport
    assert [t.value for t in mcp_gateway.MCPTransport] == ["streamable_http", "sse", "stdio"]
