//! `notifications/{tools,prompts,resources}/list_changed` for downstream clients, whenever
//! what their endpoint exposes really changes (a server registered or removed, an upstream
//! re-discovered with different content, an upstream lost or back) — not on every refresh.
//!
//! Session-based clients (≤ 2025-11-25) get them unsolicited after `initialize`;
//! 2026-07-28 clients ask for them with `subscriptions/listen`.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, Weak},
};

use rmcp::{
    model::{
        PromptListChangedNotification, ResourceListChangedNotification, ServerNotification,
        SubscriptionFilter, ToolListChangedNotification,
    },
    service::SubscriptionContext,
};

use super::view::Scope;
use crate::{
    client_peer::{ClientGone, ClientPeer},
    metrics::Metrics,
    registry::{Fingerprint, Registry},
};

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

/// How often the watcher drops sessions that ended without saying so (their handle would
/// otherwise keep the session's channels in memory).
const SESSION_CHECK: std::time::Duration = std::time::Duration::from_secs(10);

/// The session-based clients to notify, grouped by scope. One task for all of them watches
/// the registry and compares each scope's fingerprints once per change (a task, a timer and
/// a copy of the fingerprints per session cost memory and wake-ups for every idle session).
pub struct SessionWatch {
    state: Arc<Mutex<WatchState>>,
    metrics: Arc<Metrics>,
}

#[derive(Default)]
struct WatchState {
    /// Whether the watcher task runs.
    running: bool,
    /// Scope (`None`: the aggregate) → its sessions.
    groups: HashMap<Option<Arc<str>>, Group>,
}

struct Group {
    scope: Scope,
    /// The scope's fingerprints at the last change the watcher handled (or when the group
    /// was created): a session never misses a change made after it was added.
    last: Vec<(String, Fingerprint)>,
    sessions: HashMap<u64, ClientPeer>,
}

fn key(scope: &Scope) -> Option<Arc<str>> {
    match scope {
        Scope::All => None,
        Scope::Server(id) => Some(id.clone()),
    }
}

impl SessionWatch {
    /// No session watched yet; notifications sent are counted in `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            state: Arc::default(),
            metrics,
        }
    }

    /// Notifies session `session` (of `scope`) of list changes until it ends or is removed.
    pub fn add(&self, registry: &Arc<Registry>, scope: Scope, session: u64, peer: ClientPeer) {
        let mut state = lock(&self.state);
        state
            .groups
            .entry(key(&scope))
            .or_insert_with(|| Group {
                last: scope.fingerprint(&registry.snapshot()),
                scope,
                sessions: HashMap::new(),
            })
            .sessions
            .insert(session, peer);
        if !state.running {
            state.running = true;
            let metrics = self.metrics.clone();
            tokio::spawn(watch(
                registry.clone(),
                Arc::downgrade(&self.state),
                metrics,
            ));
        }
    }

    /// Forgets a session (it ended).
    pub fn remove(&self, session: u64) {
        let mut state = lock(&self.state);
        state.groups.retain(|_, group| {
            group.sessions.remove(&session);
            !group.sessions.is_empty()
        });
    }

    /// Number of sessions watched.
    pub fn len(&self) -> usize {
        lock(&self.state)
            .groups
            .values()
            .map(|g| g.sessions.len())
            .sum()
    }
}

fn lock(state: &Mutex<WatchState>) -> std::sync::MutexGuard<'_, WatchState> {
    // Every change leaves the state consistent, so a poisoned lock is still usable.
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// The watcher: ends when the gateway (its [`SessionWatch`]) is gone.
async fn watch(registry: Arc<Registry>, state: Weak<Mutex<WatchState>>, metrics: Arc<Metrics>) {
    let mut changes = registry.subscribe();
    let mut check = tokio::time::interval(SESSION_CHECK);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let changed = tokio::select! {
            changed = changes.changed() => {
                if changed.is_err() { return }
                true
            }
            _ = check.tick() => false,
        };
        let Some(state) = state.upgrade() else { return };
        let mut sends = Vec::new();
        {
            let mut state = lock(&state);
            let snapshot = changed.then(|| registry.snapshot());
            state.groups.retain(|_, group| {
                group.sessions.retain(|_, peer| !peer.is_closed());
                if let Some(snapshot) = &snapshot {
                    let now = group.scope.fingerprint(snapshot);
                    let changed = diff(&group.last, &now);
                    group.last = now;
                    if changed != Changed::default() {
                        let changed = Arc::new(changed);
                        sends.extend(
                            group
                                .sessions
                                .values()
                                .map(|peer| (peer.clone(), changed.clone())),
                        );
                    }
                }
                !group.sessions.is_empty()
            });
        }
        if !sends.is_empty() {
            // Concurrently, and off the watcher: a slow session must not hold up the others.
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let metrics = &metrics;
                let sends = sends
                    .into_iter()
                    .map(|(peer, changed)| async move { notify(&peer, &changed, metrics).await });
                futures::future::join_all(sends).await;
            });
        }
    }
}

async fn notify(peer: &ClientPeer, changed: &Changed, metrics: &Metrics) -> Result<(), ClientGone> {
    for (list, notification) in notifications(changed) {
        peer.notify(notification).await?;
        metrics.list_changed_sent(list);
    }
    Ok(())
}

/// The notifications that tell a client what changed, each with the list it is about.
fn notifications(changed: &Changed) -> Vec<(&'static str, ServerNotification)> {
    let mut notifications = Vec::new();
    if changed.tools {
        notifications.push((
            "tools",
            ServerNotification::ToolListChangedNotification(ToolListChangedNotification::default()),
        ));
    }
    if changed.prompts {
        notifications.push((
            "prompts",
            ServerNotification::PromptListChangedNotification(
                PromptListChangedNotification::default(),
            ),
        ));
    }
    if changed.resources {
        notifications.push((
            "resources",
            ServerNotification::ResourceListChangedNotification(
                ResourceListChangedNotification::default(),
            ),
        ));
    }
    notifications
}

/// Serves one `subscriptions/listen` stream until the client ends it.
pub async fn serve_subscription(
    registry: Arc<Registry>,
    scope: Scope,
    context: SubscriptionContext,
    metrics: &Metrics,
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
        let mut changed = diff(&last, &now);
        last = now;
        changed.tools &= accepted.tools_list_changed == Some(true);
        changed.prompts &= accepted.prompts_list_changed == Some(true);
        changed.resources &= accepted.resources_list_changed == Some(true);
        for (list, notification) in notifications(&changed) {
            if context.sink().send(notification).await.is_err() {
                return;
            }
            metrics.list_changed_sent(list);
        }
    }
}
