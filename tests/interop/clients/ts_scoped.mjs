// A scoped API key through the official TypeScript SDK (@modelcontextprotocol/sdk), on
// /mcp (streamable HTTP) and on the legacy /sse face: the key sees exactly the tools it
// grants, calls them, and a tool outside its grant is answered as one that does not exist.
// usage: node ts_scoped.mjs BASE_URL KEY EXPECTED_TOOLS_JSON ALLOWED_TOOL DENIED_TOOL
// Prints one line per check; exits 1 on failure.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [base, key, expectedJson, allowed, denied] = process.argv.slice(2);
const expected = JSON.parse(expectedJson).sort();
const headers = { Authorization: `Bearer ${key}` };

function check(face, name, ok, detail = "") {
  console.log(`${ok ? "ok" : "FAIL"} ts ${face} ${name} ${detail}`.trimEnd());
  if (!ok) process.exit(1);
}

async function errorOf(promise) {
  try {
    const result = await promise;
    return result.isError ? `tool error: ${JSON.stringify(result.content)}` : "no error";
  } catch (e) {
    return String(e.message ?? e);
  }
}

const faces = {
  "streamable-http": () =>
    new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: { headers } }),
  sse: () =>
    new SSEClientTransport(new URL(`${base}/sse`), {
      requestInit: { headers },
      eventSourceInit: {
        fetch: (url, init) => fetch(url, { ...init, headers: { ...init?.headers, ...headers } }),
      },
    }),
};

for (const [face, transport] of Object.entries(faces)) {
  const client = new Client({ name: "ts-scoped", version: "1.0.0" }, { capabilities: {} });
  await client.connect(transport());
  const tools = (await client.listTools()).tools.map((t) => t.name).sort();
  check(face, "sees only its tools", JSON.stringify(tools) === JSON.stringify(expected), JSON.stringify(tools));
  const echoed = await client.callTool({ name: allowed, arguments: { message: "ts" } });
  check(face, "calls a granted tool", echoed.content?.[0]?.text === "ts", JSON.stringify(echoed.content));
  const refused = await errorOf(client.callTool({ name: denied, arguments: { message: "ts" } }));
  const unknown = await errorOf(client.callTool({ name: "no_such__tool", arguments: {} }));
  check(
    face,
    "a tool outside the grant is unknown",
    refused.includes("unknown tool") && refused.replace(denied, "X") === unknown.replace("no_such__tool", "X"),
    `${refused} | ${unknown}`,
  );
  await client.close();
}

// Without the key: refused before anything is served.
const anonymous = new Client({ name: "ts-anonymous", version: "1.0.0" }, { capabilities: {} });
const refusal = await errorOf(anonymous.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp`))));
check("streamable-http", "no key, no session", /401|nauthori/.test(refusal), refusal);
