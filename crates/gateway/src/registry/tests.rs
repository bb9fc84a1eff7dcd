use std::sync::Arc;

use rmcp::model::Tool;

use super::*;

fn record(id: &str, tools: &[&str]) -> ServerRecord {
    let mut r: ServerRecord = serde_json::from_value(
        serde_json::json!({"server_id": id, "url": "http://127.0.0.1:1/mcp"}),
    )
    .unwrap();
    r.tools = tools.iter().map(|s| s.to_string()).collect();
    r.validate(crate::model::RegistrationPolicy::TRUSTED)
        .unwrap();
    r
}

fn tool(name: &str) -> Tool {
    Tool::new(name.to_owned(), "d", Arc::new(serde_json::Map::new()))
}

#[test]
fn insert_rejects_duplicates_and_remove_unknown() {
    let reg = Registry::new(Naming::default());
    reg.insert(record("a", &[]), Source::Api).unwrap();
    assert_eq!(
        reg.insert(record("a", &[]), Source::Api).unwrap_err(),
        RegistryError::Duplicate("a".into())
    );
    assert!(reg.remove("zz").is_err());
    reg.remove("a").unwrap();
    assert!(reg.snapshot().servers.is_empty());
}

#[test]
fn catalog_updates_routes_and_respects_allowlist() {
    let reg = Registry::new(Naming::default());
    let entry = reg
        .insert(record("a", &["search", "gone"]), Source::Config)
        .unwrap();
    let catalog = Catalog {
        tools: vec![tool("search"), tool("hidden")],
        ..Default::default()
    };
    assert!(reg.set_catalog("a", &entry.runtime, catalog));
    let snap = reg.snapshot();
    let (server, route) = snap.route_tool("a__search").unwrap();
    assert_eq!(server.record.server_id, "a");
    assert_eq!(&*route.upstream_name, "search");
    assert!(
        snap.route_tool("a__hidden").is_none(),
        "not in the allowlist"
    );
    let a = snap.servers.get("a").unwrap();
    assert_eq!(a.missing_tools().collect::<Vec<_>>(), ["gone"]);
}

#[test]
fn stale_runtime_cannot_overwrite_a_replacement() {
    let reg = Registry::new(Naming::default());
    let old = reg.insert(record("a", &[]), Source::Api).unwrap();
    let (_, new) = reg.replace(record("a", &[]), Source::Api).unwrap();
    let catalog = Catalog {
        tools: vec![tool("t")],
        ..Default::default()
    };
    assert!(!reg.set_catalog("a", &old.runtime, catalog.clone()));
    assert!(reg.snapshot().route_tool("a__t").is_none());
    assert!(reg.set_catalog("a", &new.runtime, catalog));
    assert!(reg.snapshot().route_tool("a__t").is_some());
}
