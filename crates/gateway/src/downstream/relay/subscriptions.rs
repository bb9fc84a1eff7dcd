//! Resource subscriptions: one upstream subscription per URI on a shared session, however
//! many sessions follow it; a client with upstream sessions of its own subscribes there.

// Logging and legacy subscriptions are deprecated by SEP-2577 but still part of every
// protocol revision the gateway relays.
#![allow(deprecated)]

use rmcp::{
    ErrorData as McpError,
    model::{RequestId, SubscribeRequestParams, UnsubscribeRequestParams},
};

use super::{Call, Relay, upstream_session::Upstream};
use crate::{
    access::Admission, client_peer::ClientPeer, downstream::owned::ClientSession, upstream::Client,
};

impl Relay {
    /// `resources/subscribe`: `resources/updated` for `uri` reaches this session from now on.
    pub async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        call: &Call,
    ) -> Result<(), McpError> {
        let uri = request.uri.clone();
        let client = self.client(call).clone();
        self.subscribe_upstream(request, call).await?;
        client.note_subscription(&uri, true);
        Ok(())
    }

    /// `resources/unsubscribe`.
    pub async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        call: &Call,
    ) -> Result<(), McpError> {
        let uri = request.uri.clone();
        let client = self.client(call).clone();
        self.unsubscribe_upstream(request, call).await?;
        client.note_subscription(&uri, false);
        Ok(())
    }
}

impl Relay {
    /// `resources/subscribe` relayed upstream.
    async fn subscribe_upstream(
        &self,
        request: SubscribeRequestParams,
        call: &Call,
    ) -> Result<(), McpError> {
        // A client with upstream sessions of its own subscribes on its own session, where
        // whatever else it does with that server happens (server-everything, say, starts
        // sending updates when that session calls a tool); the updates come to it alone.
        let (upstream, mut admitted) = self
            .subscription_upstream(&request.uri, "resources/subscribe", call)
            .await?;
        if upstream.is_owned() {
            let (_call, _) = self.begin(&upstream.calls, call, None);
            let subscribed = Self::relay(
                &upstream.entry,
                &admitted.clock(),
                upstream.peer.subscribe(request),
            )
            .await;
            return admitted.track(subscribed);
        }
        let Upstream { entry, peer, .. } = upstream;
        let uri = request.uri.clone();
        self.holds_state();
        // One upstream subscription per URI, however many sessions follow it.
        if entry.runtime.calls.subscribers(&uri).is_empty() {
            let (_call, _) = self.begin(&entry.runtime.calls, call, None);
            admitted
                .track(Self::relay(&entry, &admitted.clock(), peer.subscribe(request)).await)?;
        } else {
            admitted.track(Ok::<_, McpError>(()))?;
        }
        // Updates come after the request: to the session, not the request's stream.
        let client = Client {
            session: self.session,
            peer: call.peer.session(),
            request: None,
        };
        entry.runtime.calls.subscribe(&uri, client);
        Ok(())
    }

    /// The upstream session a subscription of this client to `uri` goes on: that of its
    /// other requests to the resource's server, except that a plain client's goes on a
    /// session of its own when the shared one speaks 2026-07-28, which has no
    /// `resources/subscribe` (the client's own session is a session-era one where the
    /// upstream offers one, as it would be directly).
    async fn subscription_upstream(
        &self,
        uri: &str,
        method: &'static str,
        call: &Call,
    ) -> Result<(Upstream, Admission), McpError> {
        let snapshot = self.catalog().await;
        let (entry, admitted) = self.resource_owner(&snapshot, uri, method, &call.access)?;
        let upstream = self.upstream(entry.clone(), call).await?;
        let session_era = !crate::upstream::is_stateless(&upstream.peer);
        if upstream.is_owned() || session_era || call.stateless {
            return Ok((upstream, admitted));
        }
        let limit = self.gateway.settings.max_client_processes_per_server;
        let owned = self.client(call).upstream(&entry, limit).await?;
        Ok((Upstream::owned(entry, owned), admitted))
    }

    /// Follows again the resources a session rebuilt from its record had subscribed to
    /// (another replica served it, or this process lost it): `resources/updated` for
    /// them comes here now. A resource that can no longer be subscribed to (its server
    /// is gone) is dropped from the record.
    pub(super) async fn resubscribe(
        &self,
        client: &ClientSession,
        followed: Vec<String>,
        peer: ClientPeer,
    ) {
        let owner = client.owner().unwrap_or_default();
        for (n, uri) in followed.into_iter().enumerate() {
            let call = Call {
                access: self.gateway.access_of(&owner),
                id: RequestId::String(format!("gw-resubscribe-{n}").into()),
                capabilities: peer.capabilities().unwrap_or_default(),
                peer: peer.clone(),
                meta: Default::default(),
                cancelled: Default::default(),
                stateless: false,
            };
            let params = SubscribeRequestParams::new(uri.clone());
            if let Err(e) = self.subscribe_upstream(params, &call).await {
                tracing::info!(%uri, error = %e.message, "a recorded subscription could not be taken up again");
                client.note_subscription(&uri, false);
            }
        }
    }

    /// `resources/unsubscribe` relayed upstream.
    async fn unsubscribe_upstream(
        &self,
        request: UnsubscribeRequestParams,
        call: &Call,
    ) -> Result<(), McpError> {
        let (upstream, mut admitted) = self
            .subscription_upstream(&request.uri, "resources/unsubscribe", call)
            .await?;
        if upstream.is_owned() {
            let (_call, _) = self.begin(&upstream.calls, call, None);
            let unsubscribed = Self::relay(
                &upstream.entry,
                &admitted.clock(),
                upstream.peer.unsubscribe(request),
            )
            .await;
            return admitted.track(unsubscribed);
        }
        let Upstream { entry, peer, .. } = upstream;
        if entry.runtime.calls.unsubscribe(&request.uri, self.session) {
            // Other sessions still follow this resource.
            return admitted.track(Ok(()));
        }
        let (_call, _) = self.begin(&entry.runtime.calls, call, None);
        admitted.track(Self::relay(&entry, &admitted.clock(), peer.unsubscribe(request)).await)
    }
}
