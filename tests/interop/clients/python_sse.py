"""Drives mcp-gateway's legacy HTTP+SSE face (GET /sse + POST /messages) with the official
Python SDK's SSE client (`mcp.client.sse.sse_client`), against an rmcp fixture upstream
registered under SERVER_ID.

usage: python_sse.py URL SERVER_ID   (URL: http://127.0.0.1:<port>/sse)
Prints one line per check and exits non-zero on the first failure.
"""

import asyncio
import sys

from mcp import ClientSession
from mcp.client.sse import sse_client

URL = sys.argv[1]
P = sys.argv[2] + "__"


def check(name, ok, detail=""):
    print(f"{'ok' if ok else 'FAIL'} sse {name} {detail}".rstrip(), flush=True)
    if not ok:
        sys.exit(1)


async def main():
    async with sse_client(URL) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            check("initialize", init.server_info.name == "mcp-gateway", f"(protocol {init.protocol_version})")

            tools = {t.name for t in (await session.list_tools()).tools}
            check("tools listed", f"{P}echo" in tools, f"({len(tools)} tools)")

            r = await session.call_tool(f"{P}echo", {"message": "hello over sse"})
            check("tools/call", r.content[0].text == "hello over sse", r.content[0].text)

            res = await session.read_resource("fixture://items/7")
            check("resources/read", "item 7" in res.contents[0].text, res.contents[0].text)

            await session.send_ping()
            check("ping", True)


asyncio.run(asyncio.wait_for(main(), 60))
