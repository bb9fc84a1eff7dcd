"""The gateway's errors as Python exceptions.

Every error the gateway answers is JSON, ``{"error": {"code", "message", "field"}}``; each
``code`` has its exception class here (:data:`BY_CODE`), all subclasses of
:class:`MCPGatewayError`, which carries the code, the message, the field (for bad input)
and the HTTP status. A code this version does not know still raises an
:class:`MCPGatewayError` of the status's family (:class:`NotFound`, :class:`UpstreamFailure`,
…). Nothing here ever surfaces a bare HTTP error.
"""

from __future__ import annotations

from typing import Any


class MCPGatewayError(Exception):
    """An error answered by the gateway (or found before asking it).

    Attributes:
        code: the gateway's stable error code (``server_not_found``, ``invalid_field``, …).
        message: the gateway's explanation.
        field: the offending field, for bad input (``url``, ``tools[2]``, ``headers.X``).
        status: the HTTP status (``None`` when nothing was sent, e.g. a connection failure).
        retry_after: seconds to wait before retrying, when the gateway said so.
    """

    code: str = "error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.field = field
        self.status = status
        self.retry_after = retry_after

    def __str__(self) -> str:
        where = f" (field {self.field})" if self.field else ""
        status = f"{self.status} " if self.status is not None else ""
        return f"{status}{self.code}: {self.message}{where}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, "
            f"field={self.field!r}, status={self.status!r})"
        )


class ConnectionFailed(MCPGatewayError):
    """The gateway could not be reached at all (refused, unresolvable, timed out)."""

    code = "connection_failed"

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach the gateway at {url}: {reason}")
        self.url = url


class ClientTimeout(MCPGatewayError):
    """The gateway took longer to answer than this client's ``timeout`` (the request may
    still complete there)."""

    code = "client_timeout"

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"no answer from the gateway at {url} in time: {reason}")
        self.url = url


class BadRequest(MCPGatewayError):
    """400: the body was empty, not JSON, or not an object."""


class Unauthorized(MCPGatewayError):
    """401: the master key (or caller key) is missing or wrong."""

    code = "unauthorized"


class Forbidden(MCPGatewayError):
    """403: refused by policy (``field`` says what)."""

    code = "forbidden"


class HostNotAllowed(Forbidden):
    """403: the gateway does not answer to this ``Host``."""

    code = "host_not_allowed"


class OriginNotAllowed(Forbidden):
    """403: the gateway does not answer to this ``Origin``."""

    code = "origin_not_allowed"


class NotFound(MCPGatewayError):
    """404: no such route or thing."""

    code = "not_found"


class ServerNotFound(NotFound):
    """404: no server is registered with this id."""

    code = "server_not_found"


class ToolNotFound(NotFound):
    """404: no tool is exposed under this name."""

    code = "tool_not_found"


class KeyNotFound(NotFound):
    """404: no API key has this id."""

    code = "key_not_found"


class PolicyNotFound(NotFound):
    """404: no policy has this name."""

    code = "policy_not_found"


class CredentialNotFound(NotFound):
    """404: the caller has no credential stored for this server."""

    code = "credential_not_found"


class GatewayDisabled(NotFound):
    """404: the gateway runs with ``MCP_GATEWAY_ENABLED=false``."""

    code = "mcp_gateway_disabled"


class MethodNotAllowed(MCPGatewayError):
    """405: the route does not take this method."""

    code = "method_not_allowed"


class RequestTimeout(MCPGatewayError):
    """408: the request body did not arrive in time."""

    code = "request_timeout"


class Conflict(MCPGatewayError):
    """409: the change conflicts with what is registered."""


class ServerExists(Conflict):
    """409: a server with this id is already registered."""

    code = "server_exists"


class ServerDefinedInConfig(Conflict):
    """409: the server comes from the gateway's config file; the API cannot change it."""

    code = "server_defined_in_config"


class KeyDefinedInConfig(Conflict):
    """409: the API key comes from the gateway's config file; the API cannot change it."""

    code = "key_defined_in_config"


class PolicyExists(Conflict):
    """409: a policy of this name exists (``replace_policy`` changes it)."""

    code = "policy_exists"


class PolicyDefinedInConfig(Conflict):
    """409: the policy comes from the gateway's config file; the API cannot change it."""

    code = "policy_defined_in_config"


class PolicyInUse(Conflict):
    """409: API keys name the policy; take it off them first."""

    code = "policy_in_use"


class BodyTooLarge(MCPGatewayError):
    """413: the body is over ``gateway.max_body_bytes``."""

    code = "body_too_large"


class UnsupportedMediaType(MCPGatewayError):
    """415: the body was not sent as JSON."""

    code = "unsupported_media_type"


class InvalidField(MCPGatewayError):
    """422 (or found before sending): a field has the wrong type or value."""

    code = "invalid_field"


class CredentialRequired(Forbidden):
    """403: the server takes each caller's own credential, and this caller stored none
    (``set_credential`` stores one)."""

    code = "credential_required"


class RateLimited(MCPGatewayError):
    """429: over a rate limit; ``retry_after`` says when to try again."""

    code = "rate_limited"


class GatewayFailure(MCPGatewayError):
    """5xx: the gateway or something behind it failed."""


class UpstreamFailure(GatewayFailure):
    """502/503/504 for a tool call: the upstream server failed."""


class UpstreamError(UpstreamFailure):
    """502: the upstream server answered with an error."""

    code = "upstream_error"


class UpstreamUnavailable(UpstreamFailure):
    """503: the upstream server is not connected."""

    code = "upstream_unavailable"


class UpstreamTimeout(UpstreamFailure):
    """504: the upstream server did not answer within its timeout."""

    code = "upstream_timeout"


class StoreUnavailable(GatewayFailure):
    """503: the gateway's database did not answer; nothing was changed."""

    code = "store_unavailable"


class GatewayTimeout(GatewayFailure):
    """503: the route did not answer within ``gateway.request_timeout_secs``."""

    code = "timeout"


BY_CODE: dict[str, type[MCPGatewayError]] = {
    "empty_body": BadRequest,
    "invalid_json": BadRequest,
    "invalid_body": BadRequest,
    "invalid_message": BadRequest,
    "unauthorized": Unauthorized,
    "forbidden": Forbidden,
    "host_not_allowed": HostNotAllowed,
    "origin_not_allowed": OriginNotAllowed,
    "not_found": NotFound,
    "server_not_found": ServerNotFound,
    "tool_not_found": ToolNotFound,
    "key_not_found": KeyNotFound,
    "policy_not_found": PolicyNotFound,
    "credential_not_found": CredentialNotFound,
    "credential_required": CredentialRequired,
    "policy_exists": PolicyExists,
    "policy_defined_in_config": PolicyDefinedInConfig,
    "policy_in_use": PolicyInUse,
    "mcp_gateway_disabled": GatewayDisabled,
    "method_not_allowed": MethodNotAllowed,
    "request_timeout": RequestTimeout,
    "server_exists": ServerExists,
    "server_defined_in_config": ServerDefinedInConfig,
    "key_defined_in_config": KeyDefinedInConfig,
    "body_too_large": BodyTooLarge,
    "unsupported_media_type": UnsupportedMediaType,
    "invalid_field": InvalidField,
    "rate_limited": RateLimited,
    "upstream_error": UpstreamError,
    "upstream_unavailable": UpstreamUnavailable,
    "upstream_timeout": UpstreamTimeout,
    "store_unavailable": StoreUnavailable,
    "timeout": GatewayTimeout,
}
"""The exception class of each error code the gateway answers."""


def _by_status(status: int) -> type[MCPGatewayError]:
    """The family of an error code this client does not know."""
    return {
        400: BadRequest,
        401: Unauthorized,
        403: Forbidden,
        404: NotFound,
        405: MethodNotAllowed,
        408: RequestTimeout,
        409: Conflict,
        413: BodyTooLarge,
        415: UnsupportedMediaType,
        422: InvalidField,
        429: RateLimited,
        502: UpstreamFailure,
        504: UpstreamFailure,
    }.get(status, GatewayFailure if status >= 500 else MCPGatewayError)


def from_response(status: int, body: Any, retry_after: str | None = None) -> MCPGatewayError:
    """The exception for an error answer: its JSON body decoded, or (for a body that is not
    the gateway's error shape, e.g. from a proxy in front of it) the status and text."""
    code: str | None = None
    message = f"HTTP {status}"
    field: str | None = None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        if isinstance(error.get("code"), str):
            code = error["code"]
        if isinstance(error.get("message"), str):
            message = error["message"]
        if isinstance(error.get("field"), str):
            field = error["field"]
    elif isinstance(body, str) and body.strip():
        message = body.strip()[:500]
    cls = BY_CODE.get(code, _by_status(status)) if code else _by_status(status)
    wait: float | None = None
    if retry_after is not None:
        try:
            wait = float(retry_after)
        except ValueError:
            wait = None
    return cls(message, code=code, field=field, status=status, retry_after=wait)
