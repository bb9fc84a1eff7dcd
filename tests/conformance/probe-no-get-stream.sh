#!/usr/bin/env bash
# Reproducer for README.md finding G5: a client that never opens the optional standalone
# GET stream calls test_sampling and reads the SSE response of its tools/call POST for 4 s.
#
#   tests/conformance/probe-no-get-stream.sh URL
#
# URL: the gateway's /mcp/servers/conf/mcp (conformance fixture behind it), or the fixture's
# own /mcp for the reference answer. Straight from the fixture, the POST stream carries the
# fixture's sampling/createMessage request; through the gateway it carries nothing (the
# request goes to the standalone stream, which this client does not have, and the call
# hangs).
set -euo pipefail
URL=${1:?usage: probe-no-get-stream.sh URL}
H=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream')
SID=$(curl -fsS -D - -o /dev/null "${H[@]}" "$URL" \
  -d '{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"sampling":{}},"clientInfo":{"name":"no-get-stream","version":"0"}}}' |
  tr -d '\r' | awk -F': ' 'tolower($1) == "mcp-session-id" { print $2 }')
H+=(-H "Mcp-Session-Id: $SID" -H 'MCP-Protocol-Version: 2025-11-25')
curl -fsS -o /dev/null "${H[@]}" "$URL" -d '{"jsonrpc":"2.0","method":"notifications/initialized"}'
echo "session $SID: POST tools/call test_sampling; messages on its stream within 4 s:"
# curl ends with status 28 (time-out): the call is still open after 4 s either way.
out=$(curl -sS -N --max-time 4 "${H[@]}" "$URL" \
  -d '{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"test_sampling","arguments":{"prompt":"hi"}}}' \
  2>/dev/null || true)
grep '^data: {' <<<"$out" || echo "(none)"
