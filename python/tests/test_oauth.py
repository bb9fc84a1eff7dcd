"""The MCP authorization flow end to end, with the official Python SDK on both sides of it.

A real authorization server runs here: the SDK's own OAuth server (``mcp.server.auth``:
metadata, dynamic client registration, authorization with PKCE, token endpoint), whose
provider issues RS256 JWTs (PyJWT) and publishes their key as a JWK Set. The gateway trusts
it (``gateway.auth.jwt``). The SDK's OAuth client, meeting the gateway's ``401``, follows
``WWW-Authenticate`` to the gateway's Protected Resource Metadata, from there to the
authorization server, registers, authorizes, exchanges the code for a token for the
gateway's ``/mcp`` (RFC 8707 ``resource``), and calls a tool. The gateway verifies the
token's signature against the JWK Set; the same token is refused on an endpoint it was not
issued for, and a token the provider did not sign is refused.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx2
import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from mcp import ClientSession
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    OAuthAuthorizationServerProvider,
    RefreshToken,
    TokenError,
    construct_redirect_uri,
)
from mcp.server.auth.routes import create_auth_routes
from mcp.server.auth.settings import ClientRegistrationOptions
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from pydantic import AnyHttpUrl, AnyUrl
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mcp_gateway import MCPGateway, local_gateway

from .conftest import MASTER_KEY, wait_healthy

SCOPE = "mcp"


class JwtIssuingProvider(OAuthAuthorizationServerProvider[AuthorizationCode, RefreshToken, AccessToken]):
    """An authorization server's provider that issues signed JWTs for the resource asked for."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.clients: dict[str, OAuthClientInformationFull] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.resources: list[str | None] = []

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        public.update(kid="as-1", alg="RS256", use="sig")
        return {"keys": [public]}

    def sign(self, claims: dict[str, Any], key: Any = None) -> str:
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": "as-1"})

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        return self.clients.get(client_id)

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        assert client_info.client_id is not None
        self.clients[client_info.client_id] = client_info

    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        # The user consents at once (there is no one to click).
        code = secrets.token_urlsafe(32)
        assert client.client_id is not None
        self.codes[code] = AuthorizationCode(
            code=code,
            scopes=params.scopes or [SCOPE],
            expires_at=time.time() + 300,
            client_id=client.client_id,
            code_challenge=params.code_challenge,
            redirect_uri=params.redirect_uri,
            redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly,
            resource=params.resource,
            subject="alice",
        )
        return construct_redirect_uri(str(params.redirect_uri), code=code, state=params.state)

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> AuthorizationCode | None:
        return self.codes.get(authorization_code)

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: AuthorizationCode
    ) -> OAuthToken:
        del self.codes[authorization_code.code]
        self.resources.append(authorization_code.resource)
        now = int(time.time())
        token = self.sign(
            {
                "iss": self.issuer,
                "sub": authorization_code.subject,
                "aud": authorization_code.resource,
                "scope": " ".join(authorization_code.scopes),
                "client_id": client.client_id,
                "iat": now,
                "exp": now + 600,
            }
        )
        return OAuthToken(
            access_token=token,
            token_type="Bearer",
            expires_in=600,
            scope=" ".join(authorization_code.scopes),
        )

    async def load_refresh_token(self, client: OAuthClientInformationFull, refresh_token: str) -> RefreshToken | None:
        return None

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: RefreshToken, scopes: list[str]
    ) -> OAuthToken:
        raise TokenError("invalid_grant", "no refresh tokens here")

    async def load_access_token(self, token: str) -> AccessToken | None:
        return None

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def authorization_server() -> Iterator[JwtIssuingProvider]:
    """The SDK's OAuth server on a loopback port, with a JWK Set at ``/jwks``."""
    port = _free_port()
    # As the server's metadata spells it (pydantic's URL form, with the root path's slash):
    # the issuer the gateway names and the one the metadata names must match exactly.
    issuer = f"http://127.0.0.1:{port}/"
    provider = JwtIssuingProvider(issuer)

    async def jwks(_: Request) -> JSONResponse:
        return JSONResponse(provider.jwks())

    routes = create_auth_routes(
        provider,
        issuer_url=AnyHttpUrl(issuer),
        client_registration_options=ClientRegistrationOptions(
            enabled=True, valid_scopes=[SCOPE], default_scopes=[SCOPE]
        ),
    )
    app = Starlette(routes=[*routes, Route("/jwks", jwks)])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the authorization server did not start")
        time.sleep(0.02)
    try:
        yield provider
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def protected_gateway(authorization_server: JwtIssuingProvider, everything_bin: Path) -> Iterator[MCPGateway]:
    """A gateway that accepts the authorization server's tokens with the ``mcp`` scope."""
    issuer = authorization_server.issuer
    config = {
        "gateway": {
            "auth": {"jwt": {"issuer": issuer, "jwks_url": f"{issuer}jwks", "required_scopes": [SCOPE]}}
        },
        "mcp_servers": {"everything": {"command": str(everything_bin), "args": ["stdio"]}},
    }
    with local_gateway(config, master_key=MASTER_KEY) as gw:
        wait_healthy(gw, "everything")
        yield gw


class MemoryTokenStorage:
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class Browser:
    """Stands in for the user's browser: opens the authorization URL and catches the redirect."""

    def __init__(self) -> None:
        self.result: AuthorizationCodeResult | None = None

    async def open(self, url: str) -> None:
        async with httpx2.AsyncClient() as http:
            response = await http.get(url, follow_redirects=False)
        assert response.status_code in (302, 303, 307), response.text
        query = parse_qs(urlparse(response.headers["location"]).query)
        self.result = AuthorizationCodeResult(code=query["code"][0], state=query.get("state", [None])[0])

    async def callback(self) -> AuthorizationCodeResult:
        assert self.result is not None, "the browser was not opened"
        return self.result


async def _oauth_session(url: str) -> tuple[list[str], str, MemoryTokenStorage]:
    storage = MemoryTokenStorage()
    browser = Browser()
    auth = OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(
            client_name="mcp-gateway tests",
            redirect_uris=[AnyUrl("http://127.0.0.1:9/callback")],
            grant_types=["authorization_code"],
            response_types=["code"],
            scope=SCOPE,
        ),
        storage=storage,
        redirect_handler=browser.open,
        callback_handler=browser.callback,
    )
    async with httpx2.AsyncClient(auth=auth, timeout=30) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                names = sorted(t.name for t in (await session.list_tools()).tools)
                echoed = await session.call_tool("everything__echo", {"message": "authorized"})
                text = str(echoed.content[0].text)  # type: ignore[union-attr]
    return names, text, storage


def test_the_sdk_oauth_client_discovers_authorizes_and_calls(
    protected_gateway: MCPGateway, authorization_server: JwtIssuingProvider
) -> None:
    url = protected_gateway.url + "/mcp"

    # Without a token: 401 with the challenge the flow starts from.
    plain = httpx2.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert plain.status_code == 401
    metadata_url = f"{protected_gateway.url}/.well-known/oauth-protected-resource/mcp"
    assert plain.headers["www-authenticate"] == f'Bearer scope="{SCOPE}", resource_metadata="{metadata_url}"'

    names, text, storage = asyncio.run(_oauth_session(url))
    assert "everything__echo" in names
    assert text == "Echo: authorized"
    assert authorization_server.resources == [url], "the token was asked for the gateway's /mcp"
    assert storage.tokens is not None
    token = storage.tokens.access_token

    # The token is for /mcp: not for another endpoint of the gateway.
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"}
    other = httpx2.post(protected_gateway.url + "/mcp/servers/everything/mcp", json=ping, headers=headers)
    assert other.status_code == 401
    assert 'error="invalid_token"' in other.headers["www-authenticate"]

    # A token with the same claims, signed by a key the provider does not publish: refused.
    claims = jwt.decode(token, options={"verify_signature": False})
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = authorization_server.sign(claims, key=stranger)
    refused = httpx2.post(url, json=ping, headers={**headers, "Authorization": f"Bearer {forged}"})
    assert refused.status_code == 401
    assert "signature" in refused.headers["www-authenticate"]
