"""The asyncio client: the same calls, awaited, against the same gateway."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from mcp_gateway import AsyncMCPGateway, ConnectionFailed, MCPGateway, MCPServer, errors, get_async_mcp_gateway

from .conftest import MASTER_KEY, _free_port


def test_async_client_calls_every_route(gateway: MCPGateway, everything_http_url: str) -> None:
    server_id = f"async-{uuid.uuid4().hex[:8]}"

    async def scenario() -> None:
        async with get_async_mcp_gateway(gateway.url, MASTER_KEY) as gw:
            assert (await gw.liveliness())["status"] == "alive"
            assert (await gw.health())["status"] == "ready"
            registered = await gw.register_server(
                MCPServer(server_id=server_id, url=everything_http_url, tools=["echo"])
            )
            assert registered["status"] == "registered"
            with pytest.raises(errors.ServerExists):
                await gw.register_server({"server_id": server_id, "url": everything_http_url})
            for _ in range(600):
                if (await gw.get_server(server_id))["health"]["state"] == "healthy":
                    break
                await asyncio.sleep(0.1)
            servers, tools, resources, templates, prompts = await asyncio.gather(
                gw.list_servers(),
                gw.list_tools(),
                gw.list_resources(),
                gw.list_resource_templates(),
                gw.list_prompts(),
            )
            assert server_id in {s["server_id"] for s in servers}
            assert f"{server_id}__echo" in {t["name"] for t in tools}
            assert resources and templates and prompts
            # Concurrent calls on one client each get their own answer.
            results = await asyncio.gather(
                *(gw.call_tool(f"{server_id}__echo", {"message": f"m{i}"}) for i in range(8))
            )
            assert [r["content"][0]["text"] for r in results] == [f"Echo: m{i}" for i in range(8)]
            updated = await gw.update_server({"server_id": server_id, "url": everything_http_url, "name": "N"})
            assert updated["status"] == "updated"
            assert (await gw.unregister_server(server_id))["status"] == "unregistered"
            with pytest.raises(errors.ServerNotFound):
                await gw.get_server(server_id)
        async with AsyncMCPGateway(f"http://127.0.0.1:{_free_port()}", "k") as down:
            with pytest.raises(ConnectionFailed):
                await down.list_servers()

    asyncio.run(scenario())
