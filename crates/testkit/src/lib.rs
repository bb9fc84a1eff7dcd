//! Test kit for mcp-gateway: a configurable fixture MCP server (in-process over streamable
//! HTTP, or as the `mcp-fixture` binary over stdio/HTTP) and helpers for interop tests
//! against real, pinned MCP servers.
//!
//! # The fixture server
//!
//! [`FixtureServer`] (built on rmcp) offers, with [`FixtureOptions::tools_prefix`] prepended
//! to tool and prompt names:
//!
//! | tool | arguments | result |
//! |------|-----------|--------|
//! | `echo` | `{message}` | text = `message` |
//! | `add` | `{a, b}` (numbers) | text of the sum (`"5"`, `"0.75"`) |
//! | `slow` | `{ms}` | sleeps `ms`, then text `slept {ms}ms` (honours cancellation) |
//! | `fail` | `{message?}` | tool result with `isError: true` |
//! | `whoami` | `{}` | JSON object text of the HTTP request headers (lower-case names; `{}` over stdio) |
//! | `add_tool` | `{name?}` | adds tool `dynamic_N` (or `name`), sends `notifications/tools/list_changed`, text = new full name |
//! | `extra_1`…`extra_N` | `{}` | only with [`FixtureOptions::extra_tools`]; text = its name |
//! | `hidden` | `{message?}` | **never listed**, yet callable: text `hidden: <message>` (or `hidden`) |
//! | `structured` | `{value}` | **never listed**, yet callable: `structuredContent` is `value`, any JSON |
//!
//! Resource `fixture://readme` (text), template `fixture://items/{id}` (text `item <id>`),
//! prompt `greet {name}` (one user message `Hello, <name>!`); resource `fixture://hidden`
//! ([`HIDDEN_URI`]) and prompt `hidden` are **never listed**, yet readable (text and one
//! user message `hidden`); so is `fixture://private-counter` ([`PRIVATE_COUNTER_URI`]: text
//! `read <n>`, counting reads, marked private and fresh for a minute). Unknown tools/prompts are JSON-RPC `invalid_params` errors
//! (without `data`); unknown resources `resource_not_found` (-32002).
//! `resources/subscribe` accepts any URI, listed or not ([`FixtureServer::subscriptions`]).
//!
//! Both protocol eras are served (legacy `initialize` and 2026-07-28 `server/discover`)
//! unless [`FixtureOptions::legacy_only`]. Tool-list changes ([`FixtureServer::add_tool`],
//! or the `add_tool` tool) reach legacy sessions as unsolicited notifications and
//! 2026-07-28 clients through `subscriptions/listen`.
//!
//! # In-process over HTTP
//!
//! ```no_run
//! # async fn t() {
//! use mcp_gateway_testkit::{FixtureOptions, spawn_http};
//! let fixture = spawn_http(FixtureOptions::default().with_required_header("authorization", "Bearer t")).await;
//! let url = fixture.url(); // http://127.0.0.1:PORT/mcp ; 401 JSON without the header
//! // ... fixture.seen_headers(), fixture.server().add_tool(None).await, fixture.shutdown().await
//! # }
//! ```
//!
//! # The `mcp-fixture` binary
//!
//! `mcp-fixture [OPTIONS] stdio` serves on stdin/stdout (logs only to stderr);
//! `mcp-fixture [OPTIONS] http --listen 127.0.0.1:0` prints `listening on http://ADDR/mcp`
//! (stdout and stderr) and serves. Options: `--name`, `--prefix`, `--extra-tools N`,
//! `--page-size N`, `--legacy-only`, `--crash-after N` (answers N tool calls, then exits
//! with status 1 when the next one arrives), `--require-header K=V` (http). Log level: `MCP_FIXTURE_LOG` (an
//! `EnvFilter`, default `error`). Other crates find it with [`fixture_bin`].
//!
//! # Real peers (interop)
//!
//! CI installs pinned real servers: npm packages in `<repo>/tests/interop/node_modules`
//! (`npm ci` there) and PyPI packages in `<repo>/.venv` (`scripts/setup-interop.sh` does
//! both). [`npm_bin`] / [`python_bin`] locate them (`None` when absent). Interop tests use
//! [`npm_bin_or_skip`] / [`python_bin_or_skip`]: they skip when the peer is missing, but
//! panic when `MCP_GATEWAY_REQUIRE_INTEROP=1` (set by CI). See `tests/interop/README.md`
//! for how each peer is started.

pub mod conformance;
mod faulty;
mod harness;
mod http;
pub mod idp;
mod logs;
mod server;

pub use faulty::{FAULTY_TOOLS, FaultyHandle, spawn_faulty};
pub use harness::{
    REQUIRE_INTEROP_ENV, fixture_bin, free_port, interop_dir, interop_required, npm_bin,
    npm_bin_or_skip, python_bin, python_bin_or_skip, repo_root, wait_for_http,
};
pub use http::{
    FixtureHandle, MCP_PATH, router, serve_http, serve_stdio, spawn_http, spawn_http_server,
};
pub use logs::CapturedLogs;
pub use server::{
    CallHook, FixtureOptions, FixtureServer, HIDDEN_URI, ITEM_URI_TEMPLATE, PRIVATE_COUNTER_URI,
    README_URI,
};
