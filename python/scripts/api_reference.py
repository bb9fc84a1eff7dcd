"""Writes (or, with --check, verifies) docs/python-api.md: the Python package's API
reference, from its docstrings and signatures.

    python python/scripts/api_reference.py          # rewrite the file
    python python/scripts/api_reference.py --check  # exit 1 if it is out of date
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import mcp_gateway
from mcp_gateway import errors

OUT = Path(__file__).resolve().parents[2] / "docs" / "python-api.md"

CLASSES = [
    mcp_gateway.MCPGateway,
    mcp_gateway.AsyncMCPGateway,
    mcp_gateway.MCPServer,
    mcp_gateway.MCPTransport,
    mcp_gateway.AuthType,
    mcp_gateway.GatewayProcess,
]
FUNCTIONS = [
    mcp_gateway.get_mcp_gateway,
    mcp_gateway.get_async_mcp_gateway,
    mcp_gateway.local_gateway,
    mcp_gateway.async_local_gateway,
    mcp_gateway.find_binary,
]


def _doc(obj: object) -> str:
    return inspect.cleandoc(inspect.getdoc(obj) or "")


def _signature(obj: object) -> str:
    try:
        return str(inspect.signature(obj))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "(…)"


def _members(cls: type) -> list[tuple[str, object]]:
    own = [
        (name, value)
        for name, value in vars(cls).items()
        if not name.startswith("_") and (inspect.isfunction(value) or isinstance(value, property))
    ]
    return sorted(own)


def render() -> str:
    lines = [
        "# Python API reference",
        "",
        "Generated from the docstrings of the `mcp_gateway` package by",
        "`python python/scripts/api_reference.py` (a test fails when it is out of date).",
        "`litellm_llmrouter` re-exports the same objects under the seed's name.",
        "",
        "## Functions",
        "",
    ]
    for function in FUNCTIONS:
        lines += [f"### `{function.__name__}{_signature(function)}`", "", _doc(function), ""]
    lines += ["## Classes", ""]
    for cls in CLASSES:
        lines += [f"### `{cls.__name__}`", "", _doc(cls), ""]
        if issubclass(cls, mcp_gateway.MCPTransport | mcp_gateway.AuthType):
            values = ", ".join(f"`{member.name}` = `{member.value}`" for member in cls)
            lines += [f"Values: {values}.", ""]
            continue
        for name, member in _members(cls):
            if isinstance(member, property):
                lines += [f"- `{name}` (property): {_doc(member).splitlines()[0] if _doc(member) else ''}"]
                continue
            summary = _doc(member).replace("\n", " ")
            lines += [f"- `{name}{_signature(member)}`: {summary}"]
        lines += [""]
    lines += ["## Errors (`mcp_gateway.errors`)", "", _doc(errors), "", "| code | exception | family |", "|---|---|---|"]
    for code, cls in sorted(errors.BY_CODE.items()):
        family = cls.__mro__[1].__name__
        lines += [f"| `{code}` | `{cls.__name__}` | `{family}` |"]
    lines += [
        "",
        "Raised without an answer: `ConnectionFailed` (the gateway could not be reached) and",
        "`ClientTimeout` (no answer within the client's `timeout`); both name the URL.",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is out of date: run python/scripts/api_reference.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
