"""Clients for a running gateway: :class:`MCPGateway` (sync) and :class:`AsyncMCPGateway`.

Both call the same routes (see ``_routes``) and raise the same exceptions
(:mod:`mcp_gateway.errors`); only the sending differs.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import httpx2

from . import _routes
from ._routes import Call
from .errors import ClientTimeout, ConnectionFailed, MCPGatewayError, from_response
from .models import (
    MCPServer,
    PromptInfo,
    ResourceInfo,
    ResourceTemplateInfo,
    ServerInfo,
    ToolInfo,
)

if TYPE_CHECKING:
    from mcp import Client

T = TypeVar("T")

DEFAULT_URL = "http://127.0.0.1:4000"
DEFAULT_TIMEOUT = 60.0
"""Seconds for one REST call: a tool call may take as long as its server's timeout."""


class _Base:
    """What both clients hold: where the gateway is, the key, and how answers are read."""

    def __init__(
        self,
        url: str | None = None,
        master_key: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.url = (url or os.environ.get("MCP_GATEWAY_URL") or DEFAULT_URL).rstrip("/")
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"the gateway URL must start with http:// or https://, not {self.url!r}")
        key = master_key if master_key is not None else os.environ.get("MCP_GATEWAY_MASTER_KEY")
        self._headers = {"Accept": "application/json", **(headers or {})}
        if key:
            self._headers["Authorization"] = f"Bearer {key}"
        self._timeout = timeout
        self._open()

    def _open(self) -> None:
        """Makes the HTTP client (each kind of client its own)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(url={self.url!r})"

    def _request(self, call: Call[Any]) -> dict[str, Any]:
        request: dict[str, Any] = {"method": call.method, "url": self.url + call.path}
        if call.body is not None:
            request["json"] = call.body
        return request

    def _read(self, call: Call[T], response: httpx2.Response) -> T:
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        if response.is_success or (call.body_on_error and isinstance(body, dict)):
            return call.read(body)
        raise from_response(response.status_code, body, response.headers.get("retry-after"))

    def _unreachable(self, error: httpx2.TransportError) -> MCPGatewayError:
        # Connected, then no answer in time: not a connection failure.
        if isinstance(error, httpx2.TimeoutException) and not isinstance(
            error, httpx2.ConnectTimeout
        ):
            return ClientTimeout(self.url, _reason(error))
        return ConnectionFailed(self.url, _reason(error))

    def _mcp_url(self, server_id: str | None) -> str:
        if server_id is None:
            return self.url + "/mcp"
        return self.url + _routes._server_path(server_id) + "/mcp"


class MCPGateway(_Base):
    """A running gateway, through its REST API (synchronous).

    ``url`` defaults to ``MCP_GATEWAY_URL`` (else ``http://127.0.0.1:4000``), ``master_key``
    to ``MCP_GATEWAY_MASTER_KEY``. Use it as a context manager, or call :meth:`close`.
    """

    def _open(self) -> None:
        self._http = httpx2.Client(headers=self._headers, timeout=self._timeout)

    def _send(self, call: Call[T]) -> T:
        try:
            response = self._http.request(**self._request(call))
        except httpx2.TransportError as e:
            raise self._unreachable(e) from e
        return self._read(call, response)

    def register_server(self, server: MCPServer | Mapping[str, Any]) -> dict[str, Any]:
        """Registers a server (``POST /mcp/servers``); the answer holds its record and
        ``"status": "registered"``. Raises :class:`~mcp_gateway.errors.ServerExists` for a
        taken id, :class:`~mcp_gateway.errors.InvalidField` for a bad field."""
        return self._send(_routes.register_server(server))

    def update_server(
        self, server: MCPServer | Mapping[str, Any], server_id: str | None = None
    ) -> dict[str, Any]:
        """Replaces a server's record and reconnects it (``PUT /mcp/servers/{id}``)."""
        return self._send(_routes.update_server(server, server_id))

    def unregister_server(self, server_id: str) -> dict[str, Any]:
        """Removes a server (``DELETE /mcp/servers/{id}``)."""
        return self._send(_routes.unregister_server(server_id))

    def get_server(self, server_id: str) -> ServerInfo:
        """A server's record, health and discovered counts (``GET /mcp/servers/{id}``)."""
        return self._send(_routes.get_server(server_id))

    def list_servers(self) -> list[ServerInfo]:
        """Every registered server (``GET /mcp/servers``)."""
        return self._send(_routes.list_servers())

    def list_tools(self) -> list[ToolInfo]:
        """Every tool, with ``tool`` (the server's name for it), ``name`` (the exposed
        name), ``server_id`` and ``server_name`` (``GET /mcp/tools``)."""
        return self._send(_routes.list_tools())

    def list_resources(self) -> list[ResourceInfo]:
        """Every resource (``GET /mcp/resources``)."""
        return self._send(_routes.list_resources())

    def list_resource_templates(self) -> list[ResourceTemplateInfo]:
        """Every resource template (``GET /mcp/resources``)."""
        return self._send(_routes.list_resource_templates())

    def list_prompts(self) -> list[PromptInfo]:
        """Every prompt (``GET /mcp/prompts``)."""
        return self._send(_routes.list_prompts())

    def call_tool(
        self,
        name: str | None = None,
        arguments: Mapping[str, Any] | None = None,
        *,
        server_id: str | None = None,
        tool: str | None = None,
    ) -> dict[str, Any]:
        """Calls a tool by its exposed name (or ``server_id`` and ``tool``) and returns the
        MCP tool result (``content``, ``isError``, …) (``POST /mcp/tools/call``)."""
        return self._send(_routes.call_tool(name, arguments, server_id=server_id, tool=tool))

    def create_key(
        self,
        name: str,
        *,
        servers: Sequence[str] | None = None,
        tools: Sequence[str] | None = None,
        policies: Sequence[str] | None = None,
        expires_at: str | datetime | None = None,
        metadata: Mapping[str, Any] | None = None,
        rate_limit: Mapping[str, int] | None = None,
    ) -> dict[str, Any]:
        """Creates an API key (``POST /mcp/keys``, master key only). The answer's ``key``
        is the key itself, shown this once; ``servers`` and ``tools`` are allowlists of
        server ids and exposed tool names (globs such as ``github__*``); ``policies`` names
        policies its tools are also subject to; ``rate_limit`` takes
        ``requests_per_minute``, ``burst`` and ``max_concurrent``."""
        return self._send(
            _routes.create_key(
                name,
                servers=servers,
                tools=tools,
                policies=policies,
                expires_at=expires_at,
                metadata=metadata,
                rate_limit=rate_limit,
            )
        )

    def list_keys(self) -> list[dict[str, Any]]:
        """Every API key, never the keys themselves (``GET /mcp/keys``)."""
        return self._send(_routes.list_keys())

    def get_key(self, key_id: str) -> dict[str, Any]:
        """One API key's settings (``GET /mcp/keys/{key_id}``)."""
        return self._send(_routes.get_key(key_id))

    def update_key(self, key_id: str, **changes: Any) -> dict[str, Any]:
        """Changes the fields given (``name``, ``servers``, ``tools``, ``policies``,
        ``expires_at``, ``metadata``, ``rate_limit``; ``None`` clears a list, the expiry or
        the limit) (``PATCH /mcp/keys/{key_id}``).
        Applies at once, to sessions already open too."""
        return self._send(_routes.update_key(key_id, **changes))

    def delete_key(self, key_id: str) -> dict[str, Any]:
        """Deletes an API key: it stops working at once (``DELETE /mcp/keys/{key_id}``)."""
        return self._send(_routes.delete_key(key_id))

    def create_policy(
        self, name: str, *, effect: str, when: str, description: str = ""
    ) -> dict[str, Any]:
        """Creates a named policy (``POST /mcp/policies``, master key only): ``effect``
        ``allow`` or ``deny`` when ``when``, a CEL expression over ``caller``, ``server``
        and ``tool``, holds."""
        return self._send(
            _routes.create_policy(name, effect=effect, when=when, description=description)
        )

    def list_policies(self) -> list[dict[str, Any]]:
        """Every policy (``GET /mcp/policies``)."""
        return self._send(_routes.list_policies())

    def get_policy(self, name: str) -> dict[str, Any]:
        """One policy (``GET /mcp/policies/{name}``)."""
        return self._send(_routes.get_policy(name))

    def replace_policy(
        self, name: str, *, effect: str, when: str, description: str = ""
    ) -> dict[str, Any]:
        """Replaces a policy (``PUT /mcp/policies/{name}``); in force at the next request."""
        return self._send(
            _routes.replace_policy(name, effect=effect, when=when, description=description)
        )

    def delete_policy(self, name: str) -> dict[str, Any]:
        """Deletes a policy no key names (``DELETE /mcp/policies/{name}``)."""
        return self._send(_routes.delete_policy(name))

    def set_credential(self, server_id: str, auth_value: str) -> dict[str, Any]:
        """Stores this client's own credential for a server marked ``credentials:
        per_user`` (``PUT /mcp/servers/{id}/credentials``, with an API key or token, not
        the master key): its requests to that server carry it. Never shown back."""
        return self._send(_routes.set_credential(server_id, auth_value))

    def has_credential(self, server_id: str) -> bool:
        """Whether this client stored a credential for the server."""
        return self._send(_routes.has_credential(server_id))

    def delete_credential(self, server_id: str) -> dict[str, Any]:
        """Deletes this client's credential for the server."""
        return self._send(_routes.delete_credential(server_id))

    def approve_tool(self, server_id: str, tool: str) -> dict[str, Any]:
        """Approves a tool held because its definition changed or it is new
        (``tool_changes: hold``; a server's ``held_tools`` lists them), by its name on that
        server. Raises :class:`~mcp_gateway.errors.NotFound` if it is not held."""
        return self._send(_routes.approve_tool(server_id, tool))

    def health(self) -> dict[str, Any]:
        """Readiness: ``status`` (``ready`` / ``not_ready``), store and server counts."""
        return self._send(_routes.health())

    def liveliness(self) -> dict[str, Any]:
        """Liveness: ``{"status": "alive"}`` while the process serves."""
        return self._send(_routes.liveliness())

    def metrics(self) -> str:
        """The gateway's Prometheus metrics (``GET /metrics``), as exposition text: calls
        by server, tool and outcome, latencies, sessions, upstream health, the process."""
        return self._send(_routes.metrics())

    def mcp_client(self, server_id: str | None = None, **client_options: Any) -> Client:
        """The official ``mcp`` SDK's client for the gateway's MCP endpoint (``/mcp``, or
        one server's ``/mcp/servers/{id}/mcp``), carrying the key. Use it with
        ``async with``; ``client_options`` go to :class:`mcp.Client` (``mode``,
        ``sampling_callback``, …)."""
        return _mcp_client(self._mcp_url(server_id), self._headers, **client_options)

    def close(self) -> None:
        """Closes the client's connections (the gateway keeps running)."""
        self._http.close()

    def __enter__(self) -> MCPGateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncMCPGateway(_Base):
    """A running gateway, through its REST API (asyncio); the same calls as
    :class:`MCPGateway`, awaited. Use it with ``async with``, or call :meth:`aclose`."""

    def _open(self) -> None:
        self._http = httpx2.AsyncClient(headers=self._headers, timeout=self._timeout)

    async def _send(self, call: Call[T]) -> T:
        try:
            response = await self._http.request(**self._request(call))
        except httpx2.TransportError as e:
            raise self._unreachable(e) from e
        return self._read(call, response)

    async def register_server(self, server: MCPServer | Mapping[str, Any]) -> dict[str, Any]:
        """See :meth:`MCPGateway.register_server`."""
        return await self._send(_routes.register_server(server))

    async def update_server(
        self, server: MCPServer | Mapping[str, Any], server_id: str | None = None
    ) -> dict[str, Any]:
        """See :meth:`MCPGateway.update_server`."""
        return await self._send(_routes.update_server(server, server_id))

    async def unregister_server(self, server_id: str) -> dict[str, Any]:
        """See :meth:`MCPGateway.unregister_server`."""
        return await self._send(_routes.unregister_server(server_id))

    async def get_server(self, server_id: str) -> ServerInfo:
        """See :meth:`MCPGateway.get_server`."""
        return await self._send(_routes.get_server(server_id))

    async def list_servers(self) -> list[ServerInfo]:
        """See :meth:`MCPGateway.list_servers`."""
        return await self._send(_routes.list_servers())

    async def list_tools(self) -> list[ToolInfo]:
        """See :meth:`MCPGateway.list_tools`."""
        return await self._send(_routes.list_tools())

    async def list_resources(self) -> list[ResourceInfo]:
        """See :meth:`MCPGateway.list_resources`."""
        return await self._send(_routes.list_resources())

    async def list_resource_templates(self) -> list[ResourceTemplateInfo]:
        """See :meth:`MCPGateway.list_resource_templates`."""
        return await self._send(_routes.list_resource_templates())

    async def list_prompts(self) -> list[PromptInfo]:
        """See :meth:`MCPGateway.list_prompts`."""
        return await self._send(_routes.list_prompts())

    async def call_tool(
        self,
        name: str | None = None,
        arguments: Mapping[str, Any] | None = None,
        *,
        server_id: str | None = None,
        tool: str | None = None,
    ) -> dict[str, Any]:
        """See :meth:`MCPGateway.call_tool`."""
        return await self._send(_routes.call_tool(name, arguments, server_id=server_id, tool=tool))

    async def create_key(
        self,
        name: str,
        *,
        servers: Sequence[str] | None = None,
        tools: Sequence[str] | None = None,
        policies: Sequence[str] | None = None,
        expires_at: str | datetime | None = None,
        metadata: Mapping[str, Any] | None = None,
        rate_limit: Mapping[str, int] | None = None,
    ) -> dict[str, Any]:
        """See :meth:`MCPGateway.create_key`."""
        return await self._send(
            _routes.create_key(
                name,
                servers=servers,
                tools=tools,
                policies=policies,
                expires_at=expires_at,
                metadata=metadata,
                rate_limit=rate_limit,
            )
        )

    async def list_keys(self) -> list[dict[str, Any]]:
        """See :meth:`MCPGateway.list_keys`."""
        return await self._send(_routes.list_keys())

    async def get_key(self, key_id: str) -> dict[str, Any]:
        """See :meth:`MCPGateway.get_key`."""
        return await self._send(_routes.get_key(key_id))

    async def update_key(self, key_id: str, **changes: Any) -> dict[str, Any]:
        """See :meth:`MCPGateway.update_key`."""
        return await self._send(_routes.update_key(key_id, **changes))

    async def delete_key(self, key_id: str) -> dict[str, Any]:
        """See :meth:`MCPGateway.delete_key`."""
        return await self._send(_routes.delete_key(key_id))

    async def create_policy(
        self, name: str, *, effect: str, when: str, description: str = ""
    ) -> dict[str, Any]:
        """See :meth:`MCPGateway.create_policy`."""
        return await self._send(
            _routes.create_policy(name, effect=effect, when=when, description=description)
        )

    async def list_policies(self) -> list[dict[str, Any]]:
        """See :meth:`MCPGateway.list_policies`."""
        return await self._send(_routes.list_policies())

    async def get_policy(self, name: str) -> dict[str, Any]:
        """See :meth:`MCPGateway.get_policy`."""
        return await self._send(_routes.get_policy(name))

    async def replace_policy(
        self, name: str, *, effect: str, when: str, description: str = ""
    ) -> dict[str, Any]:
        """See :meth:`MCPGateway.replace_policy`."""
        return await self._send(
            _routes.replace_policy(name, effect=effect, when=when, description=description)
        )

    async def delete_policy(self, name: str) -> dict[str, Any]:
        """See :meth:`MCPGateway.delete_policy`."""
        return await self._send(_routes.delete_policy(name))

    async def set_credential(self, server_id: str, auth_value: str) -> dict[str, Any]:
        """See :meth:`MCPGateway.set_credential`."""
        return await self._send(_routes.set_credential(server_id, auth_value))

    async def has_credential(self, server_id: str) -> bool:
        """See :meth:`MCPGateway.has_credential`."""
        return await self._send(_routes.has_credential(server_id))

    async def delete_credential(self, server_id: str) -> dict[str, Any]:
        """See :meth:`MCPGateway.delete_credential`."""
        return await self._send(_routes.delete_credential(server_id))

    async def approve_tool(self, server_id: str, tool: str) -> dict[str, Any]:
        """See :meth:`MCPGateway.approve_tool`."""
        return await self._send(_routes.approve_tool(server_id, tool))

    async def health(self) -> dict[str, Any]:
        """See :meth:`MCPGateway.health`."""
        return await self._send(_routes.health())

    async def liveliness(self) -> dict[str, Any]:
        """See :meth:`MCPGateway.liveliness`."""
        return await self._send(_routes.liveliness())

    async def metrics(self) -> str:
        """See :meth:`MCPGateway.metrics`."""
        return await self._send(_routes.metrics())

    def mcp_client(self, server_id: str | None = None, **client_options: Any) -> Client:
        """See :meth:`MCPGateway.mcp_client`."""
        return _mcp_client(self._mcp_url(server_id), self._headers, **client_options)

    async def aclose(self) -> None:
        """Closes the client's connections (the gateway keeps running)."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncMCPGateway:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def get_mcp_gateway(
    url: str | None = None, master_key: str | None = None, **options: Any
) -> MCPGateway:
    """A client for the gateway at ``url`` (default ``MCP_GATEWAY_URL``, else
    ``http://127.0.0.1:4000``) with ``master_key`` (default ``MCP_GATEWAY_MASTER_KEY``)."""
    return MCPGateway(url, master_key, **options)


def get_async_mcp_gateway(
    url: str | None = None, master_key: str | None = None, **options: Any
) -> AsyncMCPGateway:
    """The asyncio form of :func:`get_mcp_gateway`."""
    return AsyncMCPGateway(url, master_key, **options)


def _mcp_client(url: str, headers: Mapping[str, str], **client_options: Any) -> Client:
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    # MCP requests carry their own Accept header; only the key (and the caller's own
    # headers) go on every request.
    sent = {k: v for k, v in headers.items() if k.lower() != "accept"}

    @asynccontextmanager
    async def transport() -> AsyncIterator[Any]:
        # The SDK's MCP timeouts: 30 s to connect and write, 300 s to read a stream.
        timeout = httpx2.Timeout(30.0, read=300.0)
        async with httpx2.AsyncClient(headers=sent, timeout=timeout) as http:
            async with streamable_http_client(url, http_client=http) as streams:
                yield streams

    return Client(transport(), **client_options)


def _reason(error: httpx2.TransportError) -> str:
    """What went wrong reaching the gateway, in words."""
    text = str(error) or type(error).__name__
    if isinstance(error, httpx2.TimeoutException):
        return f"timed out ({text})"
    if isinstance(error, httpx2.ConnectError):
        return f"connection failed ({text})"
    return text


__all__ = [
    "DEFAULT_URL",
    "AsyncMCPGateway",
    "MCPGateway",
    "MCPGatewayError",
    "get_async_mcp_gateway",
    "get_mcp_gateway",
]
