//! The client-side handler of an upstream session: it receives the upstream's
//! notifications and tells the supervisor about the ones that matter.

use rmcp::{
    ClientHandler,
    model::{ClientCapabilities, ClientConfig, Implementation},
    service::{NotificationContext, RoleClient},
};
use tokio::sync::mpsc;

/// What an upstream told us that the supervisor acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamEvent {
    /// tools, resources or prompts changed: discover again.
    ListChanged,
}

/// Handler for one upstream session.
#[derive(Clone)]
pub struct UpstreamHandler {
    server_id: String,
    events: mpsc::Sender<UpstreamEvent>,
}

impl UpstreamHandler {
    pub fn new(server_id: impl Into<String>, events: mpsc::Sender<UpstreamEvent>) -> Self {
        Self {
            server_id: server_id.into(),
            events,
        }
    }

    fn list_changed(&self, what: &'static str) {
        tracing::debug!(upstream = %self.server_id, what, "upstream list changed");
        // A full channel already holds a pending rediscovery, which covers this one.
        let _ = self.events.try_send(UpstreamEvent::ListChanged);
    }
}

impl ClientHandler for UpstreamHandler {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.list_changed("tools");
    }

    async fn on_resource_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.list_changed("resources");
    }

    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.list_changed("prompts");
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("mcp-gateway", env!("CARGO_PKG_VERSION")),
        )
    }
}
