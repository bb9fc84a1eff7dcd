"""Every REST route of the gateway's router has its call in this client."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mcp_gateway import AsyncMCPGateway, MCPGateway
from mcp_gateway._routes import ROUTES

from .conftest import REPO

ROUTER = REPO / "crates" / "gateway" / "src" / "front.rs"
# Served by the MCP endpoints, not REST: the official `mcp` SDK client covers them.
MCP_FACES = {"/mcp", "/mcp/servers/{server_id}/mcp", "/sse", "/messages"}


def _router_routes() -> set[tuple[str, str]]:
    if not ROUTER.exists():
        pytest.skip("not run from the repository")
    text = ROUTER.read_text()
    routes = set()
    for part in re.split(r'\.route\(\s*"', text)[1:]:
        path, handlers = part.split('"', 1)
        # The handlers run up to the next builder call.
        handlers = re.split(r"\.(?:route_layer|merge|layer|with_state|fallback)\(", handlers)[0]
        for method in re.findall(r"\b(get|post|put|delete|patch)\(", handlers):
            routes.add((method.upper(), path))
    return routes


def test_every_rest_route_has_a_call() -> None:
    routes = {r for r in _router_routes() if r[1] not in MCP_FACES}
    assert routes, "no routes found in the router"
    missing = sorted(routes - set(ROUTES))
    assert not missing, f"REST routes without a client call: {missing}"


@pytest.mark.parametrize("method", sorted(set(ROUTES.values())))
def test_each_call_exists_on_both_clients(method: str) -> None:
    assert callable(getattr(MCPGateway, method))
    assert callable(getattr(AsyncMCPGateway, method))
