"""What the gateway's REST API takes and gives: :class:`MCPServer` (a registration, checked
here by the gateway's own rules before it is sent), :class:`MCPTransport`, :class:`AuthType`,
and typed dictionaries of the answers (``tool['tool']``, ``tool['server_name']`` …)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal, TypedDict
from urllib.parse import urlsplit

from .errors import InvalidField

MAX_SERVER_ID_LEN = 128
MAX_NAME_LEN = 256

_SERVER_ID = re.compile(r"[A-Za-z0-9._-]+")
# RFC 9110 token characters: what an HTTP header name may be.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# Headers the gateway's MCP transport sets itself (the gateway's RESERVED_HEADERS).
_RESERVED_HEADERS = frozenset(
    {
        "accept",
        "content-type",
        "content-length",
        "host",
        "connection",
        "transfer-encoding",
        "mcp-session-id",
        "mcp-protocol-version",
        "last-event-id",
    }
)


class MCPTransport(str, Enum):
    """How the gateway talks to an upstream MCP server."""

    STREAMABLE_HTTP = "streamable_http"
    SSE = "sse"
    STDIO = "stdio"

    def __str__(self) -> str:
        return self.value


class AuthType(str, Enum):
    """How the gateway authenticates to an upstream server (``auth_value`` is the secret)."""

    NONE = "none"
    BEARER_TOKEN = "bearer_token"
    API_KEY = "api_key"
    BASIC = "basic"
    OAUTH2 = "oauth2"
    #: Each JWT caller's token exchanged for one for the upstream (RFC 8693); register
    #: such a server with a ``token_exchange`` mapping (``MCPServer`` takes it in a dict).
    TOKEN_EXCHANGE = "token_exchange"

    def __str__(self) -> str:
        return self.value


@dataclass
class MCPServer:
    """A server registration: every field of the gateway's server record.

    Checked when built (and again by :meth:`validate` before it is sent) by the rules the
    gateway applies, so a bad value raises :class:`~mcp_gateway.errors.InvalidField`
    naming the field without a round trip. The gateway still decides what depends on its
    own settings (stdio registration, allowed commands, upstream address policy).
    """

    server_id: str
    name: str = ""
    url: str | None = None
    transport: MCPTransport | str | None = None
    tools: list[str] = field(default_factory=list)
    resources: list[str] = field(default_factory=list)
    auth_type: AuthType | str = AuthType.NONE
    auth_value: str | None = None
    api_key_header: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    command: str | None = None
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    timeout_secs: int | None = None
    #: ``shared`` (default) or ``per_user``: each caller's own credential.
    credentials: str = "shared"
    #: Rate limits of single tools: ``{"search": {"requests_per_minute": 30}}``.
    tool_limits: dict[str, dict[str, int]] = field(default_factory=dict)
    #: For ``auth_type: token_exchange``: ``token_endpoint``, ``client_id``,
    #: ``client_secret``, ``audience``, ``scope``, ``resource``.
    token_exchange: dict[str, str] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.transport is not None:
            self.transport = _enum(MCPTransport, self.transport, "transport")
        self.auth_type = _enum(AuthType, self.auth_type, "auth_type")
        self.validate()

    @property
    def transport_kind(self) -> MCPTransport:
        """The transport, with the gateway's default: stdio when only a command is given,
        else streamable HTTP."""
        if isinstance(self.transport, MCPTransport):
            return self.transport
        if self.command is not None and self.url is None:
            return MCPTransport.STDIO
        return MCPTransport.STREAMABLE_HTTP

    def validate(self) -> None:
        """Checks every field; raises :class:`InvalidField` naming the first bad one."""
        _check_server_id(self.server_id)
        _check_type("name", self.name, str)
        if len(self.name) > MAX_NAME_LEN:
            raise _invalid("name", f"must be at most {MAX_NAME_LEN} characters")
        kind = self.transport_kind
        if kind is MCPTransport.STDIO:
            if self.command is None:
                raise _invalid("command", "is required for transport stdio")
            _check_type("command", self.command, str)
            if not self.command.strip():
                raise _invalid("command", "must not be empty")
            for key in self.env:
                if not key or "=" in key or "\0" in key:
                    raise _invalid(f"env.{key}", "is not a valid environment variable name")
        else:
            if self.url is None:
                raise _invalid("url", f"is required for transport {kind.value}")
            _check_url(self.url)
            if self.command is not None:
                raise _invalid("command", f"is only used with transport stdio, not {kind.value}")
        for name, value in self.headers.items():
            if not _HEADER_NAME.fullmatch(name):
                raise _invalid(f"headers.{name}", "is not a valid HTTP header name")
            if name.lower() in _RESERVED_HEADERS:
                raise _invalid(
                    f"headers.{name}", "is managed by the gateway's MCP transport and cannot be set"
                )
            _check_header_value(f"headers.{name}", value)
        if self.api_key_header is not None and not _HEADER_NAME.fullmatch(self.api_key_header):
            raise _invalid("api_key_header", "is not a valid HTTP header name")
        if self.auth_value is not None:
            _check_header_value("auth_value", self.auth_value)
            if self.auth_type is AuthType.BASIC and ":" not in self.auth_value:
                raise _invalid("auth_value", "must be user:password for auth_type basic")
        if self.timeout_secs is not None:
            if isinstance(self.timeout_secs, bool) or not isinstance(self.timeout_secs, int):
                raise _invalid("timeout_secs", "must be a whole number of seconds")
            if self.timeout_secs < 1:
                raise _invalid("timeout_secs", "must be at least 1")
        for list_name in ("tools", "resources", "args"):
            values = getattr(self, list_name)
            if not isinstance(values, list):
                raise _invalid(list_name, "must be a list of strings")
            for i, value in enumerate(values):
                if not isinstance(value, str):
                    raise _invalid(f"{list_name}[{i}]", "must be a string")
                if list_name != "args" and not value:
                    raise _invalid(f"{list_name}[{i}]", "must not be empty")
        if not isinstance(self.metadata, dict):
            raise _invalid("metadata", "must be an object")
        if self.credentials not in ("shared", "per_user"):
            raise _invalid("credentials", "must be shared or per_user")
        if not isinstance(self.tool_limits, dict):
            raise _invalid("tool_limits", "must be an object of tool names to limits")
        if (self.auth_type is AuthType.TOKEN_EXCHANGE) != (self.token_exchange is not None):
            raise _invalid("token_exchange", "goes with auth_type token_exchange, and only with it")

    def to_dict(self) -> dict[str, Any]:
        """The JSON body the gateway takes: fields left at their defaults are left out."""
        self.validate()
        body: dict[str, Any] = {"server_id": self.server_id}
        if self.name:
            body["name"] = self.name
        optional: dict[str, Any] = {
            "url": self.url,
            "transport": str(self.transport) if self.transport is not None else None,
            "auth_value": self.auth_value,
            "api_key_header": self.api_key_header,
            "command": self.command,
            "cwd": self.cwd,
            "timeout_secs": self.timeout_secs,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        if self.auth_type is not AuthType.NONE:
            body["auth_type"] = str(self.auth_type)
        for key in ("tools", "resources", "args"):
            if getattr(self, key):
                body[key] = list(getattr(self, key))
        for key in ("headers", "env", "tool_limits", "metadata"):
            if getattr(self, key):
                body[key] = dict(getattr(self, key))
        if self.credentials != "shared":
            body["credentials"] = self.credentials
        if self.token_exchange is not None:
            body["token_exchange"] = dict(self.token_exchange)
        return body

    def __repr__(self) -> str:
        # Secrets stay out of reprs and tracebacks.
        secret = ("auth_value", "headers", "env", "token_exchange")
        shown = {k: v for k, v in self.to_dict().items() if k not in secret}
        if self.auth_value is not None:
            shown["auth_value"] = "***"
        if self.headers:
            shown["headers"] = {k: "***" for k in self.headers}
        if self.env:
            shown["env"] = {k: "***" for k in self.env}
        if self.token_exchange is not None:
            shown["token_exchange"] = {
                k: "***" if k == "client_secret" else v for k, v in self.token_exchange.items()
            }
        args = ", ".join(f"{k}={v!r}" for k, v in shown.items())
        return f"MCPServer({args})"


def _invalid(field_name: str, message: str) -> InvalidField:
    return InvalidField(f"{field_name}: {message}", field=field_name)


def _check_type(field_name: str, value: object, expected: type) -> None:
    if not isinstance(value, expected):
        raise _invalid(field_name, f"must be a {expected.__name__}, not {type(value).__name__}")


def _enum(cls: type[Any], value: object, field_name: str) -> Any:
    try:
        return cls(value)
    except ValueError:
        known = ", ".join(member.value for member in cls)
        raise _invalid(field_name, f"must be one of {known}, not {value!r}") from None


def _check_server_id(server_id: object) -> None:
    if not isinstance(server_id, str) or not server_id:
        raise _invalid("server_id", "is required")
    if len(server_id) > MAX_SERVER_ID_LEN:
        raise _invalid("server_id", f"must be at most {MAX_SERVER_ID_LEN} characters")
    if not _SERVER_ID.fullmatch(server_id):
        bad = next(c for c in server_id if not (c.isascii() and (c.isalnum() or c in "-_.")))
        raise _invalid(
            "server_id", f"may only contain letters, digits, '-', '_' and '.', not {bad!r}"
        )


def _check_url(url: object) -> None:
    if not isinstance(url, str):
        raise _invalid("url", "must be a string")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as e:
        raise _invalid("url", f"is not a valid URL: {e}") from None
    if parts.scheme not in ("http", "https"):
        raise _invalid("url", f"scheme must be http or https, not {parts.scheme or '(none)'}")
    if not host:
        raise _invalid("url", "has no host")
    if parts.username is not None or parts.password is not None:
        raise _invalid("url", "must not carry credentials; use auth_type and auth_value instead")


def _check_header_value(field_name: str, value: object) -> None:
    if not isinstance(value, str):
        raise _invalid(field_name, "must be a string")
    if any(c in value for c in "\r\n\0") or not value.isprintable() and not value.isascii():
        raise _invalid(field_name, "contains characters not allowed in an HTTP header")


# Answers of the REST API, as typed dictionaries (they are plain dicts at run time).


class Health(TypedDict, total=False):
    state: Literal["connecting", "healthy", "unhealthy"]
    last_error: str | None
    last_seen: str | None
    since: str


class ServerInfo(TypedDict, total=False):
    """A registered server as ``GET /mcp/servers`` shows it (secrets never included)."""

    server_id: str
    name: str
    url: str
    transport: str
    tools: list[str]
    resources: list[str]
    auth_type: str
    auth_configured: bool
    api_key_header: str
    header_names: list[str]
    command: str
    args: list[str]
    env_names: list[str]
    cwd: str
    timeout_secs: int
    credentials: Literal["shared", "per_user"]
    tool_limits: dict[str, dict[str, int]]
    token_exchange: dict[str, Any]
    metadata: dict[str, Any]
    source: Literal["config", "api"]
    health: Health
    discovered: dict[str, int]
    exposed: dict[str, int]


class ToolInfo(TypedDict, total=False):
    """One tool of ``GET /mcp/tools``: ``tool`` is the upstream's name, ``name`` the exposed
    one (``None`` when another server owns it under the ``reject`` naming policy)."""

    server_id: str
    server_name: str
    tool: str
    name: str | None
    title: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    annotations: dict[str, Any]
    available: bool


class ResourceInfo(TypedDict, total=False):
    """One resource of ``GET /mcp/resources`` (``resource`` is its name upstream)."""

    server_id: str
    server_name: str
    resource: str
    uri: str
    title: str
    description: str
    mime_type: str
    size: int
    available: bool


class ResourceTemplateInfo(TypedDict, total=False):
    """One resource template of ``GET /mcp/resources``."""

    server_id: str
    server_name: str
    resource_template: str
    uri_template: str
    title: str
    description: str
    mime_type: str


class PromptInfo(TypedDict, total=False):
    """One prompt of ``GET /mcp/prompts`` (``prompt`` is its name upstream)."""

    server_id: str
    server_name: str
    prompt: str
    name: str | None
    title: str
    description: str
    arguments: list[dict[str, Any]]
