"""A small MCP server on the official Python SDK (`mcp` on PyPI) whose tool asks the client
for input through a resolver. With a 2026-07-28 client (such as the gateway's upstream
session) the SDK answers `input_required` and resumes on the retry; with an older client it
sends `elicitation/create` mid-call. Used to test era bridging in front of a modern upstream.

usage: python_elicit.py   (stdio)
"""

from typing import Annotated

from pydantic import BaseModel

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.resolve import Elicit, Resolve

server = MCPServer("python-elicit")


class Colour(BaseModel):
    colour: str


def ask_colour() -> Elicit[Colour]:
    return Elicit("What is your favourite colour?", Colour)


@server.tool()
async def favourite_colour(answer: Annotated[Colour, Resolve(ask_colour)]) -> str:
    """Asks the user for their favourite colour."""
    return f"favourite colour: {answer.colour}"


if __name__ == "__main__":
    server.run("stdio")
