"""Drives mcp-gateway's /mcp with the official Python SDK (`mcp` on PyPI) and checks the
relay of server->client traffic through a server-everything upstream registered as
`everything` (any transport).

usage: python_relay.py URL MODE [SERVER_ID]   (MODE: legacy | 2026-07-28; SERVER_ID: everything)
Prints one line per check and exits non-zero on the first failure.
"""

import asyncio
import sys

from mcp import Client, types

URL, MODE = sys.argv[1], sys.argv[2]
P = (sys.argv[3] if len(sys.argv) > 3 else "everything") + "__"


def check(name, ok, detail=""):
    print(f"{'ok' if ok else 'FAIL'} {MODE} {name} {detail}".rstrip(), flush=True)
    if not ok:
        sys.exit(1)


async def sampling(context, params):
    prompt = params.messages[0].content.text
    return types.CreateMessageResult(
        role="assistant",
        content=types.TextContent(type="text", text=f"sampled: {prompt}"),
        model="fake-llm",
        stop_reason="endTurn",
    )


async def elicitation(context, params):
    return types.ElicitResult(action="accept", content={"color": "green", "firstLine": "gw", "checkbox": True})


async def roots(context):
    return types.ListRootsResult(roots=[types.Root(uri="file:///tmp/gateway-root", name="gw-root")])


logs = []


async def on_log(params):
    logs.append(params)


async def main():
    async with Client(
        URL,
        mode=MODE,
        sampling_callback=sampling,
        elicitation_callback=elicitation,
        list_roots_callback=roots,
        logging_callback=on_log,
    ) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        check("tools listed", f"{P}echo" in tools, f"({len(tools)} tools)")

        r = await client.call_tool(f"{P}echo", {"message": "hi"})
        check("tools/call", r.content[0].text == "Echo: hi")

        progress = []

        async def on_progress(p, total, message):
            progress.append(p)

        r = await client.call_tool(
            f"{P}trigger-long-running-operation", {"duration": 1, "steps": 3}, progress_callback=on_progress
        )
        check("progress relayed", len(progress) >= 2, f"{progress}")

        # Both eras: a 2026-07-28 client gets these as input_required (era bridging).
        r = await client.call_tool(f"{P}trigger-sampling-request", {"prompt": "2+2?", "maxTokens": 20})
        text = " ".join(c.text for c in r.content if c.type == "text")
        check("sampling/createMessage routed back", "sampled:" in text and "2+2?" in text, text[:200].replace("\n", " "))

        r = await client.call_tool(f"{P}trigger-elicitation-request", {})
        text = " ".join(c.text for c in r.content if c.type == "text")
        check("elicitation/create routed back", "green" in text, text[:120])

        if MODE == "legacy":
            # server-everything asks for roots when a session starts, which 2026-07-28
            # clients (no sessions) never do.
            r = await client.call_tool(f"{P}get-roots-list", {})
            text = " ".join(c.text for c in r.content if c.type == "text")
            check("roots/list routed back", "gateway-root" in text, text[:120])

        res = await client.read_resource("demo://resource/static/document/architecture.md")
        check("resources/read", len(res.contents) == 1)

        prompt = await client.get_prompt(f"{P}simple-prompt")
        check("prompts/get", len(prompt.messages) >= 1)


asyncio.run(main())
