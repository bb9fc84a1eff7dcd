//! Benchmark harness for mcp-gateway (see `docs/BENCHMARKS.md`).
//!
//! * [`echo`] — the upstream under test: a minimal rmcp server with an `echo` tool (and,
//!   with `--extras`, a resource, a prompt and logging), served by the `mcp-bench-echo`
//!   binary over streamable HTTP or stdio;
//! * [`wire`] — JSON-RPC bodies and the parsing of JSON or SSE answers;
//! * [`load`] — the load generator: MCP streamable HTTP workers (session-based — plain,
//!   IDE-like or with a log level set — or stateless 2026-07-28) calling tools, reading a
//!   resource or getting a prompt, one keep-alive connection each, and a direct stdio client;
//! * [`conn`] — one HTTP/1.1 keep-alive connection per worker (no pool);
//! * [`relay`] — a bare TCP relay, the floor of any proxy's overhead;
//! * [`procs`] — the processes of a run: start, readiness, RSS, CPU time, shutdown;
//! * [`compare`] — the scenario runner behind `mcp-bench compare`;
//! * [`soak`] — many sessions with mixed calls for a while, watching memory and leaks.

pub mod compare;
pub mod conn;
pub mod echo;
pub mod load;
pub mod procs;
pub mod relay;
pub mod soak;
pub mod wire;
