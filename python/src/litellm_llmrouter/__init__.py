"""The seed specification's import path for the gateway's Python SDK.

    from litellm_llmrouter import get_mcp_gateway, MCPServer, MCPTransport

is :mod:`mcp_gateway` under the name the specification uses; everything here is the same
object as there.
"""

from __future__ import annotations

from mcp_gateway import (
    AsyncMCPGateway,
    AuthType,
    MCPGateway,
    MCPGatewayError,
    MCPServer,
    MCPTransport,
    get_async_mcp_gateway,
    get_mcp_gateway,
)

__all__ = [
    "AsyncMCPGateway",
    "AuthType",
    "MCPGateway",
    "MCPGatewayError",
    "MCPServer",
    "MCPTransport",
    "get_async_mcp_gateway",
    "get_mcp_gateway",
]
