// Drives mcp-gateway's /mcp with the official TypeScript SDK (@modelcontextprotocol/sdk)
// and checks the relay through a server-everything upstream registered as `everything`.
// usage: node ts_relay.mjs URL [SERVER_ID] [--own-endpoint]
//   SERVER_ID: the names' prefix on the aggregate /mcp (default `everything`);
//   --own-endpoint: URL is that server's own endpoint (/mcp/servers/{id}/mcp), names unprefixed.
// Prints one line per check; exits 1 on failure.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";

const url = process.argv[2];
const ownEndpoint = process.argv.includes("--own-endpoint");
const P = ownEndpoint ? "" : `${process.argv[3] ?? "everything"}__`;

function check(name, ok, detail = "") {
  console.log(`${ok ? "ok" : "FAIL"} ts ${name} ${detail}`.trimEnd());
  if (!ok) process.exit(1);
}

const client = new Client(
  { name: "ts-relay", version: "1.0.0" },
  { capabilities: { sampling: {}, elicitation: {}, roots: { listChanged: true } } },
);
client.setRequestHandler(CreateMessageRequestSchema, async (req) => ({
  role: "assistant",
  model: "fake-llm",
  stopReason: "endTurn",
  content: { type: "text", text: `sampled: ${req.params.messages[0].content.text}` },
}));
client.setRequestHandler(ElicitRequestSchema, async () => ({
  action: "accept",
  content: { color: "green", firstLine: "gw", checkbox: true },
}));
client.setRequestHandler(ListRootsRequestSchema, async () => ({
  roots: [{ uri: "file:///tmp/ts-root", name: "ts-root" }],
}));
let listChanged = 0;
client.setNotificationHandler(ToolListChangedNotificationSchema, async () => {
  listChanged += 1;
});
const updated = [];
client.setNotificationHandler(ResourceUpdatedNotificationSchema, async (n) => {
  updated.push(n.params.uri);
});
const logged = [];
client.setNotificationHandler(LoggingMessageNotificationSchema, async (n) => {
  logged.push(n.params);
});

await client.connect(new StreamableHTTPClientTransport(new URL(url)));

const tools = (await client.listTools()).tools.map((t) => t.name);
check("tools listed", tools.includes(`${P}echo`), `(${tools.length} tools)`);

let r = await client.callTool({ name: `${P}echo`, arguments: { message: "hi" } });
check("tools/call", r.content[0].text === "Echo: hi");

const progress = [];
r = await client.callTool(
  { name: `${P}trigger-long-running-operation`, arguments: { duration: 1, steps: 3 } },
  undefined,
  { onprogress: (p) => progress.push(p.progress) },
);
check("progress relayed", progress.length >= 2, JSON.stringify(progress));

r = await client.callTool({ name: `${P}trigger-sampling-request`, arguments: { prompt: "2+2?" } });
let text = r.content.map((c) => c.text ?? "").join(" ");
check("sampling/createMessage routed back", text.includes("sampled:") && text.includes("2+2?"));

r = await client.callTool({ name: `${P}trigger-elicitation-request`, arguments: {} });
text = r.content.map((c) => c.text ?? "").join(" ");
check("elicitation/create routed back", text.includes("green"));

await client.sendRootsListChanged();
await new Promise((resolve) => setTimeout(resolve, 300));
r = await client.callTool({ name: `${P}get-roots-list`, arguments: {} });
text = r.content.map((c) => c.text ?? "").join(" ");
check("roots/list routed back", text.includes("ts-root"), text.slice(0, 80).replace(/\n/g, " "));

const resources = (await client.listResources()).resources;
const read = await client.readResource({ uri: resources[0].uri });
check("resources/read", read.contents.length === 1);

const templates = (await client.listResourceTemplates()).resourceTemplates;
check("resources/templates/list", templates.length >= 1);

const prompt = await client.getPrompt({ name: `${P}simple-prompt` });
check("prompts/get", prompt.messages.length >= 1);

const completion = await client.complete({
  ref: { type: "ref/prompt", name: `${P}completable-prompt` },
  argument: { name: "department", value: "E" },
});
check("completion/complete routed by ref", completion.completion.values.length >= 1, JSON.stringify(completion.completion.values));

await client.setLoggingLevel("debug");
check("logging/setLevel", true);
await client.ping();
check("ping", true);

// Subscriptions and log messages: server-everything sends them every 5 s once toggled, for
// the subscriptions of the session that toggled them. On the aggregate, a URI several
// servers list belongs to the first registered (the updates checked are that server's): run
// with --own-endpoint for the others.
const subscribed = resources[0].uri;
await client.subscribeResource({ uri: subscribed });
await client.callTool({ name: `${P}toggle-subscriber-updates`, arguments: {} });
await client.callTool({ name: `${P}toggle-simulated-logging`, arguments: {} });
for (let i = 0; i < 80 && (!updated.includes(subscribed) || logged.length === 0); i++) {
  await new Promise((resolve) => setTimeout(resolve, 100));
}
check("notifications/resources/updated relayed", updated.includes(subscribed), JSON.stringify(updated.slice(0, 2)));
check("notifications/message relayed", logged.length > 0, JSON.stringify(logged[0] ?? {}).slice(0, 80));
await client.unsubscribeResource({ uri: subscribed });
check("resources/unsubscribe", true);

await client.close();
