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

#[test]
fn unchanged_catalogs_publish_nothing() {
    let reg = Registry::new(Naming::default());
    let changes = reg.subscribe();
    let entry = reg.insert(record("a", &[]), Source::Api).unwrap();
    let catalog = Catalog {
        tools: vec![tool("t")],
        ..Default::default()
    };
    assert!(reg.set_catalog("a", &entry.runtime, catalog.clone()));
    let before = reg.snapshot();
    let generation = *changes.borrow();
    // A refresh with the same content: same snapshot, no wake-up.
    assert!(reg.set_catalog("a", &entry.runtime, catalog));
    assert!(Arc::ptr_eq(&before, &reg.snapshot()));
    assert_eq!(*changes.borrow(), generation);
    // A lost upstream clears its catalog: that is a change.
    assert!(reg.set_catalog("a", &entry.runtime, Catalog::default()));
    assert!(reg.snapshot().route_tool("a__t").is_none());
    assert_eq!(*changes.borrow(), generation + 1);
}

#[test]
fn servers_that_offer_nothing_share_the_routing_tables() {
    let reg = Registry::new(Naming::default());
    let a = reg.insert(record("a", &[]), Source::Api).unwrap();
    let catalog = Catalog {
        tools: vec![tool("t")],
        ..Default::default()
    };
    assert!(reg.set_catalog("a", &a.runtime, catalog.clone()));
    let before = reg.snapshot();
    // Registering (not yet discovered) and removing an empty server keep the tables.
    reg.insert(record("b", &[]), Source::Api).unwrap();
    let during = reg.snapshot();
    assert!(Arc::ptr_eq(&before.tools, &during.tools));
    assert_eq!(during.servers.len(), 2);
    reg.remove("b").unwrap();
    assert!(Arc::ptr_eq(&before.tools, &reg.snapshot().tools));
    // A server whose catalog changes rebuilds them.
    let b = reg.insert(record("b", &[]), Source::Api).unwrap();
    assert!(reg.set_catalog("b", &b.runtime, catalog));
    let after = reg.snapshot();
    assert!(!Arc::ptr_eq(&before.tools, &after.tools));
    assert!(after.route_tool("b__t").is_some() && after.route_tool("a__t").is_some());
    // So does replacing one that offers something (its allowlist may differ).
    reg.replace(record("a", &["other"]), Source::Api).unwrap();
    assert!(reg.snapshot().route_tool("a__t").is_none());
}

#[test]
fn the_first_registered_server_keeps_a_duplicated_key() {
    let reg = Registry::new(Naming::default());
    // "a" + "__" + "_b" and "a_" + "__" + "b" are both "a___b"; both offer one URI.
    let a = reg.insert(record("a", &[]), Source::Api).unwrap();
    let a_ = reg.insert(record("a_", &[]), Source::Api).unwrap();
    let catalog = |tool_name: &str| Catalog {
        tools: vec![tool(tool_name), tool("z")],
        resources: vec![rmcp::model::Resource::new("same://uri", "r")],
        ..Default::default()
    };
    // Discovered in the opposite order of registration: registration order decides.
    assert!(reg.set_catalog("a_", &a_.runtime, catalog("b")));
    assert!(reg.set_catalog("a", &a.runtime, catalog("_b")));
    let snap = reg.snapshot();
    let (server, route) = snap.route_tool("a___b").unwrap();
    assert_eq!(server.record.server_id, "a");
    assert_eq!(&*route.upstream_name, "_b");
    assert_eq!(&*snap.resources["same://uri"].server_id, "a");
    assert_eq!(
        snap.tools.keys().collect::<Vec<_>>(),
        ["a___b", "a___z", "a__z"]
    );
}
