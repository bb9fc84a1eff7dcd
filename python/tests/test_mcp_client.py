"""`mcp_client()`: the official MCP SDK's client, connected to the gateway with its key."""

from __future__ import annotations

import asyncio

from mcp_gateway import MCPGateway, get_async_mcp_gateway

from .conftest import MASTER_KEY


def test_mcp_client_calls_a_tool_through_the_gateway(gateway: MCPGateway) -> None:
    async def scenario() -> tuple[str, str, list[str]]:
        async with gateway.mcp_client() as client:
            tools = await client.list_tools()
            result = await client.call_tool("everything__echo", {"message": "via mcp"})
        async with gateway.mcp_client(server_id="everything", mode="legacy") as one_server:
            single = await one_server.call_tool("echo", {"message": "one server"})
        return (
            result.content[0].text,  # type: ignore[union-attr]
            single.content[0].text,  # type: ignore[union-attr]
            [t.name for t in tools.tools],
        )

    text, single, names = asyncio.run(scenario())
    assert text == "Echo: via mcp"
    assert single == "Echo: one server"
    assert "everything__echo" in names


def test_the_async_clients_mcp_client_carries_the_key(gateway: MCPGateway) -> None:
    async def scenario() -> str:
        async with get_async_mcp_gateway(gateway.url, MASTER_KEY) as gw:
            async with gw.mcp_client() as client:
                result = await client.call_tool("everything__echo", {"message": "async"})
                return result.content[0].text  # type: ignore[union-attr]

    assert asyncio.run(scenario()) == "Echo: async"
