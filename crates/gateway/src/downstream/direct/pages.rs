//! The aggregate's `tools/list` pages, serialised once per snapshot for the direct lane.

use bytes::Bytes;

use super::super::view::page_where;
use crate::{protocol::without_result_type, registry::SerializedPages};

/// Every `tools/list` page of the aggregate, as the relay's `list_tools` builds them.
pub(super) fn serialise_tool_pages(snapshot: &crate::registry::Snapshot) -> SerializedPages {
    let mut pages = SerializedPages::default();
    let mut cursor: Option<String> = None;
    loop {
        let shown = |r: &crate::registry::Route<rmcp::model::Tool>| !snapshot.asking_only(r);
        let Ok((tools, next)) = page_where(&snapshot.tools, cursor.as_deref(), shown, |r| {
            (*r.item).clone()
        }) else {
            break; // our own cursors always decode
        };
        let mut result = rmcp::model::ListToolsResult::with_all_items(tools);
        result.next_cursor = next.clone();
        // As rmcp answers each era: a session-era result without `resultType`; a
        // 2026-07-28 one with it and the default cache hints.
        let Ok(raw) = serde_json::value::to_raw_value(&result) else {
            break;
        };
        let mut session_era = Vec::with_capacity(raw.get().len());
        without_result_type(&raw, &mut session_era);
        let mut stateless = rmcp::model::ServerResult::ListToolsResult(result);
        stateless.fill_missing_cache_hints();
        let Ok(stateless) = serde_json::to_vec(&stateless) else {
            break;
        };
        pages.by_cursor.insert(cursor, pages.pages.len());
        pages
            .pages
            .push((Bytes::from(session_era), Bytes::from(stateless)));
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    pages
}
