"""The sync client against a real gateway: every REST call, and every error as its exception."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from mcp_gateway import (
    AuthType,
    ConnectionFailed,
    MCPGateway,
    MCPServer,
    MCPTransport,
    errors,
    get_mcp_gateway,
)

from .conftest import MASTER_KEY, _free_port, wait_healthy


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _text(result: dict[str, Any]) -> str:
    return "".join(part.get("text", "") for part in result["content"])


def test_the_configured_server_is_listed_with_its_tools(gateway: MCPGateway) -> None:
    servers = {s["server_id"]: s for s in gateway.list_servers()}
    everything = servers["everything"]
    assert everything["transport"] == "stdio"
    assert everything["source"] == "config"
    assert everything["health"]["state"] == "healthy"
    assert everything["discovered"]["tools"] > 0

    tools = gateway.list_tools()
    echo = next(t for t in tools if t["server_id"] == "everything" and t["tool"] == "echo")
    assert echo["name"] == "everything__echo"
    assert echo["server_name"] == "Everything"
    assert echo["available"] is True
    assert echo["input_schema"]["type"] == "object"


def test_resources_templates_and_prompts_are_listed(gateway: MCPGateway) -> None:
    resources = gateway.list_resources()
    assert resources and all(r["server_id"] == "everything" for r in resources)
    assert all(r["uri"] for r in resources)
    templates = gateway.list_resource_templates()
    assert templates and all(t["uri_template"] for t in templates)
    prompts = gateway.list_prompts()
    assert prompts and all(p["name"].startswith("everything__") for p in prompts if p["name"])


def test_call_tool_by_exposed_name_and_by_server_and_tool(gateway: MCPGateway) -> None:
    result = gateway.call_tool("everything__echo", {"message": "hello"})
    assert _text(result) == "Echo: hello"
    assert not result.get("isError")
    result = gateway.call_tool(server_id="everything", tool="get-sum", arguments={"a": 2, "b": 40})
    assert "42" in _text(result)


def test_register_get_update_and_unregister_a_streamable_http_server(
    gateway: MCPGateway, everything_http_url: str
) -> None:
    server_id = _id("http")
    server = MCPServer(
        server_id=server_id,
        name="Everything over HTTP",
        url=everything_http_url,
        transport=MCPTransport.STREAMABLE_HTTP,
        tools=["echo", "get-sum"],
        metadata={"version": "1.0.0"},
    )
    answer = gateway.register_server(server)
    assert answer["status"] == "registered"
    assert answer["server_id"] == server_id
    wait_healthy(gateway, server_id)

    record = gateway.get_server(server_id)
    assert record["name"] == "Everything over HTTP"
    assert record["tools"] == ["echo", "get-sum"]
    assert record["metadata"] == {"version": "1.0.0"}
    assert record["source"] == "api"
    assert record["exposed"]["tools"] == 2  # the allowlist
    assert record["discovered"]["tools"] > 2

    result = gateway.call_tool(f"{server_id}__echo", {"message": "over http"})
    assert _text(result) == "Echo: over http"

    updated = gateway.update_server(
        {"server_id": server_id, "url": everything_http_url, "tools": ["echo"], "name": "Renamed"}
    )
    assert updated["status"] == "updated"
    assert gateway.get_server(server_id)["name"] == "Renamed"
    names = {t["name"] for t in gateway.list_tools() if t["server_id"] == server_id}
    assert names == {f"{server_id}__echo"}

    gone = gateway.unregister_server(server_id)
    assert gone == {"status": "unregistered", "server_id": server_id}
    with pytest.raises(errors.ServerNotFound) as raised:
        gateway.get_server(server_id)
    assert raised.value.status == 404
    assert raised.value.code == "server_not_found"


def test_secrets_are_write_only(gateway: MCPGateway) -> None:
    server_id = _id("secret")
    gateway.register_server(
        MCPServer(
            server_id=server_id,
            url=f"http://127.0.0.1:{_free_port()}/mcp",
            auth_type=AuthType.BEARER_TOKEN,
            auth_value="upstream-token",
            headers={"X-Team": "blue"},
        )
    )
    try:
        record = gateway.get_server(server_id)
        assert record["auth_configured"] is True
        assert record["header_names"] == ["X-Team"]
        assert "upstream-token" not in repr(record) and "blue" not in repr(record)
    finally:
        gateway.unregister_server(server_id)


def test_errors_carry_the_gateways_code_message_and_field(gateway: MCPGateway) -> None:
    server_id = _id("dup")
    url = f"http://127.0.0.1:{_free_port()}/mcp"
    gateway.register_server(MCPServer(server_id=server_id, url=url))
    try:
        with pytest.raises(errors.ServerExists) as exists:
            gateway.register_server(MCPServer(server_id=server_id, url=url))
        assert exists.value.status == 409 and exists.value.code == "server_exists"
        assert server_id in exists.value.message
    finally:
        gateway.unregister_server(server_id)

    with pytest.raises(errors.ServerNotFound):
        gateway.unregister_server(_id("missing"))
    with pytest.raises(errors.ToolNotFound) as unknown_tool:
        gateway.call_tool("everything__no_such_tool", {})
    assert unknown_tool.value.status == 404
    # Checked by the gateway, not here: its address policy.
    with pytest.raises(errors.Forbidden) as forbidden:
        gateway.register_server(MCPServer(server_id=_id("meta"), url="http://169.254.169.254/mcp"))
    assert forbidden.value.field == "url" and forbidden.value.status == 403
    with pytest.raises(errors.Forbidden) as stdio:
        gateway.register_server(MCPServer(server_id=_id("cmd"), command="echo"))
    assert stdio.value.field == "transport"
    with pytest.raises(errors.ServerDefinedInConfig):
        gateway.update_server(MCPServer(server_id="everything", url=url))


def test_bad_records_are_refused_before_sending(gateway: MCPGateway) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"server_id": "has space", "url": "http://x/mcp"}, "server_id"),
        ({"server_id": "x" * 129, "url": "http://x/mcp"}, "server_id"),
        ({"server_id": "ok"}, "url"),
        ({"server_id": "ok", "url": "ftp://x/mcp"}, "url"),
        ({"server_id": "ok", "url": "http://u:p@x/mcp"}, "url"),
        ({"server_id": "ok", "url": "http://x/mcp", "transport": "carrier_pigeon"}, "transport"),
        ({"server_id": "ok", "url": "http://x/mcp", "timeout_secs": 0}, "timeout_secs"),
        ({"server_id": "ok", "url": "http://x/mcp", "tools": ["a", ""]}, "tools[1]"),
        ({"server_id": "ok", "url": "http://x/mcp", "headers": {"Mcp-Session-Id": "1"}}, "headers.Mcp-Session-Id"),
        ({"server_id": "ok", "url": "http://x/mcp", "auth_type": "basic", "auth_value": "nocolon"}, "auth_value"),
        ({"server_id": "ok", "transport": "stdio"}, "command"),
        ({"server_id": "ok", "url": "http://x/mcp", "colour": "blue"}, "colour"),
    ]
    before = len(gateway.list_servers())
    for fields, field in cases:
        with pytest.raises(errors.InvalidField) as raised:
            gateway.register_server(fields)
        assert raised.value.field == field, (fields, raised.value)
    assert len(gateway.list_servers()) == before


def test_the_gateways_own_field_errors_map_to_invalid_field(gateway: MCPGateway) -> None:
    # A body the client would refuse, sent raw: the gateway's 422 as the client reads it.
    from mcp_gateway._routes import Call

    with pytest.raises(errors.InvalidField) as raised:
        gateway._send(Call("POST", "/mcp/servers", dict, body={"server_id": "x", "url": 42}))
    assert raised.value.status == 422 and raised.value.field == "url"


def test_a_wrong_key_is_unauthorized(gateway: MCPGateway) -> None:
    with MCPGateway(gateway.url, "sk-wrong") as wrong:
        with pytest.raises(errors.Unauthorized) as raised:
            wrong.list_servers()
    assert raised.value.status == 401
    with MCPGateway(gateway.url, "") as keyless:
        with pytest.raises(errors.Unauthorized):
            keyless.list_tools()


def test_health_routes(gateway: MCPGateway) -> None:
    assert gateway.liveliness() == {"status": "alive"}
    health = gateway.health()
    assert health["status"] == "ready"
    assert health["servers"]["healthy"] >= 1


def test_an_unreachable_gateway_names_its_url() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    with get_mcp_gateway(url, "k") as gw, pytest.raises(ConnectionFailed) as raised:
        gw.list_tools()
    assert url in str(raised.value)
    assert raised.value.status is None


def test_defaults_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, gateway: MCPGateway) -> None:
    monkeypatch.setenv("MCP_GATEWAY_URL", gateway.url + "/")
    monkeypatch.setenv("MCP_GATEWAY_MASTER_KEY", MASTER_KEY)
    with get_mcp_gateway() as gw:
        assert gw.url == gateway.url
        assert any(s["server_id"] == "everything" for s in gw.list_servers())
    monkeypatch.delenv("MCP_GATEWAY_URL")
    assert get_mcp_gateway().url == "http://127.0.0.1:4000"


def test_a_gateway_that_does_not_answer_in_time_is_a_client_timeout() -> None:
    # A listener that accepts and never answers.
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"http://127.0.0.1:{server.getsockname()[1]}"
        with MCPGateway(url, "k", timeout=0.5) as gw, pytest.raises(errors.ClientTimeout) as raised:
            gw.list_servers()
    assert url in str(raised.value)


def test_a_servers_view_is_not_taken_for_a_registration(gateway: MCPGateway) -> None:
    view = dict(gateway.get_server("everything"))
    with pytest.raises(errors.InvalidField) as raised:
        gateway.update_server(view)
    assert raised.value.field in {"auth_configured", "source", "health", "discovered", "exposed", "env_names"}
    assert "secrets are write-only" in raised.value.message
