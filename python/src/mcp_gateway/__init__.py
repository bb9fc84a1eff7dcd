"""mcp-gateway: one MCP endpoint in front of many MCP servers.

The Python side of the gateway: typed clients for its REST API (:class:`MCPGateway`,
:class:`AsyncMCPGateway`, :func:`get_mcp_gateway`), the registration record
(:class:`MCPServer`, :class:`MCPTransport`, :class:`AuthType`), its errors as exceptions
(:mod:`mcp_gateway.errors`), the official ``mcp`` SDK client for its MCP endpoint
(:meth:`MCPGateway.mcp_client`), and a gateway run from Python (:func:`local_gateway`).
The wheel also installs the ``mcp-gateway`` binary (``python -m mcp_gateway …``).

    from mcp_gateway import get_mcp_gateway, MCPServer, MCPTransport

    gateway = get_mcp_gateway()            # MCP_GATEWAY_URL, MCP_GATEWAY_MASTER_KEY
    gateway.register_server(MCPServer(server_id="search", url="http://localhost:8080/mcp",
                                      transport=MCPTransport.STREAMABLE_HTTP))
    for tool in gateway.list_tools():
        print(tool["name"], tool["server_name"])
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from . import errors
from .binary import find_binary
from .client import (
    DEFAULT_URL,
    AsyncMCPGateway,
    MCPGateway,
    get_async_mcp_gateway,
    get_mcp_gateway,
)
from .errors import (
    ClientTimeout,
    ConnectionFailed,
    Forbidden,
    InvalidField,
    MCPGatewayError,
    ServerExists,
    ServerNotFound,
    ToolNotFound,
    Unauthorized,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from .local import GatewayProcess, GatewayStartError, async_local_gateway, local_gateway
from .models import (
    AuthType,
    MCPServer,
    MCPTransport,
    PromptInfo,
    ResourceInfo,
    ResourceTemplateInfo,
    ServerInfo,
    ToolInfo,
)

try:
    __version__ = version("mcp-gateway")
except PackageNotFoundError:  # run from a source tree
    __version__ = "0+unknown"

__all__ = [
    "DEFAULT_URL",
    "AsyncMCPGateway",
    "AuthType",
    "ClientTimeout",
    "ConnectionFailed",
    "Forbidden",
    "GatewayProcess",
    "GatewayStartError",
    "InvalidField",
    "MCPGateway",
    "MCPGatewayError",
    "MCPServer",
    "MCPTransport",
    "PromptInfo",
    "ResourceInfo",
    "ResourceTemplateInfo",
    "ServerExists",
    "ServerInfo",
    "ServerNotFound",
    "ToolInfo",
    "ToolNotFound",
    "Unauthorized",
    "UpstreamError",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "__version__",
    "async_local_gateway",
    "errors",
    "find_binary",
    "get_async_mcp_gateway",
    "get_mcp_gateway",
    "local_gateway",
]
