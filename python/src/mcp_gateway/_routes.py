"""The REST routes of the gateway, each as a request to make and a way to read its answer.

One table for the sync and the async client (they only differ in how they send), and the
list a test checks against the gateway's router, so that a route added there gets its call
here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar, cast
from urllib.parse import quote

from .errors import InvalidField, MCPGatewayError
from .models import (
    MCPServer,
    PromptInfo,
    ResourceInfo,
    ResourceTemplateInfo,
    ServerInfo,
    ToolInfo,
)

T = TypeVar("T")

ROUTES: dict[tuple[str, str], str] = {
    ("POST", "/mcp/servers"): "register_server",
    ("GET", "/mcp/servers"): "list_servers",
    ("GET", "/mcp/servers/{server_id}"): "get_server",
    ("PUT", "/mcp/servers/{server_id}"): "update_server",
    ("DELETE", "/mcp/servers/{server_id}"): "unregister_server",
    ("GET", "/mcp/tools"): "list_tools",
    ("GET", "/mcp/resources"): "list_resources",
    ("GET", "/mcp/prompts"): "list_prompts",
    ("POST", "/mcp/tools/call"): "call_tool",
    ("POST", "/mcp/keys"): "create_key",
    ("GET", "/mcp/keys"): "list_keys",
    ("GET", "/mcp/keys/{key_id}"): "get_key",
    ("PATCH", "/mcp/keys/{key_id}"): "update_key",
    ("DELETE", "/mcp/keys/{key_id}"): "delete_key",
    ("POST", "/mcp/policies"): "create_policy",
    ("GET", "/mcp/policies"): "list_policies",
    ("GET", "/mcp/policies/{name}"): "get_policy",
    ("PUT", "/mcp/policies/{name}"): "replace_policy",
    ("DELETE", "/mcp/policies/{name}"): "delete_policy",
    ("GET", "/mcp/servers/{server_id}/credentials"): "has_credential",
    ("PUT", "/mcp/servers/{server_id}/credentials"): "set_credential",
    ("DELETE", "/mcp/servers/{server_id}/credentials"): "delete_credential",
    ("POST", "/mcp/servers/{server_id}/tools/{tool}/approve"): "approve_tool",
    ("GET", "/health/readiness"): "health",
    ("GET", "/health/liveliness"): "liveliness",
    ("GET", "/health/liveness"): "liveliness",
    ("GET", "/metrics"): "metrics",
}
"""Every REST route of the gateway and the client method that calls it."""


@dataclass(frozen=True)
class Call(Generic[T]):
    """One REST request and how to read its answer's JSON body."""

    method: str
    path: str
    read: Callable[[Any], T]
    body: Any = None
    # Health routes answer their body with 503 too: it is information, not a failure.
    body_on_error: bool = False


def register_server(server: MCPServer | Mapping[str, Any]) -> Call[dict[str, Any]]:
    return Call("POST", "/mcp/servers", _object, body=_registration(server))


def update_server(
    server: MCPServer | Mapping[str, Any], server_id: str | None = None
) -> Call[dict[str, Any]]:
    body = _registration(server)
    target = server_id or body.get("server_id")
    if not isinstance(target, str) or not target:
        raise InvalidField("server_id: is required", field="server_id")
    return Call("PUT", _server_path(target), _object, body=body)


def unregister_server(server_id: str) -> Call[dict[str, Any]]:
    return Call("DELETE", _server_path(server_id), _object)


def get_server(server_id: str) -> Call[ServerInfo]:
    return Call("GET", _server_path(server_id), lambda body: cast(ServerInfo, _object(body)))


def list_servers() -> Call[list[ServerInfo]]:
    return Call("GET", "/mcp/servers", lambda body: cast(list[ServerInfo], _items(body, "servers")))


def list_tools() -> Call[list[ToolInfo]]:
    return Call("GET", "/mcp/tools", lambda body: cast(list[ToolInfo], _items(body, "tools")))


def list_resources() -> Call[list[ResourceInfo]]:
    return Call(
        "GET", "/mcp/resources", lambda body: cast(list[ResourceInfo], _items(body, "resources"))
    )


def list_resource_templates() -> Call[list[ResourceTemplateInfo]]:
    return Call(
        "GET",
        "/mcp/resources",
        lambda body: cast(list[ResourceTemplateInfo], _items(body, "resource_templates")),
    )


def list_prompts() -> Call[list[PromptInfo]]:
    return Call("GET", "/mcp/prompts", lambda body: cast(list[PromptInfo], _items(body, "prompts")))


def call_tool(
    name: str | None,
    arguments: Mapping[str, Any] | None = None,
    *,
    server_id: str | None = None,
    tool: str | None = None,
) -> Call[dict[str, Any]]:
    body: dict[str, Any]
    if name is not None and server_id is None and tool is None:
        body = {"name": name}
    elif name is None and server_id is not None and tool is not None:
        body = {"server_id": server_id, "tool": tool}
    else:
        raise InvalidField(
            'name: give either name (the exposed tool name) or both server_id and tool',
            field="name",
        )
    if arguments is not None:
        if not isinstance(arguments, Mapping):
            raise InvalidField("arguments: must be a mapping", field="arguments")
        body["arguments"] = dict(arguments)
    return Call("POST", "/mcp/tools/call", _object, body=body)


def create_key(
    name: str,
    *,
    servers: Sequence[str] | None = None,
    tools: Sequence[str] | None = None,
    policies: Sequence[str] | None = None,
    expires_at: str | datetime | None = None,
    metadata: Mapping[str, Any] | None = None,
    rate_limit: Mapping[str, int] | None = None,
) -> Call[dict[str, Any]]:
    if not isinstance(name, str) or not name.strip():
        raise InvalidField("name: is required", field="name")
    body: dict[str, Any] = {"name": name}
    body.update(_key_fields(servers=servers, tools=tools, expires_at=expires_at))
    if policies is not None:
        body["policies"] = _patterns(policies, "policies")
    if metadata is not None:
        body["metadata"] = dict(metadata)
    if rate_limit is not None:
        body["rate_limit"] = dict(rate_limit)
    return Call("POST", "/mcp/keys", _object, body=body)


def list_keys() -> Call[list[dict[str, Any]]]:
    return Call("GET", "/mcp/keys", lambda body: cast(list[dict[str, Any]], _items(body, "keys")))


def get_key(key_id: str) -> Call[dict[str, Any]]:
    return Call("GET", _key_path(key_id), _object)


def update_key(key_id: str, **changes: Any) -> Call[dict[str, Any]]:
    allowed = {"name", "servers", "tools", "policies", "expires_at", "metadata", "rate_limit"}
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise InvalidField(f"{unknown[0]}: is not a field of an API key", field=unknown[0])
    body = dict(changes)
    if isinstance(body.get("expires_at"), datetime):
        body["expires_at"] = body["expires_at"].isoformat()
    for field in ("servers", "tools", "policies"):
        if body.get(field) is not None:
            body[field] = _patterns(body[field], field)
    return Call("PATCH", _key_path(key_id), _object, body=body)


def delete_key(key_id: str) -> Call[dict[str, Any]]:
    return Call("DELETE", _key_path(key_id), _object)


def _key_fields(
    *,
    servers: Sequence[str] | None,
    tools: Sequence[str] | None,
    expires_at: str | datetime | None,
) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if servers is not None:
        fields["servers"] = _patterns(servers, "servers")
    if tools is not None:
        fields["tools"] = _patterns(tools, "tools")
    if isinstance(expires_at, datetime):
        fields["expires_at"] = expires_at.isoformat()
    elif expires_at is not None:
        fields["expires_at"] = expires_at
    return fields


def _patterns(value: Any, field: str) -> list[str]:
    if isinstance(value, str) or not all(isinstance(p, str) and p for p in value):
        raise InvalidField(f"{field}: must be a list of names or globs", field=field)
    return list(value)


def _key_path(key_id: str) -> str:
    if not isinstance(key_id, str) or not key_id:
        raise InvalidField("key_id: is required", field="key_id")
    return "/mcp/keys/" + quote(key_id, safe="")


def create_policy(
    name: str, *, effect: str, when: str, description: str = ""
) -> Call[dict[str, Any]]:
    body = _policy_body(effect, when, description)
    body["name"] = name
    return Call("POST", "/mcp/policies", _object, body=body)


def list_policies() -> Call[list[dict[str, Any]]]:
    return Call(
        "GET", "/mcp/policies", lambda body: cast(list[dict[str, Any]], _items(body, "policies"))
    )


def get_policy(name: str) -> Call[dict[str, Any]]:
    return Call("GET", _policy_path(name), _object)


def replace_policy(
    name: str, *, effect: str, when: str, description: str = ""
) -> Call[dict[str, Any]]:
    return Call("PUT", _policy_path(name), _object, body=_policy_body(effect, when, description))


def delete_policy(name: str) -> Call[dict[str, Any]]:
    return Call("DELETE", _policy_path(name), _object)


def _policy_body(effect: str, when: str, description: str) -> dict[str, Any]:
    if effect not in ("allow", "deny"):
        raise InvalidField("effect: must be allow or deny", field="effect")
    if not isinstance(when, str) or not when.strip():
        raise InvalidField("when: is required (a CEL expression)", field="when")
    return {"effect": effect, "when": when, "description": description}


def _policy_path(name: str) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidField("name: is required", field="name")
    return "/mcp/policies/" + quote(name, safe="")


def set_credential(server_id: str, auth_value: str) -> Call[dict[str, Any]]:
    if not isinstance(auth_value, str) or not auth_value:
        raise InvalidField("auth_value: is required", field="auth_value")
    body = {"auth_value": auth_value}
    return Call("PUT", _server_path(server_id) + "/credentials", _object, body=body)


def has_credential(server_id: str) -> Call[bool]:
    return Call(
        "GET", _server_path(server_id) + "/credentials", lambda body: bool(_object(body)["stored"])
    )


def delete_credential(server_id: str) -> Call[dict[str, Any]]:
    return Call("DELETE", _server_path(server_id) + "/credentials", _object)


def approve_tool(server_id: str, tool: str) -> Call[dict[str, Any]]:
    if not isinstance(tool, str) or not tool:
        raise InvalidField("tool: is required", field="tool")
    path = _server_path(server_id) + "/tools/" + quote(tool, safe="") + "/approve"
    return Call("POST", path, _object)


def health() -> Call[dict[str, Any]]:
    return Call("GET", "/health/readiness", _object, body_on_error=True)


def liveliness() -> Call[dict[str, Any]]:
    return Call("GET", "/health/liveliness", _object, body_on_error=True)


def metrics() -> Call[str]:
    return Call("GET", "/metrics", _text)


def _text(body: Any) -> str:
    if not isinstance(body, str):
        raise MCPGatewayError(f"expected text from the gateway, got {type(body).__name__}")
    return body


# Keys of a server as the gateway shows it that a registration does not take.
_VIEW_ONLY = frozenset(
    {
        "auth_configured",
        "header_names",
        "env_names",
        "source",
        "health",
        "discovered",
        "exposed",
        "held_tools",
    }
)


def _registration(server: MCPServer | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(server, MCPServer):
        return server.to_dict()
    if isinstance(server, Mapping):
        # Built (and so checked) as a record.
        known = set(MCPServer.__dataclass_fields__)
        unknown = [key for key in server if key not in known]
        if unknown and unknown[0] in _VIEW_ONLY:
            raise InvalidField(
                f"{unknown[0]}: is shown by get_server, not part of a registration; build the "
                "record again (an update replaces it whole, and secrets are write-only, so "
                "they must be given again)",
                field=unknown[0],
            )
        if unknown:
            raise InvalidField(f"{unknown[0]}: is not a field of a server record", field=unknown[0])
        return MCPServer(**dict(server)).to_dict()
    raise InvalidField("server: must be an MCPServer or a mapping of its fields", field="server")


def _server_path(server_id: str) -> str:
    if not isinstance(server_id, str) or not server_id:
        raise InvalidField("server_id: is required", field="server_id")
    return "/mcp/servers/" + quote(server_id, safe="")


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise MCPGatewayError(
            f"the gateway answered {type(body).__name__}, not a JSON object", code="bad_answer"
        )
    return body


def _items(body: Any, key: str) -> list[Any]:
    items = _object(body).get(key)
    if not isinstance(items, list):
        raise MCPGatewayError(f"the gateway's answer has no {key!r} list", code="bad_answer")
    return items
