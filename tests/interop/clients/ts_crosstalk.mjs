// Cross-talk check with the official TypeScript SDK (@modelcontextprotocol/sdk): N concurrent
// clients of /mcp (StreamableHTTPClientTransport), each with its own sampling, elicitation and
// roots handlers, call server-everything's trigger-sampling-request, trigger-elicitation-request
// and get-roots-list on every server at once. Every server->client request must reach the
// client whose call caused it. Same checks and figures as python_crosstalk.py (see there).
//
// usage: node ts_crosstalk.mjs URL SERVER_ID... [--clients 8] [--rounds 3] [--timeout 100]
//                              [--call-timeout 30] [--impostor]
// --impostor: the control of the checks themselves; every handler answers as a client that
// does not exist, so every call must come out `wrong` (the run must FAIL).
// Prints a table and one ok/FAIL line per server; exits 1 if anything was wrong, stray or failed.
import { randomBytes } from "node:crypto";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";

const argv = process.argv.slice(2);
const opts = { clients: 8, rounds: 3, timeout: 100, "call-timeout": 30, impostor: false };
const positional = [];
for (let k = 0; k < argv.length; k++) {
  const flag = argv[k].startsWith("--") ? argv[k].slice(2) : null;
  if (flag === "impostor") opts.impostor = true;
  else if (flag !== null && flag in opts) opts[flag] = Number(argv[++k]);
  else positional.push(argv[k]);
}
const [url, ...servers] = positional;
if (!url || servers.length === 0) {
  console.error("usage: node ts_crosstalk.mjs URL SERVER_ID... [--clients N] [--rounds R]");
  process.exit(2);
}
const CLIENTS = opts.clients;
const ROUNDS = opts.rounds;
const CALL_TIMEOUT_MS = opts["call-timeout"] * 1000;

const RUN = randomBytes(3).toString("hex"); // tells this run's clients from earlier runs'
const SAMPLING = "trigger-sampling-request";
const ELICITATION = "trigger-elicitation-request";
const ROOTS = "get-roots-list";
const TOOLS = [SAMPLING, ELICITATION, ROOTS];
const ANSWERED = /answered-by crosstalk-([0-9a-f]+)-client-(\d+)/g;
const ASKED = /asked-by crosstalk-([0-9a-f]+)-client-(\d+) round (\d+) on (\S+)/;

const ident = (i) => `crosstalk-${RUN}-client-${i}`;
const promptOf = (i, round, server) => `asked-by ${ident(i)} round ${round} on ${server}`;

// `${server} ${tool}` -> counters; examples of what went wrong.
const stats = new Map();
const counters = (server, tool) => {
  const key = `${server} ${tool}`;
  if (!stats.has(key)) stats.set(key, { calls: 0, ok: 0, wrong: 0, failed: 0, stray: 0 });
  return stats.get(key);
};
const examples = new Map();
function note(kind, text) {
  if (!examples.has(kind)) examples.set(kind, []);
  const list = examples.get(kind);
  if (list.length < 2) list.push(text.slice(0, 300).replace(/\n/g, " "));
}
const unattributedStray = [];
const connectFailures = [];
const seen = {}; // client -> kind -> callback invocations

/** All clients start each round together, so their calls overlap. */
function barrier(parties) {
  let waiting = [];
  let broken = false;
  return {
    wait() {
      if (broken) return Promise.resolve();
      return new Promise((resolve) => {
        waiting.push(resolve);
        if (waiting.length >= parties) {
          const all = waiting;
          waiting = [];
          all.forEach((r) => r());
        }
      });
    },
    abort() {
      broken = true;
      waiting.forEach((r) => r());
      waiting = [];
    },
  };
}

function makeClient(i, me) {
  const self = ident(opts.impostor ? i + CLIENTS : i); // who the answers claim to be
  const client = new Client(
    { name: `ts-crosstalk-${i}`, version: "1.0.0" },
    { capabilities: { sampling: {}, elicitation: {}, roots: { listChanged: true } } },
  );
  const count = (kind) => {
    seen[i] ??= {};
    seen[i][kind] = (seen[i][kind] ?? 0) + 1;
  };
  client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
    count("sampling");
    const prompt = req.params.messages[0]?.content?.text ?? "";
    const asked = ASKED.exec(prompt);
    if (!asked || asked[1] !== RUN || Number(asked[2]) !== i) {
      const server = asked ? asked[4] : "?";
      counters(server, SAMPLING).stray += 1;
      note(`stray ${server} ${SAMPLING}`, `client-${i} was shown: ${prompt}`);
    }
    return {
      role: "assistant",
      model: "crosstalk-llm",
      stopReason: "endTurn",
      content: { type: "text", text: `answered-by ${self} | ${prompt}` },
    };
  });
  client.setRequestHandler(ElicitRequestSchema, async () => {
    count("elicitation");
    if (me.elicitationsInFlight === 0) {
      unattributedStray.push(i);
      note("stray elicitation", `client-${i} was asked with no elicitation call in flight`);
    }
    return { action: "accept", content: { name: `answered-by ${self}`, check: true } };
  });
  client.setRequestHandler(ListRootsRequestSchema, async () => {
    count("roots");
    return { roots: [{ uri: `file:///tmp/${self}`, name: `answered-by ${self}` }] };
  });
  return client;
}

function judge(i, round, server, tool, text) {
  const answerers = new Set([...text.matchAll(ANSWERED)].map((m) => `${m[1]}/${m[2]}`));
  const others = [...answerers].filter((a) => a !== `${RUN}/${i}`);
  if (others.length > 0) {
    const who = others
      .map((a) => {
        const [run, j] = a.split("/");
        return `client-${j}${run === RUN ? "" : ` of run ${run}`}`;
      })
      .join(", ");
    note(`wrong ${server} ${tool}`, `client-${i} round ${round} got the answer of ${who}: ${text}`);
    return "wrong";
  }
  if (answerers.size === 0) {
    note(`failed ${server} ${tool}`, `client-${i} round ${round}: no client answered: ${text}`);
    return "failed";
  }
  if (tool === SAMPLING && !text.includes(promptOf(i, round, server))) {
    note(`wrong ${server} ${tool}`, `client-${i} round ${round} got its own answer to another prompt: ${text}`);
    return "wrong";
  }
  if (tool === ROOTS && !text.includes(`file:///tmp/${ident(i)}`)) {
    note(`failed ${server} ${tool}`, `client-${i} round ${round}: root URI missing: ${text}`);
    return "failed";
  }
  return "ok";
}

async function oneCall(client, me, i, round, server, tool) {
  const c = counters(server, tool);
  c.calls += 1;
  const args = tool === SAMPLING ? { prompt: promptOf(i, round, server), maxTokens: 50 } : {};
  if (tool === ELICITATION) me.elicitationsInFlight += 1;
  let result;
  try {
    result = await client.callTool({ name: `${server}__${tool}`, arguments: args }, undefined, {
      timeout: CALL_TIMEOUT_MS,
    });
  } catch (e) {
    c.failed += 1;
    note(`failed ${server} ${tool}`, `client-${i} round ${round}: ${e?.message ?? e}`);
    return;
  } finally {
    if (tool === ELICITATION) me.elicitationsInFlight -= 1;
  }
  const text = (result.content ?? []).map((x) => x.text ?? "").join(" ");
  if (result.isError) {
    c.failed += 1;
    note(`failed ${server} ${tool}`, `client-${i} round ${round}: error result: ${text}`);
    return;
  }
  c[judge(i, round, server, tool, text)] += 1;
}

async function runClient(i, gate, clients) {
  const me = { elicitationsInFlight: 0 };
  const client = makeClient(i, me);
  try {
    await Promise.race([
      client.connect(new StreamableHTTPClientTransport(new URL(url))),
      new Promise((_, reject) => setTimeout(() => reject(new Error("connect timed out")), CALL_TIMEOUT_MS)),
    ]);
  } catch (e) {
    connectFailures.push(`client-${i}: ${e?.message ?? e}`);
    gate.abort();
    return;
  }
  clients.push(client);
  for (let round = 0; round < ROUNDS; round++) {
    await gate.wait();
    // Per server, the three tools one after the other; all servers at once.
    await Promise.all(
      servers.map(async (server) => {
        for (const tool of TOOLS) await oneCall(client, me, i, round, server, tool);
      }),
    );
  }
}

function report(elapsed, timedOut) {
  const expected = CLIENTS * ROUNDS;
  console.log(
    `crosstalk ts${opts.impostor ? " (impostor control)" : ""}: ${CLIENTS} clients x ${ROUNDS} rounds x ${servers.length} servers via ${url} (run ${RUN}, ${elapsed.toFixed(1)} s)`,
  );
  const row = (a, b, ...n) => `${a.padEnd(12)} ${b.padEnd(29)} ${n.map((x, k) => String(x).padStart([5, 4, 5, 6, 5][k])).join(" ")}`;
  console.log(row("server", "tool", "calls", "ok", "wrong", "failed", "stray"));
  const bad = new Map();
  for (const server of servers) {
    const problems = [];
    for (const tool of TOOLS) {
      const s = counters(server, tool);
      const failed = s.failed + (expected - s.calls); // calls never made count as failed
      console.log(row(server, tool, expected, s.ok, s.wrong, failed, s.stray));
      if (s.wrong || failed || s.stray) {
        problems.push(`${tool}: ${s.wrong}/${expected} wrong client, ${failed}/${expected} failed, ${s.stray} stray`);
      }
    }
    if (problems.length) bad.set(server, problems);
  }
  for (const [key, s] of stats) {
    const [server, tool] = key.split(" ");
    if (!servers.includes(server)) console.log(row(server, tool, "", "", "", "", s.stray));
  }
  console.log(`callbacks invoked per client: ${JSON.stringify(seen)}`);
  for (const [kind, texts] of [...examples].sort()) for (const t of texts) console.log(`  e.g. ${kind}: ${t}`);
  for (const t of connectFailures) console.log(`  connect failed: ${t}`);
  for (const server of servers) {
    if (bad.has(server)) console.log(`FAIL ts ${server} cross-talk: ${bad.get(server).join("; ")}`);
    else console.log(`ok ts ${server} cross-talk: every request reached its own client`);
  }
  if (unattributedStray.length) console.log(`FAIL ts ${unattributedStray.length} elicitation requests reached a client with none in flight`);
  if (connectFailures.length) console.log(`FAIL ts ${connectFailures.length} clients could not connect`);
  if (timedOut) console.log(`FAIL ts overall timeout of ${opts.timeout} s`);
  return bad.size || unattributedStray.length || connectFailures.length || timedOut ? 1 : 0;
}

const start = Date.now();
const gate = barrier(CLIENTS);
const clients = [];
const all = Promise.all(Array.from({ length: CLIENTS }, (_, i) => runClient(i, gate, clients))).then(() => false);
const timedOut = await Promise.race([all, new Promise((resolve) => setTimeout(() => resolve(true), opts.timeout * 1000))]);
const code = report((Date.now() - start) / 1000, timedOut);
if (!timedOut) await Promise.allSettled(clients.map((c) => c.close()));
process.exit(code);
