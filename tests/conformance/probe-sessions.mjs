// Reproducer for two gateway findings the suite's checks do not catch (README.md, G2/G3):
// two client sessions on one endpoint, A at log level `debug`, B at `error`.
//
//   node probe-sessions.mjs URL      (URL: the gateway's /mcp/servers/conf/mcp, or the
//                                     fixture's own /mcp for the reference answer)
//
// Prints what each session received. Straight from the conformance fixture, A gets the
// fixture's answers to setLevel and subscribe ("Log level set to: debug", "Subscribed to
// resource: …"), the three messages of test_tool_with_logging, and one
// notifications/resources/updated; B gets no message (it asked for `error` only).
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema
} from '@modelcontextprotocol/sdk/types.js';

const url = process.argv[2];
if (!url) {
  console.error('usage: node probe-sessions.mjs URL');
  process.exit(2);
}
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function connect(name) {
  const client = new Client({ name, version: '1' }, { capabilities: {} });
  const logs = [];
  const updates = [];
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) =>
    logs.push(n.params.data)
  );
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) =>
    updates.push(n.params.uri)
  );
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  return { client, logs, updates };
}

const a = await connect('probe-a');
const b = await connect('probe-b');
await a.client.setLoggingLevel('debug');
await b.client.setLoggingLevel('error');
await a.client.subscribeResource({ uri: 'test://watched-resource' });
await sleep(300);
await a.client.callTool({ name: 'test_tool_with_logging', arguments: {} });
await sleep(200);
console.log(
  JSON.stringify({ a: { logs: a.logs, updates: a.updates }, b: { logs: b.logs } }, null, 2)
);
await a.client.close();
await b.client.close();
