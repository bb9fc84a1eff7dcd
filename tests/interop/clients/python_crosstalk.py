"""Cross-talk check: many concurrent clients of the official Python SDK (`mcp` on PyPI), each
with its own sampling, elicitation and roots callbacks, drive server-everything upstreams
through mcp-gateway at the same time. Every server->client request must reach the client
whose call caused it, and every answer must come back to that call.

usage: python_crosstalk.py URL MODE SERVER_ID... [--clients 8] [--rounds 3]
                           [--timeout 100] [--call-timeout 30] [--impostor]
  MODE legacy      Client(URL, mode="legacy")      session-era client of /mcp
  MODE 2026-07-28  Client(URL, mode="2026-07-28")  sessionless; the gateway bridges the
                                                   upstream's requests to input_required
  MODE sse         sse_client(URL) + ClientSession the legacy HTTP+SSE face (URL = .../sse)

Each client i, in every round (all clients start a round together), calls on every server
at once: `S__trigger-sampling-request` with a prompt naming client i, the round and the
server; `S__trigger-elicitation-request`; `S__get-roots-list`. Client i's callbacks answer
with its own identity (`answered-by crosstalk-<run>-client-<i>`): sampling echoes the prompt
it was shown, elicitation sends it as `name` (server-everything echoes `- Name: ...`), roots
returns `file:///tmp/crosstalk-<run>-client-<i>` named after it.

A call is `ok` when its result carries its own client's identity only (and, for sampling,
its own prompt), `wrong` when it carries another client's, `failed` on an exception, an
error result, a timeout or a result that no client answered. `stray` counts requests a
client's callback was shown that another client caused: sampling prompts naming another
client, and elicitation requests arriving while the client had none in flight. Prints a
table and one `ok`/`FAIL` line per server; exits 1 if anything was wrong, stray or failed.

`--impostor` is the control of the checks themselves: every callback answers as a client
that does not exist, so every call must come out `wrong` (the run must FAIL).

In 2026-07-28 mode a `get-roots-list` result without any roots is `ok`: sessionless clients
are never asked for roots by server-everything, which caches them per upstream session
(python_relay.py skips that check for the same reason). Another client's roots are `wrong`.
"""

import argparse
import asyncio
import os
import re
import secrets
import sys
import time
from collections import defaultdict
from contextlib import AsyncExitStack

from mcp import Client, ClientSession, types
from mcp.client.sse import sse_client

parser = argparse.ArgumentParser()
parser.add_argument("url")
parser.add_argument("mode", choices=["legacy", "2026-07-28", "sse"])
parser.add_argument("servers", nargs="+")
parser.add_argument("--clients", type=int, default=8)
parser.add_argument("--rounds", type=int, default=3)
parser.add_argument("--timeout", type=float, default=100.0, help="overall bound, seconds")
parser.add_argument("--call-timeout", type=float, default=30.0, help="bound of one tool call, seconds")
parser.add_argument("--impostor", action="store_true", help="callbacks answer as a client that does not exist")
ARGS = parser.parse_args()

RUN = secrets.token_hex(3)  # tells this run's clients from those of earlier runs
SAMPLING, ELICITATION, ROOTS = "trigger-sampling-request", "trigger-elicitation-request", "get-roots-list"
TOOLS = [SAMPLING, ELICITATION, ROOTS]
ANSWERED = re.compile(r"answered-by crosstalk-([0-9a-f]+)-client-(\d+)")
ASKED = re.compile(r"asked-by crosstalk-([0-9a-f]+)-client-(\d+) round (\d+) on (\S+)")


def ident(i):
    return f"crosstalk-{RUN}-client-{i}"


def prompt_of(i, rnd, server):
    return f"asked-by {ident(i)} round {rnd} on {server}"


# (server, tool) -> counters; examples of what went wrong, for the report.
stats = defaultdict(lambda: {"calls": 0, "ok": 0, "wrong": 0, "failed": 0, "stray": 0})
examples = defaultdict(list)
unattributed_stray = []  # elicitation requests a client got with none of its own in flight
callbacks_seen = defaultdict(lambda: defaultdict(int))  # client -> kind -> invocations
connect_failures = []


def note(kind, text):
    if len(examples[kind]) < 2:
        examples[kind].append(text[:300].replace("\n", " "))


class Identity:
    """One client's callbacks; everything they are shown is recorded."""

    def __init__(self, i):
        self.i = i
        self.me = ident(i + ARGS.clients if ARGS.impostor else i)  # who the answers claim to be
        self.elicitations_in_flight = 0

    async def sampling(self, context, params):
        callbacks_seen[self.i]["sampling"] += 1
        content = params.messages[0].content
        prompt = getattr(content, "text", "") or ""
        asked = ASKED.search(prompt)
        if asked is None or (asked.group(1), int(asked.group(2))) != (RUN, self.i):
            server = asked.group(4) if asked else "?"
            stats[(server, SAMPLING)]["stray"] += 1
            note(f"stray {server} {SAMPLING}", f"client-{self.i} was shown: {prompt}")
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=f"answered-by {self.me} | {prompt}"),
            model="crosstalk-llm",
            stop_reason="endTurn",
        )

    async def elicitation(self, context, params):
        callbacks_seen[self.i]["elicitation"] += 1
        if self.elicitations_in_flight == 0:
            unattributed_stray.append(self.i)
            note("stray elicitation", f"client-{self.i} was asked with no elicitation call in flight")
        return types.ElicitResult(action="accept", content={"name": f"answered-by {self.me}", "check": True})

    async def roots(self, context):
        callbacks_seen[self.i]["roots"] += 1
        return types.ListRootsResult(
            roots=[types.Root(uri=f"file:///tmp/{self.me}", name=f"answered-by {self.me}")]
        )


async def connect(stack, me):
    """A connected client; `call(name, args)` returns a CallToolResult."""
    if ARGS.mode == "sse":
        read, write = await stack.enter_async_context(sse_client(ARGS.url, sse_read_timeout=ARGS.timeout))
        session = await stack.enter_async_context(
            ClientSession(
                read,
                write,
                sampling_callback=me.sampling,
                elicitation_callback=me.elicitation,
                list_roots_callback=me.roots,
            )
        )
        await session.initialize()
        return session.call_tool
    client = await stack.enter_async_context(
        Client(
            ARGS.url,
            mode=ARGS.mode,
            sampling_callback=me.sampling,
            elicitation_callback=me.elicitation,
            list_roots_callback=me.roots,
        )
    )
    return client.call_tool


def judge(i, rnd, server, tool, text):
    """`ok`, `wrong` or `failed` for the text of one call's result."""
    answerers = {(m.group(1), int(m.group(2))) for m in ANSWERED.finditer(text)}
    others = answerers - {(RUN, i)}
    if others:
        who = ", ".join(f"client-{j}" + ("" if run == RUN else f" of run {run}") for run, j in sorted(others))
        note(f"wrong {server} {tool}", f"client-{i} round {rnd} got the answer of {who}: {text}")
        return "wrong"
    if not answerers:
        if tool == ROOTS and ARGS.mode == "2026-07-28" and "crosstalk-" not in text:
            return "ok"
        note(f"failed {server} {tool}", f"client-{i} round {rnd}: no client answered: {text}")
        return "failed"
    if tool == SAMPLING and prompt_of(i, rnd, server) not in text:
        note(f"wrong {server} {tool}", f"client-{i} round {rnd} got its own answer to another prompt: {text}")
        return "wrong"
    if tool == ROOTS and f"file:///tmp/{ident(i)}" not in text:
        note(f"failed {server} {tool}", f"client-{i} round {rnd}: root URI missing: {text}")
        return "failed"
    return "ok"


async def one_call(call, me, rnd, server, tool):
    counters = stats[(server, tool)]
    counters["calls"] += 1
    args = {"prompt": prompt_of(me.i, rnd, server), "maxTokens": 50} if tool == SAMPLING else {}
    if tool == ELICITATION:
        me.elicitations_in_flight += 1
    try:
        async with asyncio.timeout(ARGS.call_timeout):
            result = await call(f"{server}__{tool}", args)
    except Exception as e:  # noqa: BLE001 - every failure is a figure
        counters["failed"] += 1
        reason = "timed out" if isinstance(e, asyncio.TimeoutError) else f"{type(e).__name__}: {e}"
        note(f"failed {server} {tool}", f"client-{me.i} round {rnd}: {reason}")
        return
    finally:
        if tool == ELICITATION:
            me.elicitations_in_flight -= 1
    text = " ".join(getattr(c, "text", "") for c in result.content)
    if result.is_error:
        counters["failed"] += 1
        note(f"failed {server} {tool}", f"client-{me.i} round {rnd}: error result: {text}")
        return
    counters[judge(me.i, rnd, server, tool, text)] += 1


async def run_client(i, barrier):
    me = Identity(i)
    async with AsyncExitStack() as stack:
        try:
            async with asyncio.timeout(ARGS.call_timeout):  # same task: anyio scopes stay valid
                call = await connect(stack, me)
        except Exception as e:  # noqa: BLE001
            connect_failures.append(f"client-{i}: {type(e).__name__}: {e}")
            barrier_abort(barrier)
            return
        for rnd in range(ARGS.rounds):
            try:  # every client starts a round together, so the calls overlap
                await barrier.wait()
            except asyncio.BrokenBarrierError:
                pass
            # Per server, the three tools one after the other; all servers at once.
            await asyncio.gather(*(server_round(call, me, rnd, server) for server in ARGS.servers))


def barrier_abort(barrier):
    asyncio.get_running_loop().create_task(barrier.abort())


async def server_round(call, me, rnd, server):
    for tool in TOOLS:
        await one_call(call, me, rnd, server, tool)


def report(elapsed, timed_out):
    expected = ARGS.clients * ARGS.rounds
    print(
        f"crosstalk {ARGS.mode}{' (impostor control)' if ARGS.impostor else ''}: {ARGS.clients} clients x {ARGS.rounds} rounds x {len(ARGS.servers)} servers "
        f"via {ARGS.url} (run {RUN}, {elapsed:.1f} s)",
        flush=True,
    )
    header = f"{'server':<12} {'tool':<29} {'calls':>5} {'ok':>4} {'wrong':>5} {'failed':>6} {'stray':>5}"
    print(header)
    bad_servers = {}
    for server in ARGS.servers:
        problems = []
        for tool in TOOLS:
            s = stats[(server, tool)]
            # Calls never started (a client could not connect, or the overall timeout hit)
            # are failures too.
            missing = expected - s["calls"]
            failed = s["failed"] + missing
            print(f"{server:<12} {tool:<29} {expected:>5} {s['ok']:>4} {s['wrong']:>5} {failed:>6} {s['stray']:>5}")
            if s["wrong"] or failed or s["stray"]:
                problems.append(
                    f"{tool}: {s['wrong']}/{expected} wrong client, {failed}/{expected} failed, {s['stray']} stray"
                )
        if problems:
            bad_servers[server] = problems
    for key in sorted(k for k in stats if k[0] not in ARGS.servers):  # unparseable stray prompts
        print(f"{key[0]:<12} {key[1]:<29} {'':>5} {'':>4} {'':>5} {'':>6} {stats[key]['stray']:>5}")
    seen = {i: dict(v) for i, v in sorted(callbacks_seen.items())}
    print(f"callbacks invoked per client: {seen}")
    for kind, texts in sorted(examples.items()):
        for text in texts:
            print(f"  e.g. {kind}: {text}")
    for text in connect_failures:
        print(f"  connect failed: {text}")
    failed_overall = bool(bad_servers or unattributed_stray or connect_failures or timed_out)
    for server in ARGS.servers:
        if server in bad_servers:
            print(f"FAIL {ARGS.mode} {server} cross-talk: " + "; ".join(bad_servers[server]))
        else:
            print(f"ok {ARGS.mode} {server} cross-talk: every request reached its own client")
    if unattributed_stray:
        print(f"FAIL {ARGS.mode} {len(unattributed_stray)} elicitation requests reached a client with none in flight")
    if connect_failures:
        print(f"FAIL {ARGS.mode} {len(connect_failures)} clients could not connect")
    if timed_out:
        print(f"FAIL {ARGS.mode} overall timeout of {ARGS.timeout:.0f} s")
    sys.stdout.flush()
    return 1 if failed_overall else 0


async def main():
    barrier = asyncio.Barrier(ARGS.clients)
    start = time.monotonic()
    tasks = [asyncio.create_task(run_client(i, barrier)) for i in range(ARGS.clients)]
    _, pending = await asyncio.wait(tasks, timeout=ARGS.timeout)
    timed_out = bool(pending)
    code = report(time.monotonic() - start, timed_out)
    if timed_out:
        os._exit(code)  # stuck clients may not shut down cleanly
    return code


sys.exit(asyncio.run(main()))
