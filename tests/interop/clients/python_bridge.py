"""Era bridging in front of a 2026-07-28 upstream (tests/interop/servers/python_elicit.py,
registered as `elicit`): its tool asks for input with `input_required`. A session-era
client must get an ordinary `elicitation/create`; a 2026-07-28 client the
`input_required` itself. Either way the call completes with the client's answer.

usage: python_bridge.py URL MODE
"""

import asyncio
import sys

from mcp import Client, types

URL, MODE = sys.argv[1], sys.argv[2]
asked = []


async def elicitation(context, params):
    asked.append(params.message)
    return types.ElicitResult(action="accept", content={"colour": "teal"})


async def main():
    async with Client(URL, mode=MODE, elicitation_callback=elicitation) as client:
        r = await client.call_tool("elicit__favourite_colour", {})
        text = r.content[0].text if r.content else repr(r)
        ok = text == "favourite colour: teal" and len(asked) == 1
        print(f"{'ok' if ok else 'FAIL'} {MODE} input_required bridged: {text} (asked {len(asked)}x)", flush=True)
        if not ok:
            sys.exit(1)


asyncio.run(main())
