"""API keys through the Python client and the official `mcp` SDK: the operator creates a
scoped key; a client holding it sees and calls only what it grants, on REST, on `/mcp` in
both protocol eras and on the legacy `/sse` face; deleting the key stops it at once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.shared.exceptions import MCPError

from mcp_gateway import Forbidden, MCPGateway, ToolNotFound, Unauthorized, get_mcp_gateway
from mcp_gateway.errors import InvalidField, KeyNotFound


def _text(result: Any) -> str:
    return str(result.content[0].text)


def test_a_scoped_key_reaches_only_what_it_grants(gateway: MCPGateway) -> None:
    created = gateway.create_key("py-scoped", tools=["everything__echo", "everything__get-sum"])
    key, key_id = created["key"], created["key_id"]
    assert key.startswith("mgw_") and created["tools"] == ["everything__echo", "everything__get-sum"]
    assert all("key" not in k for k in gateway.list_keys())
    try:
        scoped = get_mcp_gateway(gateway.url, key)
        assert sorted(str(t["name"]) for t in scoped.list_tools()) == [
            "everything__echo",
            "everything__get-sum",
        ]
        assert scoped.call_tool("everything__echo", {"message": "hi"})["content"][0]["text"] == "Echo: hi"
        with pytest.raises(ToolNotFound):
            scoped.call_tool("everything__get-env", {})
        with pytest.raises(Forbidden):
            scoped.list_servers()
        with pytest.raises(Forbidden):
            scoped.create_key("escalate")

        async def mcp_era(mode: str | None) -> tuple[list[str], str, str]:
            options = {"mode": mode} if mode else {}
            async with scoped.mcp_client(**options) as client:
                names = sorted(t.name for t in (await client.list_tools()).tools)
                ok = _text(await client.call_tool("everything__echo", {"message": "era"}))
                try:
                    await client.call_tool("everything__get-env", {})
                    refused = "called"
                except MCPError as e:
                    refused = e.error.message
            return names, ok, refused

        for mode in ("legacy", None):
            names, ok, refused = asyncio.run(mcp_era(mode))
            assert names == ["everything__echo", "everything__get-sum"], mode
            assert ok == "Echo: era", mode
            assert "unknown tool" in refused and "everything__get-env" in refused, (mode, refused)

        async def over_sse() -> tuple[list[str], str]:
            url = gateway.url + "/sse"
            async with sse_client(url, headers={"Authorization": f"Bearer {key}"}) as streams:
                async with ClientSession(*streams) as session:
                    await session.initialize()
                    names = sorted(t.name for t in (await session.list_tools()).tools)
                    try:
                        await session.call_tool("everything__get-env", {})
                        refused = "called"
                    except MCPError as e:
                        refused = e.error.message
            return names, refused

        names, refused = asyncio.run(over_sse())
        assert names == ["everything__echo", "everything__get-sum"]
        assert "unknown tool" in refused

        narrowed = gateway.update_key(key_id, tools=["everything__echo"])
        assert narrowed["tools"] == ["everything__echo"]
        assert [t["name"] for t in scoped.list_tools()] == ["everything__echo"]
    finally:
        gateway.delete_key(key_id)
    with pytest.raises(Unauthorized):
        scoped.list_tools()
    with pytest.raises(KeyNotFound):
        gateway.get_key(key_id)


def test_key_requests_are_checked_before_sending(gateway: MCPGateway) -> None:
    with pytest.raises(InvalidField) as error:
        gateway.create_key("")
    assert error.value.field == "name"
    with pytest.raises(InvalidField) as error:
        gateway.create_key("x", tools="everything__*")
    assert error.value.field == "tools"
    with pytest.raises(InvalidField) as error:
        gateway.update_key("key_x", scope=["x"])
    assert error.value.field == "scope"
    with pytest.raises(InvalidField) as error:
        gateway.create_key("x", tools=["a["])
    assert error.value.field == "tools"


def test_policies_decide_what_a_key_sees_and_calls(gateway: MCPGateway) -> None:
    from mcp_gateway.errors import PolicyExists, PolicyInUse, PolicyNotFound

    created = gateway.create_policy(
        "py-no-env", effect="deny", when="tool.name == 'get-env'", description="no secrets"
    )
    assert created["name"] == "py-no-env" and created["source"] == "api"
    with pytest.raises(PolicyExists):
        gateway.create_policy("py-no-env", effect="deny", when="false")
    with pytest.raises(InvalidField) as bad:
        gateway.create_policy("py-bad", effect="deny", when="tool.name ==")
    assert bad.value.field == "when"
    key = gateway.create_key("py-policed", servers=["everything"], policies=["py-no-env"])
    try:
        policed = get_mcp_gateway(gateway.url, key["key"])
        names = {str(t["name"]) for t in policed.list_tools()}
        assert "everything__echo" in names and "everything__get-env" not in names
        with pytest.raises(ToolNotFound):
            policed.call_tool("everything__get-env", {})
        with pytest.raises(PolicyInUse):
            gateway.delete_policy("py-no-env")
        # A replaced policy acts at the next request.
        gateway.replace_policy("py-no-env", effect="deny", when="tool.name == 'echo'")
        names = {str(t["name"]) for t in policed.list_tools()}
        assert "everything__echo" not in names and "everything__get-env" in names
        assert [p["name"] for p in gateway.list_policies()] == ["py-no-env"]
    finally:
        gateway.delete_key(key["key_id"])
    gateway.delete_policy("py-no-env")
    with pytest.raises(PolicyNotFound):
        gateway.get_policy("py-no-env")


def test_a_key_keeps_its_own_credential_for_a_per_user_server(
    gateway: MCPGateway, everything_http_url: str
) -> None:
    from mcp_gateway.errors import CredentialNotFound, CredentialRequired

    gateway.register_server(
        {
            "server_id": "py-per-user",
            "url": everything_http_url,
            "auth_type": "bearer_token",
            "credentials": "per_user",
        }
    )
    from .conftest import wait_healthy

    wait_healthy(gateway, "py-per-user")
    key = gateway.create_key("py-credentials", servers=["py-per-user"])
    try:
        mine = get_mcp_gateway(gateway.url, key["key"])
        assert mine.has_credential("py-per-user") is False
        with pytest.raises(CredentialRequired):
            mine.call_tool("py-per-user__echo", {"message": "x"})
        answer = mine.set_credential("py-per-user", "my-own-upstream-token")
        assert "my-own-upstream-token" not in str(answer)
        assert mine.has_credential("py-per-user") is True
        echoed = mine.call_tool("py-per-user__echo", {"message": "mine"})
        assert echoed["content"][0]["text"] == "Echo: mine"
        with pytest.raises(InvalidField):
            gateway.set_credential("py-per-user", "the operator has none")
        mine.delete_credential("py-per-user")
        with pytest.raises(CredentialNotFound):
            mine.delete_credential("py-per-user")
    finally:
        gateway.delete_key(key["key_id"])
        gateway.unregister_server("py-per-user")
