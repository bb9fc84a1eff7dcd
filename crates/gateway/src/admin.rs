//! The seed's REST API (`/mcp/servers`, `/mcp/tools`, `/mcp/resources`, `/mcp/prompts`,
//! `POST /mcp/tools/call`), the health routes and `/metrics`: handlers only. Routing, the Host/Origin
//! rule, the master key and limits are the front door's ([`crate::front`]).

pub mod audit;
mod body;
pub(crate) mod catalog;
pub(crate) mod credentials;
pub(crate) mod health;
pub(crate) mod keys;
pub(crate) mod metrics;
pub(crate) mod policies;
pub(crate) mod servers;

use crate::front::ApiError;

pub(crate) use body::body_error;
pub use body::{JsonBody, parse as parse_body};

#[cfg(test)]
mod tests;
