//! mcp-gateway: one MCP endpoint in front of many MCP servers.
//!
//! The library holds nearly all of the gateway; the `mcp-gateway` binary only parses the
//! command line, installs logging and signal handling, and calls [`app::run`].
//!
//! Layout by concern:
//! * [`model`] — the server record an operator writes (REST body or YAML entry) and its validation;
//! * [`protocol`] — MCP protocol facts used in several places: eras, header and `_meta` names,
//!   `resultType` fix-ups;
//! * [`config`] — the YAML file, `${VAR}` substitution and the environment;
//! * [`registry`] — the immutable snapshot of servers, catalogs and routes, swapped atomically;
//! * [`client_peer`] — how the gateway reaches a downstream client (notifications, requests);
//! * [`upstream`] — connections to upstream MCP servers over the three transports, supervised;
//! * [`store`] — persistence of API-registered servers (memory, SQLite, Postgres);
//! * [`front`] — the front door: routing, the Host/Origin rule, authentication, limits and
//!   the error→status mapping, for every route;
//! * [`access`] — caller identities (master key, API keys) and what each may reach;
//! * [`metrics`] — Prometheus metrics: per-call meters, state read at scrape time;
//! * [`admin`] — the handlers of the seed's REST API and the health routes;
//! * [`downstream`] — the MCP endpoints (`/mcp`, `/mcp/servers/{id}/mcp`) clients talk to;
//! * [`app`] — wiring, listening and shutdown.

pub mod access;
pub mod admin;
pub mod app;
pub mod client_peer;
pub mod config;
pub mod downstream;
pub mod front;
#[doc(hidden)]
pub mod fuzzing;
pub mod gateway;
pub mod metrics;
pub mod model;
pub mod protocol;
pub mod registry;
pub mod secret;
pub mod store;
pub mod upstream;
