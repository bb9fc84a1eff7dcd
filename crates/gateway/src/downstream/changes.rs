//! `notifications/{tools,prompts,resources}/list_changed` for downstream clients, whenever
//! what their endpoint exposes really changes (a server registered or removed, an upstream
//! re-discovered with different content, an upstream lost or back) — not on every refresh.
//!
//! Session-based clients (≤ 2025-11-25) get them unsolicited after `initialize`;
//! 2026-07-28 clients ask for them with `subscriptions/listen`.

use std::sync::Arc;

use rmcp::{
    Peer, RoleServer,
    model::{
        PromptListChangedNotification, ResourceListChangedNotification, ServerNotification,
        SubscriptionFilter, ToolListChangedNotification,
    },
    service::SubscriptionContext,
};

use super::view::Scope;
use crate::registry::{Fingerprint, Registry};

/// The list-changed notifications the gateway offers.
pub fn offered_filter() -> SubscriptionFilter {
    SubscriptionFilter::builder()
        .tools_list_changed()
        .prompts_list_changed()
        .resources_list_changed()
        .build()
}

/// Which lists differ between two fingerprints of a scope.
#[derive(Debug, Default, PartialEq, Eq)]
struct Changed {
    tools: bool,
    prompts: bool,
    resources: bool,
}

fn diff(before: &[(String, Fingerprint)], after: &[(String, Fingerprint)]) -> Changed {
    let project = |list: &[(String, Fingerprint)], f: fn(&Fingerprint) -> u64| {
        list.iter()
            .map(|(id, fp)| (id.clone(), f(fp)))
            .filter(|(_, h)| *h != EMPTY)
            .collect::<Vec<_>>()
    };
    Changed {
        tools: project(before, |f| f.tools) != project(after, |f| f.tools),
        prompts: project(before, |f| f.prompts) != project(after, |f| f.prompts),
        resources: project(before, |f| f.resources) != project(after, |f| f.resources),
    }
}

/// The fingerprint of an empty list (see `registry::Fingerprint`): a server that exposes
/// nothing, such as one still connecting, does not count as a change.
const EMPTY: u64 = 0;

/// How often a session's watcher checks that its session still exists.
const SESSION_CHECK: std::time::Duration = std::time::Duration::from_secs(10);

/// Watches the registry for one session and notifies it; ends with the session.
pub fn spawn_session_notifier(registry: Arc<Registry>, scope: Scope, peer: Peer<RoleServer>) {
    tokio::spawn(async move {
        let mut changes = registry.subscribe();
        let mut last = scope.fingerprint(&registry.snapshot());
        loop {
            // The task holds the session's handle: look for its end regularly too, or a
            // closed session would stay in memory until the registry next changes.
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { break },
                () = tokio::time::sleep(SESSION_CHECK) => {
                    if peer.is_transport_closed() { break }
                    continue;
                }
            }
            if peer.is_transport_closed() {
                break;
            }
            let now = scope.fingerprint(&registry.snapshot());
            let changed = diff(&last, &now);
            last = now;
            let sent = async {
                if changed.tools {
                    peer.notify_tool_list_changed().await?;
                }
                if changed.prompts {
                    peer.notify_prompt_list_changed().await?;
                }
                if changed.resources {
                    peer.notify_resource_list_changed().await?;
                }
                Ok::<_, rmcp::ServiceError>(())
            };
            if sent.await.is_err() {
                break;
            }
        }
    });
}

/// Serves one `subscriptions/listen` stream until the client ends it.
pub async fn serve_subscription(
    registry: Arc<Registry>,
    scope: Scope,
    context: SubscriptionContext,
) {
    let mut changes = registry.subscribe();
    let mut last = scope.fingerprint(&registry.snapshot());
    let accepted = context.accepted().clone();
    loop {
        tokio::select! {
            () = context.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
        }
        let now = scope.fingerprint(&registry.snapshot());
        let changed = diff(&last, &now);
        last = now;
        let mut notifications = Vec::new();
        if changed.tools && accepted.tools_list_changed == Some(true) {
            notifications.push(ServerNotification::ToolListChangedNotification(
                ToolListChangedNotification::default(),
            ));
        }
        if changed.prompts && accepted.prompts_list_changed == Some(true) {
            notifications.push(ServerNotification::PromptListChangedNotification(
                PromptListChangedNotification::default(),
            ));
        }
        if changed.resources && accepted.resources_list_changed == Some(true) {
            notifications.push(ServerNotification::ResourceListChangedNotification(
                ResourceListChangedNotification::default(),
            ));
        }
        for notification in notifications {
            if context.sink().send(notification).await.is_err() {
                return;
            }
        }
    }
}
